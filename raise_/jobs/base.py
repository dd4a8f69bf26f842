"""What a job's batch transforms and its executors agree on.

A job reads its sources as a stream of Arrow tables (one per batch). A SQL transform is
planned by the engine over the whole stream; every other transform (a Python function, a
model) is a :class:`BatchTransform` that maps one batch to one table, and an
:class:`Executor` decides where the batches run: in this process, or on a Ray cluster.
Whatever the executor, the driver collects the output, checks it and commits the write and
the checkpoint once, so where a batch ran never changes what a run writes.
"""
from __future__ import annotations

import importlib
from contextvars import ContextVar
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Mapping

import pyarrow as pa

from grammar.errors import ValidationError

UNKNOWN_EXECUTOR = "RAISE-V500"

#: Executors other than the local one, by name: module and class, imported when first asked
#: for so that a job that runs locally never imports a cluster client.
EXECUTORS = {"ray": ("raise_.jobs.ray_executor", "RayExecutor")}

#: Catalog writes a source asks for while a run reads it (a multimodal source registering the
#: references it found), held until the run's own write has committed: a run that fails
#: afterwards (a check, a transform, the write) leaves the catalog as it was. None outside a run.
AFTER_WRITE: ContextVar[list | None] = ContextVar("raise_job_after_write", default=None)


def after_write(action) -> None:
    """Run ``action`` once the current run has written (now, outside a run)."""
    pending = AFTER_WRITE.get()
    if pending is None:
        action()
    else:
        pending.append(action)


@dataclass(slots=True)
class RunContext:
    """What a transform knows of the run it is part of."""

    job: str
    run_id: str
    execution_date: datetime
    checkpoint: Any = None
    logs: list[str] = field(default_factory=list)

    def log(self, message: str) -> None:
        """Record a line in the run's log (kept with the run in the catalog)."""
        self.logs.append(f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} {message}")


class BatchTransform(ABC):
    """A transform applied batch by batch; ``start`` runs once per worker before its batches."""

    name: str
    dependencies: tuple[str, ...] = ()
    #: GPUs each worker needs (an executor that places work asks its cluster for them).
    num_gpus: float = 0.0

    def start(self, context: RunContext) -> None:
        """Prepare what every batch needs (load a model, say); nothing by default."""

    @abstractmethod
    def transform_batch(self, context: RunContext, batch: pa.Table) -> pa.Table:
        """The output rows for one batch of input rows."""

    def metrics(self) -> Mapping[str, Any] | None:
        """Figures the run records beside its own (an inference transform's), if any."""
        return None


class Executor(ABC):
    """Where a job's batches run."""

    name: str

    @abstractmethod
    def map_batches(self, transform: BatchTransform, context: RunContext,
                    batches: Iterable[pa.Table]) -> Iterator[pa.Table]:
        """Apply ``transform`` to every batch, yielding one output table per batch."""


class LocalExecutor(Executor):
    """Runs every batch in this process, in order."""

    name = "local"

    def map_batches(self, transform: BatchTransform, context: RunContext,
                    batches: Iterable[pa.Table]) -> Iterator[pa.Table]:
        transform.start(context)
        for batch in batches:
            yield transform.transform_batch(context, batch)


def executor_named(executor: str | Executor | None) -> Executor:
    """The executor a job asks for: ``None`` or ``"local"`` runs in-process."""
    if isinstance(executor, Executor):
        return executor
    if executor in (None, "local"):
        return LocalExecutor()
    if executor not in EXECUTORS:
        raise ValidationError(f"unknown executor {executor!r}; executors: local, {', '.join(EXECUTORS)}",
                              code=UNKNOWN_EXECUTOR, name=str(executor))
    module, cls = EXECUTORS[executor]
    return getattr(importlib.import_module(module), cls)()


def imported(path: str) -> Any:
    """The object at ``module:qualified.name`` (ImportError, AttributeError or ValueError when
    there is none)."""
    module, _, qualname = path.partition(":")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found
