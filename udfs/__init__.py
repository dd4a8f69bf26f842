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

from typing import TYPE_CHECKING

from udfs.errors import from_datafusion

if TYPE_CHECKING:
    from datafusion import SessionContext
    from sqlglot import exp

__all__ = ["register_all", "from_datafusion", "prefer_constant_vectors"]


def register_all(ctx: SessionContext) -> None:
    """Register every Raise SQL function into ``ctx`` (idempotent)."""
    from udfs import blobs, constant_vectors, functions, vector

    vector.register(ctx)
    constant_vectors.register(ctx)
    functions.register(ctx)
    blobs.register(ctx)


def prefer_constant_vectors(tree: exp.Expression) -> exp.Expression:
    """See :func:`udfs.constant_vectors.prefer_constant_vectors`."""
    from udfs import constant_vectors

    return constant_vectors.prefer_constant_vectors(tree)
