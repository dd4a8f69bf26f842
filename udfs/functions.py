"""The spec's Supported Functions that DataFusion 55 lacks by name.

Checked by running SQL against DataFusion 55: ``AVG SUM MIN MAX COUNT STDDEV``, ``ABS CEIL
FLOOR ROUND LOG EXP POWER SQRT``, ``CONCAT LOWER UPPER TRIM SUBSTRING LENGTH``, ``CASE WHEN
COALESCE NULLIF`` and window clauses (``OVER``, ``PARTITION BY``, ``ORDER BY``, ``ROWS``,
``RANGE``) are built in. Missing, and registered here:

* ``IF(cond, a, b)``: DataFusion's Spark function set has it, natively and for any
  argument type; only that one function is taken (enabling the whole set would change
  ``substring``, ``concat`` and ``round`` to Spark semantics).
* ``VARIANCE(x)``: sample variance (like ``VAR_SAMP``), as an aggregate that also works as a
  window function over any frame (it supports retraction for sliding frames). It runs in
  Python per batch (vectorised with NumPy); ``VAR_SAMP`` is the native, faster spelling.
"""
from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datafusion import Accumulator, AggregateUDF, ScalarUDF, SessionContext, udaf


@functools.cache
def spark_if() -> ScalarUDF:
    """DataFusion's native ``if`` from its Spark function set."""
    spark = SessionContext()
    spark.enable_spark_functions()
    return spark.udf("if")


class SampleVariance(Accumulator):
    """Welford/Chan running moments: ``(count, mean, M2)``; variance is ``M2 / (count - 1)``."""

    def __init__(self) -> None:
        self._count = 0.0
        self._mean = 0.0
        self._m2 = 0.0

    def update(self, values: pa.Array) -> None:
        """Fold a batch of values in (NULLs skipped)."""
        self._combine(*_moments(values), sign=1.0)

    def retract_batch(self, values: pa.Array) -> None:
        """Take a batch back out (rows leaving a sliding window frame)."""
        self._combine(*_moments(values), sign=-1.0)

    def supports_retract_batch(self) -> bool:
        """Sliding frames may retract instead of recomputing."""
        return True

    def merge(self, states: list[pa.Array]) -> None:
        """Fold in partial states from other partitions."""
        counts, means, m2s = (s.to_numpy(zero_copy_only=False) for s in states)
        for count, mean, m2 in zip(counts, means, m2s):
            self._combine(float(count), float(mean), float(m2), sign=1.0)

    def state(self) -> list[pa.Scalar]:
        """Partial state: count, mean and sum of squared deviations."""
        return [pa.scalar(self._count), pa.scalar(self._mean), pa.scalar(self._m2)]

    def evaluate(self) -> pa.Scalar:
        """Sample variance; NULL for fewer than two values."""
        if self._count < 2:
            return pa.scalar(None, type=pa.float64())
        return pa.scalar(max(self._m2, 0.0) / (self._count - 1.0))

    def _combine(self, count: float, mean: float, m2: float, *, sign: float) -> None:
        """Chan's pairwise update; ``sign=-1`` removes a batch that was added before."""
        if count == 0:
            return
        total = self._count + sign * count
        if total <= 0:
            self._count, self._mean, self._m2 = 0.0, 0.0, 0.0
            return
        delta = mean - self._mean
        if sign > 0:
            new_mean = self._mean + delta * count / total
            self._m2 += m2 + delta * delta * self._count * count / total
        else:
            new_mean = (self._count * self._mean - count * mean) / total
            rest_delta = mean - new_mean
            self._m2 -= m2 + rest_delta * rest_delta * total * count / self._count
        self._count, self._mean = total, new_mean


def _moments(values: pa.Array) -> tuple[float, float, float]:
    data = pc.drop_null(values).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    if data.size == 0:
        return 0.0, 0.0, 0.0
    mean = float(data.mean())
    return float(data.size), mean, float(np.square(data - mean).sum())


def variance() -> AggregateUDF:
    """``variance(x)``: the sample variance of a numeric column, as float64."""
    return udaf(SampleVariance, [pa.float64()], pa.float64(),
                [pa.float64(), pa.float64(), pa.float64()], "immutable", "variance")


def register(ctx: SessionContext) -> None:
    """Register ``if`` and ``variance`` into ``ctx``."""
    ctx.register_udf(spark_if())
    ctx.register_udaf(variance())
