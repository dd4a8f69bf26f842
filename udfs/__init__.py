"""SQL functions Raise registers into every DataFusion session.

>>> from datafusion import SessionContext
>>> import udfs
>>> ctx = SessionContext()
>>> udfs.register_all(ctx)
>>> ctx.sql("SELECT cosine_similarity([1.0, 0.0], [1.0, 0.0]) AS c").to_pylist()
[{'c': 1.0}]

Vector functions (:mod:`udfs.vector`) run Numba kernels on the CPU or CuPy kernels on a CUDA
device (:mod:`udfs.device`, :mod:`udfs.resident`); :mod:`udfs.functions` fills the gaps
between the spec's function table and DataFusion's built-ins; :mod:`udfs.blobs` reads the
fields of blob references; :func:`prefer_constant_vectors` rewrites client SQL so that a
constant query vector is not copied into every row (see :mod:`udfs.constant_vectors`).

The kernels and the resident cache need neither DataFusion nor sqlglot (a GPU host may run
them alone), so the SQL-facing modules are imported when first used.
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from udfs.errors import from_datafusion

if TYPE_CHECKING:
    from datafusion import SessionContext
    from sqlglot import exp

__all__ = ["register_all", "from_datafusion", "prefer_constant_vectors", "held"]


def register_all(ctx: SessionContext) -> None:
    """Register every Raise SQL function into ``ctx`` (idempotent)."""
    scalars, aggregates = _made()
    for function in scalars:
        ctx.register_udf(function)
    for aggregate in aggregates:
        ctx.register_udaf(aggregate)


@lru_cache(maxsize=1)
def _made() -> tuple[tuple, tuple]:
    """The functions, made once per process: they hold no state, and making them costs more
    than planning a small query (every statement registers them into a new context)."""
    from udfs import blobs, constant_vectors, functions, vector

    scalars = (*vector.sql_udfs(), *constant_vectors.sql_udfs(), functions.spark_if(), *blobs.sql_udfs())
    return scalars, (functions.variance(),)


def held(function: str, vector, name: str):
    """See :func:`udfs.constant_vectors.held`."""
    from udfs import constant_vectors

    return constant_vectors.held(function, vector, name)


def prefer_constant_vectors(tree: exp.Expression) -> exp.Expression:
    """See :func:`udfs.constant_vectors.prefer_constant_vectors`."""
    from udfs import constant_vectors

    return constant_vectors.prefer_constant_vectors(tree)
