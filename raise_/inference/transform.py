"""``InferenceTransform``: run a model (or a Python function) from one feature group into another.

Running a transform (:meth:`InferenceTransform.run`):

1. checks the accelerator against this machine (``Unsupported`` when it cannot be honoured);
2. registers the model with ``CREATE OR REPLACE MODEL <transform name>`` (so the run is plain
   Raise SQL, visible in SHOW MODELS) and loads it on the chosen device;
3. reads the source group's key columns and mapped input columns through the engine;
4. runs the model per the transform's ``BatchConfig`` (warm-up batches first when the
   ``InferenceRuntime`` asks), counting rows whose batch failed after its retries;
5. upserts the outputs, renamed per ``output_mapping``, into the target group on its keys;
6. returns an :class:`InferenceResult` with the measured figures.

``input_mapping`` maps model input -> source column and ``output_mapping`` model output ->
target feature; for a one-input (one-output) model a single entry applies whatever its key
(so ``embedding_inference(input_column="bio", ...)`` needs no knowledge of the model's names).
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import sqlglot
from sqlglot import exp

from grammar import ast, render
from grammar.errors import ValidationError
from grammar.models import DescribeModel, ModelRef, render_model_statement
from raise_.inference.result import InferenceResult, Measurement, batch_metrics, combine_metrics
from raise_.inference.spec import AcceleratorConfig, InferenceRuntime, ModelSpec
from raise_.jobs.base import BatchTransform, RunContext
from udfs.infer.errors import InferenceFailed
from udfs.infer.load import LoadedModel, load_model
from udfs.infer.pipeline import RunStats, predict
from udfs.infer.records import BatchConfig, Column, ModelRecord

if TYPE_CHECKING:
    from raise_.client import Connection

_DIALECT = "duckdb"


@dataclass(frozen=True, slots=True)
class InferenceContext:
    """What a custom transform function is told about the batch it is called with."""

    transform: str
    device: str
    batch_index: int
    rows: int


class _Worker:
    """What ``start`` prepared in one process (the loaded model, the mapped columns) and the
    metrics of the batches that process ran. It never travels: a copy sent to another worker
    arrives empty and is started there."""

    __slots__ = ("device", "loaded", "inputs", "outputs", "warm", "batches", "metrics", "warnings")

    def __init__(self) -> None:
        self.device: str | None = None
        self.loaded: LoadedModel | None = None
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.warm = False
        self.batches = 0
        self.metrics: dict[str, Any] | None = None
        self.warnings: tuple[str, ...] = ()

    def __reduce__(self):
        return (_Worker, ())


@dataclass(frozen=True, kw_only=True)
class InferenceTransform(BatchTransform):
    """A model (``model``) or a Python function (``function``) applied to a feature group.

    As a job's transform it is a :class:`~raise_.jobs.base.BatchTransform`: ``start`` loads the
    model once per worker (on the accelerator's device); ``transform_batch`` returns the batch's
    rows that got outputs, with every input column kept and one column per output (named per
    ``output_mapping``); ``metrics()`` are what ``InferenceResult.from_metrics`` reads."""

    name: str
    model: ModelSpec | None = None
    accelerator: AcceleratorConfig = field(default_factory=AcceleratorConfig.cpu)
    batch_config: BatchConfig = field(default_factory=BatchConfig)
    input_mapping: Mapping[str, str] = field(default_factory=dict)
    output_mapping: Mapping[str, str] = field(default_factory=dict)
    runtime: InferenceRuntime | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    function: Callable[[InferenceContext, dict[str, np.ndarray]], Mapping[str, Any]] | None = None
    _worker: _Worker = field(default_factory=_Worker, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.model is None) == (self.function is None):
            raise ValidationError(f"transform {self.name!r} needs exactly one of model= or function=",
                                  code="RAISE-V230", name=self.name)

    def __call__(self, context: InferenceContext, batch: dict[str, np.ndarray]) -> Mapping[str, Any]:
        """Call a function transform directly (as the decorated function)."""
        if self.function is None:
            raise ValidationError(f"transform {self.name!r} runs a model; use .run(...)", code="RAISE-V231")
        return self.function(context, batch)

    # -- as a job's batch transform ----------------------------------------------------------

    @property
    def num_gpus(self) -> float:
        """GPUs per worker: the accelerator's count when it asks for GPUs."""
        return float(self.accelerator.count) if self.accelerator.kind == "gpu" else 0.0

    def job_transform(self) -> tuple[str, tuple[tuple[str, Any], ...]]:
        """The ``TRANSFORM ... AS INFERENCE (...)`` settings a job stores for this transform."""
        from raise_.inference.jobs import job_settings

        return job_settings(self)

    def start(self, context: RunContext | None = None) -> None:
        """Check the accelerator against this machine and load the model on it (once per
        worker: the runners cache loaded models per process)."""
        self._start(self._spec_record() if self.model is not None else None)

    def transform_batch(self, context: RunContext | None, batch: pa.Table) -> pa.Table:
        """The rows of ``batch`` that got outputs: its columns and the mapped outputs."""
        if self._worker.device is None:
            self.start(context)
        with _environment(self.runtime):
            if self.function is not None:
                return self._function_batch(batch)
            return self._model_batch(batch)

    def metrics(self) -> dict[str, Any] | None:
        """This worker's figures so far (see :func:`raise_.inference.result.batch_metrics`)."""
        return self._worker.metrics

    def merge_metrics(self, parts: Sequence[Mapping[str, Any]]) -> None:
        """Adopt the metrics several workers reported (an executor that ran batches elsewhere
        calls this on the driver's transform)."""
        self._worker.metrics = combine_metrics(parts)

    def _start(self, record: ModelRecord | None) -> None:
        worker = self._worker
        device = self.accelerator.device()
        worker.__init__()
        worker.warnings = tuple(self.runtime.differences()) if self.runtime else ()
        if record is not None:
            cores = self.accelerator.cores if self.accelerator.kind == "cpu" else None
            with _environment(self.runtime):
                worker.loaded = load_model(record, device=device, threads=cores)
            worker.inputs = _mapped([c.name for c in worker.loaded.inputs], self.input_mapping, "input")
            worker.outputs = _mapped([c.name for c in worker.loaded.outputs], self.output_mapping, "output")
        worker.device = device

    def _spec_record(self) -> ModelRecord:
        """The model as the runners take it, straight from the spec (a worker has no catalog)."""
        stmt = self.model.to_statement(self.name, batch=self.batch_config)
        return ModelRecord(
            name=self.name, uri=stmt.uri, framework=stmt.framework, version=stmt.version, task=stmt.task,
            inputs=tuple(Column(name=c.name, dtype=c.dtype) for c in stmt.inputs or ()),
            outputs=tuple(Column(name=c.name, dtype=c.dtype) for c in stmt.outputs or ()),
            precision=stmt.precision or "fp32", batch=self.batch_config, description=stmt.description,
        )

    def _model_batch(self, batch: pa.Table) -> pa.Table:
        worker = self._worker
        columns = [_input_column(batch, name, self.name) for name in worker.inputs]
        if not worker.warm:
            self._warm_up(worker.loaded, columns)
            worker.warm = True
        stats, started = RunStats(), time.time()
        with Measurement(worker.loaded.device) as measured:
            prediction = predict(worker.loaded, columns, self.batch_config, on_error="null", stats=stats)
        done = pa.array(_valid(batch, worker.inputs) & ~prediction.failed)
        output = _with_columns(batch.filter(done), dict(zip(worker.outputs, (c.filter(done) for c in prediction.columns))))
        self._record(worker.loaded.device, stats, measured, started,
                     skipped=batch.num_rows - stats.samples - stats.failed)
        return output

    def _function_batch(self, batch: pa.Table) -> pa.Table:
        worker, stats, pieces = self._worker, RunStats(), []
        size, started = self.batch_config.batch_size, time.time()
        device = "cpu" if worker.device == "cpu" else "cuda"
        with Measurement(device) as measured:
            for offset in range(0, batch.num_rows, size):
                piece = batch.slice(offset, size)
                context = InferenceContext(self.name, worker.device, worker.batches, piece.num_rows)
                worker.batches += 1
                outputs = self._call_function(context, piece, stats)
                if outputs is not None:
                    names = sorted(outputs)
                    mapped = _mapped(names, self.output_mapping, "output")
                    pieces.append(_with_columns(piece, {m: _arrow(outputs[n]) for n, m in zip(names, mapped)}))
        self._record(device, stats, measured, started, skipped=0)
        return pa.concat_tables(pieces) if pieces else batch.slice(0, 0)

    def _record(self, device: str, stats: RunStats, measured: Measurement, started: float, *,
                skipped: int) -> None:
        worker = self._worker
        part = batch_metrics(self.name, device, samples=stats.samples, failed=stats.failed, skipped=skipped,
                             model_seconds=stats.model_seconds, measured=measured, started=started,
                             errors=stats.errors, warnings=worker.warnings)
        worker.metrics = combine_metrics([worker.metrics, part] if worker.metrics else [part])
        if stats.failed and not worker.metrics["samples"]:
            raise InferenceFailed(f"transform {self.name!r}: every batch failed; first error: "
                                  f"{stats.errors[0] if stats.errors else 'unknown'}")

    # -- on its own ------------------------------------------------------------------------

    def run(self, connection: "Connection", *, source: str, target: str,
            key_columns: Sequence[str] | None = None, where: str | None = None) -> InferenceResult:
        """Read ``source`` (optionally filtered by the SQL condition ``where``), infer, upsert
        into ``target`` on ``key_columns`` (default: the source group's keys).

        ``connection`` is anything that runs Raise SQL and ingests Arrow tables: an engine
        ``Session``, an embedded or Flight connection (``FeatureStore.connection``). The model
        runs in this process."""
        self.accelerator.device()
        with _environment(self.runtime):
            keys = list(key_columns or _group_keys(connection, source))
            self._start(self._load(connection) if self.model is not None else None)
            worker = self._worker
            wanted = None if self.function is not None else keys + [c for c in worker.inputs if c not in keys]
            table = _read(connection, source, wanted, where)
        output = self.transform_batch(None, table)
        outputs = worker.outputs or [c for c in output.column_names if c not in table.column_names]
        written = _write(connection, target, output.select(keys + [c for c in outputs if c not in keys]))
        metrics = worker.metrics or batch_metrics(self.name, worker.device, samples=0, failed=0, skipped=0,
                                                  model_seconds=0.0, measured=Measurement("cpu"),
                                                  started=time.time(), warnings=worker.warnings)
        return InferenceResult.from_metrics(metrics, rows_written=written, target=target)

    def _load(self, connection: "Connection") -> ModelRecord:
        """Register the model (CREATE OR REPLACE MODEL, visible in SHOW MODELS) and take the
        catalog's record of it (with the location its URI resolved to)."""
        connection.execute(self.model.to_sql(self.name, batch=self.batch_config))
        described = connection.execute(render_model_statement(DescribeModel(model=ModelRef(name=self.name))))
        return _record(described.to_pylist()[0])

    def _warm_up(self, loaded: LoadedModel, columns: list[pa.ChunkedArray]) -> None:
        count = self.runtime.warmup_batches if self.runtime else 0
        rows = min(count * self.batch_config.batch_size, len(columns[0]) if columns else 0)
        if rows:
            predict(loaded, [c.slice(0, rows) for c in columns], self.batch_config, on_error="null")

    def _call_function(self, context: InferenceContext, piece: pa.Table, stats: RunStats):
        batch = {name: _numpy(piece.column(name)) for name in piece.column_names}
        for attempt in range(self.batch_config.attempts):
            stats.retries += bool(attempt)
            called = time.perf_counter()
            try:
                outputs = dict(self.function(context, batch))
            except Exception as error:  # a user function may fail any way; it is retried and counted
                if attempt + 1 == self.batch_config.attempts:
                    stats.failed += piece.num_rows
                    stats.errors.append(f"batch {context.batch_index}: {type(error).__name__}: {error}")
                    return None
                continue
            finally:
                stats.model_seconds += time.perf_counter() - called
            stats.samples += piece.num_rows
            stats.batches += 1
            return outputs
        return None


# ------------------------------------------------------------------ helpers


@contextmanager
def _environment(runtime: InferenceRuntime | None) -> Iterator[None]:
    """Set the runtime's environment variables for the run, restoring them after."""
    saved = {k: os.environ.get(k) for k in (runtime.env_vars if runtime else {})}
    os.environ.update(runtime.env_vars if runtime else {})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _group_keys(connection: "Connection", group: str) -> list[str]:
    described = connection.execute(render(ast.Describe(kind="feature group", target=ast.GroupRef(name=group))))
    return list(described.column("keys")[0].as_py())


def _table(group: str) -> exp.Table:
    if "/" in group:
        raise ValidationError(f"transforms read and write groups of the current project; USE the "
                              f"project of {group!r} and name the group alone", code="RAISE-V233", name=group)
    return exp.Table(this=exp.to_identifier(group, quoted=True))


def _read(connection: "Connection", group: str, columns: list[str] | None, where: str | None) -> pa.Table:
    chosen = [exp.column(c, quoted=True) for c in columns] if columns else [exp.Star()]
    query = exp.select(*chosen).from_(_table(group))
    if where:
        query = query.where(sqlglot.parse_one(where, dialect=_DIALECT, into=exp.Condition))
    return connection.execute(query.sql(dialect=_DIALECT))


def _record(row: dict[str, Any]) -> ModelRecord:
    """A DESCRIBE MODEL row as the inference layer takes it."""
    return ModelRecord(
        name=row["path"], uri=row["uri"], framework=row["framework"], version=row["version"],
        task=row["task"], inputs=tuple(Column(**c) for c in row["inputs"] or ()),
        outputs=tuple(Column(**c) for c in row["outputs"] or ()), precision=row["precision"],
        batch=BatchConfig(**row["batch"]), description=row["description"], location=row["location"],
    )


def _mapped(names: list[str], mapping: Mapping[str, str], what: str) -> list[str]:
    """Source columns for model inputs (or target features for outputs), per the mapping."""
    if len(names) == 1 and len(mapping) == 1:
        return list(mapping.values())
    unknown = sorted(set(mapping) - set(names))
    if unknown:
        raise ValidationError(f"{what}_mapping names {', '.join(unknown)}, which the model does not have; "
                              f"its {what}s: {', '.join(names)}", code="RAISE-V232", name=unknown[0])
    return [mapping.get(n, n) for n in names]


def _valid(table: pa.Table, columns: list[str]) -> np.ndarray:
    valid = np.ones(table.num_rows, dtype=bool)
    for name in columns:
        valid &= np.asarray(table.column(name).is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return valid


def _write(connection: "Connection", target: str, table: pa.Table) -> int:
    if table.num_rows == 0:
        return 0
    return connection.ingest(target, table, "upsert")


def _with_columns(table: pa.Table, columns: Mapping[str, pa.Array]) -> pa.Table:
    """``table`` with ``columns`` added (replacing a column of the same name)."""
    for name, column in columns.items():
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, column) if index >= 0 else table.append_column(name, column)
    return table


def _input_column(batch: pa.Table, name: str, transform: str) -> pa.ChunkedArray:
    if name not in batch.column_names:
        raise ValidationError(f"transform {transform!r} reads column {name!r}, which its input does not "
                              f"have; columns: {', '.join(batch.column_names)}", code="RAISE-V550", name=name)
    return batch.column(name)


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    array = column.combine_chunks()
    if pa.types.is_fixed_size_list(array.type) and array.null_count == 0:
        return array.flatten().to_numpy(zero_copy_only=False).reshape(len(array), array.type.list_size)
    return array.to_numpy(zero_copy_only=False)


def _arrow(values: Any) -> pa.Array:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    array = np.asarray(values)
    if array.ndim == 2:
        return pa.FixedSizeListArray.from_arrays(pa.array(array.reshape(-1)), array.shape[1])
    return pa.array(array)
