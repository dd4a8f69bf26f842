"""Row-against-constant vector calls without repeating the constant in every row.

DataFusion hands a Python UDF every argument as an array as long as the batch, so a
constant query vector (``COSINE_SIMILARITY(emb, [0.1, ...])`` or ``… $1``) is copied into
every row before the kernel runs: for 512 float32 dimensions that is as many bytes as the
embedding column itself, and it cut row-against-constant throughput about 3x on the CPU
(and would ship the copies to a GPU). A ``BinaryView`` constant, by contrast, repeats as a
16-byte view per row pointing at one shared buffer.

So each binary vector function has a constant form, ``<name>_const(vector, packed)``, whose
second argument is ``vector_constant(<constant>)``: DataFusion folds that call at planning
time (literals and bound parameters alike), and the kernel reads the vector once.
:func:`prefer_constant_vectors` rewrites a sqlglot tree to use these forms; the engine
applies it to client SQL. The result is the same as the plain call; only an unaliased
output column's name changes (it spells the rewritten call).
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datafusion import ScalarUDF, SessionContext, udf

from udfs.arrow_rows import Rows, constant_rows, rows_from_arrow
from udfs.errors import NotAVector
from udfs.vector import BY_NAME, FUNCTIONS, SQL_VECTOR, VectorFunction, evaluate_rows

if TYPE_CHECKING:
    from sqlglot import exp

PACKER = "vector_constant"
SUFFIX = "_const"


def _pack(vectors: pa.Array) -> pa.Array:
    """Each float32 vector as its raw little-endian bytes, as a ``BinaryView`` array."""
    rows = rows_from_arrow(vectors, function=PACKER)
    lengths = np.where(rows.valid, rows.lengths, 0)
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    # Gather every valid row's range in one fancy-indexing pass: element j of row i sits at
    # starts[i] + (j - offsets[i]).
    index = np.repeat(rows.starts - offsets[:-1], lengths) + np.arange(offsets[-1])
    data = rows.values[index].astype(np.float32, copy=False)
    offsets *= 4
    mask = None if rows.valid.all() else pa.py_buffer(np.packbits(rows.valid, bitorder="little"))
    packed = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(rows), [mask, pa.py_buffer(offsets), pa.py_buffer(data)])
    return packed.cast(pa.binary_view())


def _unpack(packed: pa.Array) -> Rows:
    """Rows of a packed argument; a repeated constant costs one vector, not one per row."""
    n = len(packed)
    # A view is 16 bytes (length, prefix, buffer index, offset): equal views, equal values.
    views = np.frombuffer(packed.buffers()[1], dtype=np.uint64,
                          count=2 * (packed.offset + n)).reshape(-1, 2)[packed.offset:]
    if n and packed.null_count == 0 and bool((views == views[0]).all()):
        return constant_rows(np.frombuffer(packed[0].as_py(), dtype=np.float32), n)
    flat = packed.cast(pa.large_binary())
    offsets = np.frombuffer(flat.buffers()[1], dtype=np.int64)[flat.offset:flat.offset + n + 1]
    if bool((offsets % 4).any()):
        raise NotAVector(f"{PACKER} values must be packed float32 vectors", name=PACKER)
    data = flat.buffers()[2]
    values = (np.frombuffer(data, dtype=np.float32, count=len(data) // 4) if data is not None
              else np.zeros(0, dtype=np.float32))
    valid = pc.is_valid(flat).to_numpy(zero_copy_only=False)
    return Rows(values=values, starts=offsets[:-1] // 4, stops=offsets[1:] // 4, valid=valid)


def sql_udfs() -> list[ScalarUDF]:
    """``vector_constant`` and the ``<name>_const`` form of each binary vector function."""
    made = [udf(_pack, [pa.field("vector", SQL_VECTOR)], pa.field(PACKER, pa.binary_view()),
                "immutable", PACKER)]
    for function in FUNCTIONS:
        if function.arity == 2:
            made.append(udf(_const_body(function),
                            [pa.field("v0", SQL_VECTOR), pa.field("v1", pa.binary_view())],
                            pa.field(function.name, pa.float64()), "immutable",
                            function.name + SUFFIX))
    return made


def register(ctx: SessionContext) -> None:
    """Register the packer and the constant forms into ``ctx``."""
    for function in sql_udfs():
        ctx.register_udf(function)


def held(function: str, vector: np.ndarray, name: str) -> ScalarUDF:
    """``function(x, vector)`` as the one-argument function ``name(x)`` that holds ``vector``.

    For a constant known before planning (a literal in the SQL text): a plan that carries a
    512-number constant costs DataFusion milliseconds per optimizer pass, which copies and
    prints it; a plan that names a function holding it costs nothing extra."""
    chosen = BY_NAME[function]
    if chosen.arity != 2:
        raise ValueError(f"{function} takes one vector: it has no constant form")

    def body(a: pa.Array) -> pa.Array:
        return evaluate_rows(chosen, rows_from_arrow(a, function=chosen.name), constant_rows(vector, len(a)))

    return udf(body, [pa.field("v0", SQL_VECTOR)], pa.field(chosen.name, pa.float64()), "immutable", name)


def _const_body(function: VectorFunction) -> Callable[[pa.Array, pa.Array], pa.Array]:
    return lambda a, packed: evaluate_rows(function, rows_from_arrow(a, function=function.name),
                                           _unpack(packed))


def prefer_constant_vectors(tree: exp.Expression) -> exp.Expression:
    """Rewrite ``f(x, <constant>)`` calls of the binary vector functions to constant forms.

    A constant is an expression without column references, subqueries, aggregates or
    windows: literals, array literals, ``make_array(...)``, bound parameters (``$1``).
    The functions are symmetric, so ``f(<constant>, x)`` is rewritten too.

    >>> import sqlglot
    >>> sql = "SELECT cosine_similarity(emb, [0.5, 1]) AS s FROM t"
    >>> prefer_constant_vectors(sqlglot.parse_one(sql, read="duckdb")).sql("duckdb")
    'SELECT COSINE_SIMILARITY_CONST(emb, VECTOR_CONSTANT([0.5, 1])) AS s FROM t'
    """
    return tree.transform(_rewrite_call)


_BINARY = frozenset(f.name for f in FUNCTIONS if f.arity == 2)


def _rewrite_call(node: exp.Expression) -> exp.Expression:
    from sqlglot import exp  # loaded with the first query that calls a vector function

    if not isinstance(node, exp.Anonymous) or node.name.lower() not in _BINARY:
        return node
    if len(node.expressions) != 2:
        return node
    left, right = node.expressions
    if _is_constant(left) and not _is_constant(right):
        left, right = right, left
    elif not _is_constant(right) or _is_constant(left):
        return node
    packed = exp.Anonymous(this=PACKER, expressions=[right.copy()])
    return exp.Anonymous(this=node.name.lower() + SUFFIX, expressions=[left.copy(), packed])


def _is_constant(node: exp.Expression) -> bool:
    dependent = _row_dependent()
    return not isinstance(node, dependent) and node.find(*dependent) is None


@lru_cache(maxsize=1)
def _row_dependent() -> tuple[type, ...]:
    """Nodes whose presence makes an expression depend on the row (or on another query)."""
    from sqlglot import exp

    return exp.Column, exp.Star, exp.Subquery, exp.Select, exp.Window, exp.AggFunc
