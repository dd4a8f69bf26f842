"""Run a job's batches on a Ray cluster with Ray Data (``executor="ray"``).

The driver puts each source batch into the cluster's object store as it is read (so the
driver's own memory holds one batch at a time), and Ray Data maps them with a pool of actors:
each actor is a copy of the transform, started once (a model loads once per actor) and then
given whole batches (``batch_format="pyarrow"``, one output table per input batch, in input
order). A transform that asks for GPUs (``transform.num_gpus``) gets actors with that many GPUs
each. The output tables come back to the driver, which checks and commits them as it would a
local run's: where a batch ran never changes what the run writes.

Workers report their metrics and log lines to a small collector actor after every batch; the
driver merges the metrics into its own transform (``merge_metrics``) and appends the log
lines to the run's log.

>>> from raise_.jobs.ray_executor import RayExecutor
>>> RayExecutor(num_cpus=2, workers=2)                               # doctest: +SKIP
RayExecutor(address=None, num_cpus=2, workers=2)
"""
from __future__ import annotations

import os
import uuid
from typing import Any, Iterable, Iterator, Mapping

import pyarrow as pa

from grammar.errors import ExecutionError, RaiseError, Unsupported
from raise_.jobs.base import BatchTransform, Executor, RunContext

NO_RAY = "RAISE-U550"
RAY_FAILED = "RAISE-X550"


class RayExecutor(Executor):
    """Runs a job's batches on Ray: the cluster at ``address`` (``"auto"``, ``ray://host:port``),
    else the one this process is connected to, else a new local cluster of ``num_cpus`` CPUs.

    ``workers`` caps the actor pool (default: as many actors as the cluster's CPUs, or GPUs for
    a GPU transform, allow); ``cpus_per_worker`` is what each actor reserves; ``runtime_env``
    is passed to ``ray.init`` for a remote cluster that lacks Raise's packages."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, *,
                 workers: int | None = None, cpus_per_worker: float = 1.0,
                 runtime_env: Mapping[str, Any] | None = None) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.workers = workers
        self.cpus_per_worker = cpus_per_worker
        self.runtime_env = dict(runtime_env) if runtime_env else None

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, num_cpus={self.num_cpus!r}, workers={self.workers!r})"

    def map_batches(self, transform: BatchTransform, context: RunContext,
                    batches: Iterable[pa.Table]) -> Iterator[pa.Table]:
        ray = self._connect()
        refs = [ray.put(batch) for batch in batches if batch.num_rows]
        if not refs:
            return
        collector = ray.remote(num_cpus=0)(_Collector).remote()
        try:
            dataset = ray.data.from_arrow_refs(refs).map_batches(
                _Worker, fn_constructor_args=(transform, context, collector), batch_format="pyarrow",
                batch_size=None, compute=ray.data.ActorPoolStrategy(min_size=1, max_size=self._pool_size(ray, transform)),
                num_cpus=self.cpus_per_worker, num_gpus=transform.num_gpus or None)
            dataset.context.execution_options.preserve_order = True
            dataset.context.enable_progress_bars = False
            yield from _results(ray, transform, dataset, collector)
            metrics, logs = ray.get(collector.collected.remote())
        finally:
            ray.kill(collector)
        context.logs.extend(logs)
        merge = getattr(transform, "merge_metrics", None)
        if metrics and merge is not None:
            merge(metrics)

    def _connect(self):
        try:
            import ray
            import ray.data
        except ImportError:
            raise Unsupported("executor 'ray' needs Ray Data: pip install 'ray[data]'", code=NO_RAY,
                              name="ray") from None
        if not ray.is_initialized():
            ray.init(address=self.address, num_cpus=self.num_cpus, include_dashboard=False,
                     runtime_env=self.runtime_env, log_to_driver=False, configure_logging=False)
        return ray

    def _pool_size(self, ray, transform: BatchTransform) -> int:
        if self.workers is not None:
            return self.workers
        resources = ray.cluster_resources()
        if transform.num_gpus:
            return max(1, int(resources.get("GPU", 0) // transform.num_gpus))
        return max(1, int(resources.get("CPU", os.cpu_count() or 1) // self.cpus_per_worker))


def _results(ray, transform: BatchTransform, dataset, collector) -> Iterator[pa.Table]:
    """The dataset's output tables. Ray Data does not carry a worker's exception to the driver,
    so the worker reports it first: a RaiseError the transform raised arrives as itself, any
    other failure as an ExecutionError naming the transform, never as Ray's wrapper."""
    try:
        yield from dataset.iter_batches(batch_format="pyarrow", batch_size=None)
    except ray.exceptions.RayError as error:
        failure = ray.get(collector.failure.remote())
        if isinstance(failure, RaiseError):
            raise failure from None
        raise ExecutionError(f"transform {transform.name!r} failed on the Ray cluster: "
                             f"{failure or str(error).splitlines()[0]}", code=RAY_FAILED,
                             name=transform.name) from None


class _Worker:
    """One actor of the pool: a started copy of the transform."""

    def __init__(self, transform: BatchTransform, context: RunContext, collector) -> None:
        self.transform, self.context, self.collector = transform, context, collector
        self.id = uuid.uuid4().hex
        self.logged = len(context.logs)
        transform.start(context)

    def __call__(self, batch: pa.Table) -> pa.Table:
        import ray

        try:
            output = self.transform.transform_batch(self.context, batch)
        except Exception as error:  # reported as it is, then left to Ray to fail the dataset
            reported = error if isinstance(error, RaiseError) else f"{type(error).__name__}: {error}"
            ray.get(self.collector.fail.remote(reported))
            raise
        logs, self.logged = self.context.logs[self.logged:], len(self.context.logs)
        # Waited for, so that everything is collected once the last output reaches the driver.
        ray.get(self.collector.report.remote(self.id, self.transform.metrics(), logs))
        return output


class _Collector:
    """Latest metrics per worker, the log lines of all of them, and the first failure (run as
    a Ray actor)."""

    def __init__(self) -> None:
        self.metrics: dict[str, Any] = {}
        self.logs: list[str] = []
        self.first_failure: RaiseError | str | None = None

    def report(self, worker: str, metrics: Mapping[str, Any] | None, logs: list[str]) -> None:
        if metrics is not None:
            self.metrics[worker] = metrics
        self.logs.extend(logs)

    def fail(self, failure: RaiseError | str) -> None:
        if self.first_failure is None:
            self.first_failure = failure

    def failure(self) -> RaiseError | str | None:
        return self.first_failure

    def collected(self) -> tuple[list[Mapping[str, Any]], list[str]]:
        return list(self.metrics.values()), self.logs
