"""Numba CPU kernels for the vector functions.

Every kernel reads rows straight out of Arrow value buffers: a row is the half-open range
``values[starts[i]:stops[i]]``, which covers fixed-size lists, variable-length lists and
sliced arrays alike without copying a byte. Sums run in float64 whatever the element type,
so float32 inputs agree with the float64 NumPy reference to ~1e-6 relative.

``float16`` elements arrive as their ``uint16`` bit patterns (Numba's CPU target has no half
type) and are widened through a 65,536-entry lookup table inside the loop.
"""
from __future__ import annotations

import os
import tempfile
import threading

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from udfs.ops import COSINE, DOT, L2, NORM  # noqa: F401 - the codes the kernels understand

if not numba.config.CACHE_DIR and not os.access(os.path.dirname(__file__), os.W_OK):
    # cache=True writes next to this file; a read-only install would otherwise recompile
    # every kernel in every process.
    numba.config.CACHE_DIR = os.path.join(tempfile.gettempdir(), "raise-numba-cache")

#: float16 bit pattern -> float64 value, indexed by the raw ``uint16``.
HALF_TABLE = np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float64)
#: Stand-in table for float element types (never indexed).
NO_TABLE = np.zeros(1, dtype=np.float64)

# Reassociation lets LLVM vectorise the reductions; no nnan/ninf, so NaN and inf inputs
# still propagate to the result as IEEE arithmetic says.
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


def _widen(x, table):
    """Element as float64 (``table`` decodes float16 bit patterns)."""


@overload(_widen)
def _widen_impl(x, table):
    if isinstance(x, types.Integer):
        return lambda x, table: table[x]
    return lambda x, table: np.float64(x)


@njit(fastmath=_FASTMATH, cache=True, nogil=True)
def _row(op, x, y, table):
    """Result of ``op`` over equal-length slices ``x`` and ``y``; NaN marks an undefined cosine.

    Slices rather than ``a[start + k]`` indexing: a computed index may be negative as far as
    Numba knows, and its wraparound check stops LLVM from vectorising the loop (4x slower).
    """
    acc = 0.0
    if op == NORM:
        for k in range(x.shape[0]):
            u = _widen(x[k], table)
            acc += u * u
        return np.sqrt(acc)
    if op == DOT:
        for k in range(x.shape[0]):
            acc += _widen(x[k], table) * _widen(y[k], table)
        return acc
    if op == L2:
        for k in range(x.shape[0]):
            d = _widen(x[k], table) - _widen(y[k], table)
            acc += d * d
        return np.sqrt(acc)
    nx = 0.0
    ny = 0.0
    for k in range(x.shape[0]):
        u = _widen(x[k], table)
        w = _widen(y[k], table)
        acc += u * w
        nx += u * u
        ny += w * w
    if nx == 0.0 or ny == 0.0:
        return np.nan
    return acc / (np.sqrt(nx) * np.sqrt(ny))


@njit(fastmath=_FASTMATH, cache=True, nogil=True, parallel=True)
def _rows_parallel(op, a, a_start, a_stop, b, b_start, valid, table, out, out_valid):
    for i in prange(a_start.shape[0]):
        _one(op, i, a, a_start, a_stop, b, b_start, valid, table, out, out_valid)


@njit(fastmath=_FASTMATH, cache=True, nogil=True)
def _rows_serial(op, a, a_start, a_stop, b, b_start, valid, table, out, out_valid):
    for i in range(a_start.shape[0]):
        _one(op, i, a, a_start, a_stop, b, b_start, valid, table, out, out_valid)


@njit(fastmath=_FASTMATH, cache=True, nogil=True)
def _one(op, i, a, a_start, a_stop, b, b_start, valid, table, out, out_valid):
    if not valid[i]:
        out[i] = 0.0
        out_valid[i] = False
        return
    m = a_stop[i] - a_start[i]
    x = a[a_start[i]:a_stop[i]]
    y = b[b_start[i]:b_start[i] + m]
    r = _row(op, x, y, table)
    # A zero-norm cosine is undefined (NULL); a NaN that comes from the data stays NaN.
    undefined = op == COSINE and np.isnan(r) and (
        _row(NORM, x, x, table) == 0.0 or _row(NORM, y, y, table) == 0.0)
    out[i] = 0.0 if undefined else r
    out_valid[i] = not undefined


#: Below this many rows the thread fan-out costs more than it saves.
PARALLEL_MIN_ROWS = 2048

# Numba's fallback "workqueue" threading layer aborts when two threads enter parallel
# kernels at once (DataFusion evaluates partitions on several threads); omp and tbb do not.
_launch_lock = threading.Lock()


def run(op: int, a, a_start, a_stop, b, b_start, valid, *, parallel: bool = True):
    """Evaluate ``op`` row by row; return ``(values float64[n], valid bool[n])``.

    ``a``/``b`` are 1-D value buffers (float16 as ``uint16``, float32, float64); row ``i``
    spans ``a[a_start[i]:a_stop[i]]`` and the same number of elements of ``b`` from
    ``b_start[i]``;
    callers have checked that the lengths agree and given ``a`` and ``b`` one dtype.
    ``valid`` is False for NULL rows.
    """
    n = a_start.shape[0]
    out = np.empty(n, dtype=np.float64)
    out_valid = np.empty(n, dtype=np.bool_)
    table = HALF_TABLE if a.dtype == np.uint16 else NO_TABLE
    args = (op, a, a_start, a_stop, b, b_start, valid, table, out, out_valid)
    if not parallel or n < PARALLEL_MIN_ROWS:
        _rows_serial(*args)
    elif _threading_layer() == "workqueue":
        with _launch_lock:
            _rows_parallel(*args)
    else:
        _rows_parallel(*args)
    return out, out_valid


def _threading_layer() -> str:
    """Numba's threading layer, known only after a first parallel launch."""
    try:
        return numba.threading_layer()
    except ValueError:
        return "workqueue"


# -- ranking: a constant query against a dense float32 block --------------------------------

#: Relative error bound of a float32 sum of ``d`` products (``d`` roundings of 2**-24 each,
#: doubled for the norm the cosine divides by, and the query's own rounding).
def ranking_error(dim: int) -> float:
    return 2.0 * (dim + 4) * 2.0 ** -24


@njit(fastmath=_FASTMATH, cache=True, nogil=True, parallel=True)
def _ranked(op, x, q, q_norm, rel, valid, out, bound):
    """Per row ``i`` of the ``(n, d)`` float32 block ``x``: ``out[i]`` the metric to the query
    ``q`` (unit length for COSINE) summed in float32 in one pass (dot and norm fused), and
    ``bound[i]`` how far the float64 value can be from it (``inf``: unknown, an overflow)."""
    for i in prange(x.shape[0]):
        if not valid[i]:
            out[i] = np.nan
            bound[i] = 0.0
            continue
        if op == L2:
            acc = np.float32(0.0)
            for k in range(x.shape[1]):
                t = x[i, k] - q[k]
                acc += t * t
            value = np.sqrt(np.float64(acc))
            out[i] = value
            bound[i] = rel * value + 1e-30 if np.isfinite(value) else np.inf
            continue
        acc = np.float32(0.0)
        nx = np.float32(0.0)
        for k in range(x.shape[1]):
            u = x[i, k]
            acc += u * q[k]
            nx += u * u
        if not (np.isfinite(acc) and np.isfinite(nx)):
            out[i] = 0.0
            bound[i] = np.inf
        elif op == COSINE:
            out[i] = np.float64(acc) / np.sqrt(np.float64(nx)) if nx > 0.0 else np.nan
            bound[i] = rel
        else:
            out[i] = np.float64(acc)
            bound[i] = rel * np.sqrt(np.float64(nx)) * q_norm + 1e-30


def ranked(op: int, x: np.ndarray, query: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(approximate metric, error bound)`` per row of the float32 block ``x`` (``n, d``)
    against ``query`` (COSINE, DOT or L2): a fast first pass for top-k, whose rows within
    the bound of the k-th are scored again exactly by ``run``."""
    q = np.asarray(query, dtype=np.float64)
    q_norm = float(np.sqrt(q @ q))
    if op == COSINE:
        q = q / q_norm if q_norm > 0.0 else q
    n = x.shape[0]
    out = np.empty(n, dtype=np.float64)
    bound = np.empty(n, dtype=np.float64)
    args = (op, x, q.astype(np.float32), q_norm, ranking_error(x.shape[1]), valid, out, bound)
    if _threading_layer() == "workqueue":
        with _launch_lock:
            _ranked(*args)
    else:
        _ranked(*args)
    return out, bound
