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
from raise_.inference.result import InferenceResult, Measurement
from raise_.inference.spec import AcceleratorConfig, InferenceRuntime, ModelSpec
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


@dataclass(frozen=True, kw_only=True)
class InferenceTransform:
    """A model (``model``) or a Python function (``function``) applied to a feature group."""

    name: str
    model: ModelSpec | None = None
    accelerator: AcceleratorConfig = field(default_factory=AcceleratorConfig.cpu)
    batch_config: BatchConfig = field(default_factory=BatchConfig)
    input_mapping: Mapping[str, str] = field(default_factory=dict)
    output_mapping: Mapping[str, str] = field(default_factory=dict)
    runtime: InferenceRuntime | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    function: Callable[[InferenceContext, dict[str, np.ndarray]], Mapping[str, Any]] | None = None

    def __post_init__(self) -> None:
        if (self.model is None) == (self.function is None):
            raise ValidationError(f"transform {self.name!r} needs exactly one of model= or function=",
                                  code="RAISE-V230", name=self.name)

    def __call__(self, context: InferenceContext, batch: dict[str, np.ndarray]) -> Mapping[str, Any]:
        """Call a function transform directly (as the decorated function)."""
        if self.function is None:
            raise ValidationError(f"transform {self.name!r} runs a model; use .run(...)", code="RAISE-V231")
        return self.function(context, batch)

    def run(self, connection: "Connection", *, source: str, target: str,
            key_columns: Sequence[str] | None = None, where: str | None = None) -> InferenceResult:
        """Read ``source`` (optionally filtered by the SQL condition ``where``), infer, upsert
        into ``target`` on ``key_columns`` (default: the source group's keys).

        ``connection`` is anything that runs Raise SQL and ingests Arrow tables: an engine
        ``Session``, an embedded or Flight connection (``FeatureStore.connection``). The model
        runs in this process."""
        device = self.accelerator.device()
        warnings = tuple(self.runtime.differences()) if self.runtime else ()
        with _environment(self.runtime):
            keys = list(key_columns or _group_keys(connection, source))
            if self.function is not None:
                return self._run_function(connection, source, target, keys, where, device, warnings)
            loaded = self._load(connection, device)
            inputs = _mapped([c.name for c in loaded.inputs], self.input_mapping, "input")
            table = _read(connection, source, keys + [c for c in inputs if c not in keys], where)
            self._warm_up(loaded, [table.column(c) for c in inputs])
            stats = RunStats()
            with Measurement(loaded.device) as measured:
                prediction = predict(loaded, [table.column(c) for c in inputs], self.batch_config,
                                     on_error="null", stats=stats)
            outputs = _mapped([c.name for c in loaded.outputs], self.output_mapping, "output")
            done = _valid(table, inputs) & ~prediction.failed
            written = _write(connection, target, table.select(keys).filter(pa.array(done)),
                             dict(zip(outputs, (c.filter(pa.array(done)) for c in prediction.columns))))
        return _result(self.name, target, stats, measured, loaded.device, written,
                       skipped=table.num_rows - stats.samples - stats.failed, warnings=warnings)

    def _load(self, connection: "Connection", device: str) -> LoadedModel:
        connection.execute(self.model.to_sql(self.name, batch=self.batch_config))
        described = connection.execute(render_model_statement(DescribeModel(model=ModelRef(name=self.name))))
        record = _record(described.to_pylist()[0])
        cores = self.accelerator.cores if self.accelerator.kind == "cpu" else None
        return load_model(record, device=device, threads=cores)

    def _warm_up(self, loaded: LoadedModel, columns: list[pa.ChunkedArray]) -> None:
        count = self.runtime.warmup_batches if self.runtime else 0
        rows = min(count * self.batch_config.batch_size, len(columns[0]) if columns else 0)
        if rows:
            predict(loaded, [c.slice(0, rows) for c in columns], self.batch_config, on_error="null")

    def _run_function(self, connection: "Connection", source: str, target: str, keys: list[str],
                      where: str | None, device: str, warnings: tuple[str, ...]) -> InferenceResult:
        table = _read(connection, source, None, where)
        stats, pieces = RunStats(), []
        size = self.batch_config.batch_size
        with Measurement("cpu" if device == "cpu" else "cuda") as measured:
            for index, start in enumerate(range(0, table.num_rows, size)):
                piece = table.slice(start, size)
                outputs = self._call_function(InferenceContext(self.name, device, index, piece.num_rows),
                                              piece, stats)
                if outputs is not None:
                    pieces.append((piece.select(keys), outputs))
        names = sorted({n for _, outputs in pieces for n in outputs})
        mapped = _mapped(names, self.output_mapping, "output") if names else []
        written = 0
        if pieces:
            keys_table = pa.concat_tables([k for k, _ in pieces])
            columns = {m: pa.concat_arrays([_arrow(o[n]) for _, o in pieces]) for n, m in zip(names, mapped)}
            written = _write(connection, target, keys_table, columns)
        return _result(self.name, target, stats, measured, "cuda" if device == "gpu" else "cpu", written,
                       skipped=0, warnings=warnings)

    def _call_function(self, context: InferenceContext, piece: pa.Table, stats: RunStats):
        batch = {name: _numpy(piece.column(name)) for name in piece.column_names}
        for attempt in range(self.batch_config.attempts):
            stats.retries += bool(attempt)
            try:
                outputs = dict(self.function(context, batch))
            except Exception as error:  # a user function may fail any way; it is retried and counted
                if attempt + 1 == self.batch_config.attempts:
                    stats.failed += piece.num_rows
                    stats.errors.append(f"batch {context.batch_index}: {type(error).__name__}: {error}")
                    return None
                continue
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


def _write(connection: "Connection", target: str, keys: pa.Table, outputs: dict[str, pa.Array]) -> int:
    table = keys
    for name, column in outputs.items():
        table = table.append_column(name, column)
    if table.num_rows == 0:
        return 0
    return connection.ingest(target, table, "upsert")


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


def _result(name: str, target: str, stats: RunStats, measured: Measurement, device: str, written: int,
            *, skipped: int, warnings: tuple[str, ...]) -> InferenceResult:
    total = stats.samples + stats.failed
    duration = measured.duration_seconds
    busy = min(100.0, 100.0 * stats.model_seconds / duration) if duration and device == "cuda" else None
    if total and not stats.samples:
        raise InferenceFailed(f"transform {name!r}: every batch failed; first error: "
                              f"{stats.errors[0] if stats.errors else 'unknown'}")
    return InferenceResult(
        transform=name, total_samples=total, successful_samples=stats.samples,
        failed_samples=stats.failed, skipped_samples=skipped, duration_seconds=duration,
        throughput_samples_per_sec=total / duration if duration else 0.0, gpu_utilization_pct=busy,
        peak_memory_gb=measured.peak_memory_gb, rows_written=written, device=device, target=target,
        warnings=warnings, errors=tuple(stats.errors),
    )
