"""Running a loaded model over Arrow columns, batch by batch, per ``BatchConfig``.

Rows with a NULL argument give NULL outputs and never reach the model. Text is tokenized for
the whole call at once, then rows are grouped by token length (a batch pads to its longest
row, so similar lengths waste less work; outputs come back in row order). ``prefetch_batches``
padded batches are prepared ahead by ``num_workers`` threads while the model runs. A failed or
timed-out model call is retried per the config; when it still fails, ``on_error="raise"``
raises (SQL queries) and ``on_error="null"`` leaves its rows NULL and counts them failed
(inference transforms, whose result reports the success rate).
"""
from __future__ import annotations

import concurrent.futures as futures
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Literal, Sequence

import numpy as np
import pyarrow as pa

from udfs.infer.errors import BadInferCall, InferenceFailed, InferenceTimeout
from udfs.infer.images import image_tensor, is_reference_column
from udfs.infer.load import LoadedModel
from udfs.infer.records import BatchConfig
from udfs.infer.tensors import arrow_type, from_numpy, to_numpy
from udfs.infer.tokenize import Encoded

#: Model calls with a timeout run on these threads so the caller can stop waiting.
_TIMED = futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="raise-infer")
_KEPT_ERRORS = 5


@dataclass
class RunStats:
    """What a run did: rows inferred and failed, batches, retries, seconds inside the model,
    and the first few failure messages."""

    samples: int = 0
    failed: int = 0
    batches: int = 0
    retries: int = 0
    model_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Prediction:
    """One Arrow array per model output, and which rows failed (NULL input rows did not)."""

    columns: tuple[pa.Array, ...]
    failed: np.ndarray


def predict(model: LoadedModel, arguments: Sequence[pa.Array | pa.ChunkedArray],
            config: BatchConfig | None = None, *, on_error: Literal["raise", "null"] = "raise",
            stats: RunStats | None = None) -> Prediction:
    """Run ``model`` over the rows of ``arguments`` (one array per model input)."""
    config = config or model.record.batch
    stats = stats if stats is not None else RunStats()
    if len(arguments) != len(model.inputs):
        raise BadInferCall(f"model {model.record.name!r} takes {len(model.inputs)} column(s) "
                           f"({', '.join(c.name for c in model.inputs)}), got {len(arguments)}",
                           name=model.record.name)
    columns = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arguments]
    valid = np.ones(len(columns[0]), dtype=bool)
    for column in columns:
        valid &= ~np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    rows = np.flatnonzero(valid)
    source = _source(model, [c.take(pa.array(rows)) for c in columns])
    buffers: dict[str, np.ndarray] = {}
    done = np.zeros(len(rows), dtype=bool)
    for batch, feeds in _prefetched(plan_batches(source.lengths, config), source.feeds, config):
        try:
            result = _call(model, feeds.result(), config, stats)
        except InferenceFailed as error:
            stats.failed += len(batch)
            if on_error == "raise":
                raise
            if len(stats.errors) < _KEPT_ERRORS:
                stats.errors.append(error.message)
            continue
        _store(buffers, batch, result, len(rows))
        done[batch] = True
        stats.samples += len(batch)
        stats.batches += 1
    ok = valid.copy()
    ok[rows[~done]] = False
    outputs = tuple(_column(buffers.get(spec.name), column.dtype, ok, rows, done, column.name)
                    for spec, column in zip(model.runner.outputs, model.outputs))
    return Prediction(outputs, valid & ~ok)


# ------------------------------------------------------------------ inputs


@dataclass(frozen=True, slots=True)
class _Source:
    """Per-row lengths (for grouping) and a function giving the feeds of some rows."""

    lengths: np.ndarray
    feeds: Callable[[np.ndarray], dict[str, np.ndarray]]


def _source(model: LoadedModel, columns: list[pa.Array]) -> _Source:
    if model.tokenizer is not None:
        texts = columns[0].cast(pa.string()).to_pylist()
        encoded: Encoded = model.tokenizer.encode(texts)
        wanted = [spec.name for spec in model.runner.inputs]
        return _Source(encoded.lengths,
                       lambda rows: {k: v for k, v in encoded.padded(rows).items() if k in wanted})
    arrays = {spec.name: image_tensor(column, spec) if is_reference_column(column)
              else to_numpy(column, spec.dtype, spec.shape, spec.name)
              for spec, column in zip(model.runner.inputs, columns)}
    count = len(columns[0]) if columns else 0
    return _Source(np.ones(count, dtype=np.int64), lambda rows: {k: v[rows] for k, v in arrays.items()})


def plan_batches(lengths: np.ndarray, config: BatchConfig) -> list[np.ndarray]:
    """Row positions of each batch: grouped by length; sized per ``config`` (see BatchConfig)."""
    order = np.argsort(lengths, kind="stable")
    if not config.dynamic_batching:
        size = config.batch_size
        return [order[i:i + size] for i in range(0, len(order), size)]
    budget = config.batch_size * max(float(lengths.mean()) if len(lengths) else 1.0, 1.0)
    largest = config.largest_batch
    sorted_lengths = lengths[order]
    batches, start = [], 0
    while start < len(order):
        stop = start + 1
        # Sorted ascending, so the last row taken is the batch's padded width.
        while (stop < len(order) and stop - start < largest
               and (stop - start + 1) * sorted_lengths[stop] <= budget):
            stop += 1
        batches.append(order[start:stop])
        start = stop
    return batches


def _prefetched(batches: list[np.ndarray], prepare, config: BatchConfig) -> Iterator[tuple[np.ndarray, futures.Future]]:
    """Yield ``(batch, future feeds)`` in order, keeping ``prefetch_batches`` prepared ahead."""
    with futures.ThreadPoolExecutor(max_workers=config.num_workers,
                                    thread_name_prefix="raise-batches") as pool:
        pending: list[tuple[np.ndarray, futures.Future]] = []
        upcoming = iter(batches)
        for batch in upcoming:
            pending.append((batch, pool.submit(prepare, batch)))
            if len(pending) > config.prefetch_batches:
                yield pending.pop(0)
        while pending:
            yield pending.pop(0)


# ------------------------------------------------------------------ model calls


def _call(model: LoadedModel, feeds: dict[str, np.ndarray], config: BatchConfig,
          stats: RunStats) -> dict[str, np.ndarray]:
    """One batch through the model, retried per ``config``."""
    for attempt in range(config.attempts):
        if attempt:
            stats.retries += 1
        start = time.perf_counter()
        try:
            result = _timed(model, feeds, config.timeout_seconds)
        except InferenceFailed:
            if attempt + 1 == config.attempts:
                raise
            continue
        finally:
            stats.model_seconds += time.perf_counter() - start
        rows = len(next(iter(feeds.values())))
        short = [k for k, v in result.items() if len(v) != rows]
        if short:
            raise InferenceFailed(f"model {model.record.name!r} returned {len(result[short[0]])} rows "
                                  f"of {short[0]!r} for a batch of {rows}")
        return result
    raise InferenceFailed(f"model {model.record.name!r} was not called: no attempts configured")


def _timed(model: LoadedModel, feeds: dict[str, np.ndarray], timeout: float | None) -> dict[str, np.ndarray]:
    if timeout is None:
        return model.runner.run(feeds)
    call = _TIMED.submit(model.runner.run, feeds)
    try:
        return call.result(timeout=timeout)
    except futures.TimeoutError:
        model.runner.cancel()
        raise InferenceTimeout(f"model {model.record.name!r} took longer than {timeout:g} s on a "
                               f"batch of {len(next(iter(feeds.values())))} rows") from None


def _store(buffers: dict[str, np.ndarray], batch: np.ndarray, result: dict[str, np.ndarray], total: int) -> None:
    for name, values in result.items():
        if name not in buffers:
            buffers[name] = np.zeros((total, *values.shape[1:]), dtype=values.dtype) \
                if values.dtype.kind not in "OUS" else np.full((total, *values.shape[1:]), None, object)
        buffers[name][batch] = values


def _column(values: np.ndarray | None, dtype: str, ok: np.ndarray, rows: np.ndarray, done: np.ndarray,
            name: str) -> pa.Array:
    if values is None:
        return pa.nulls(len(ok), arrow_type(dtype))
    return from_numpy(values[done], dtype, ok, name)
