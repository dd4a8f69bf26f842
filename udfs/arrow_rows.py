"""Zero-copy views of Arrow list columns as rows of a flat value buffer.

A :class:`Rows` describes ``n`` vectors as ranges of one 1-D NumPy array that aliases the
Arrow child buffer: ``values[starts[i]:stops[i]]`` is row ``i``. Fixed-size lists, lists and
large lists, sliced or not, with or without NULL rows, all map onto it without copying the
values (only the small per-row ``starts``/``stops``/``valid`` arrays are built).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from udfs.errors import DimensionMismatch, NotAVector

#: Arrow element type -> dtype of the NumPy view (float16 travels as its bit pattern).
_VIEW_DTYPE = {
    pa.float16(): np.dtype(np.uint16),
    pa.float32(): np.dtype(np.float32),
    pa.float64(): np.dtype(np.float64),
}


@dataclass(frozen=True, slots=True)
class Rows:
    """``n`` vectors as ranges of ``values``; ``valid[i]`` is False for a NULL row.

    ``values`` is ``uint16`` (float16 bit patterns), ``float32`` or ``float64``.
    ``repeated`` marks rows that all read the one vector ``values[0:stops[0]]``.
    """

    values: np.ndarray
    starts: np.ndarray
    stops: np.ndarray
    valid: np.ndarray
    repeated: bool = False

    def __len__(self) -> int:
        return int(self.starts.shape[0])

    @property
    def lengths(self) -> np.ndarray:
        """Number of elements in each row."""
        return self.stops - self.starts

    def uniform_dim(self) -> int | None:
        """The common length of the non-NULL rows when they form one dense block, else None.

        Dense means row ``i`` starts exactly where row ``i - 1`` ends, so the values from
        ``starts[0]`` reshape to ``(n, dim)``; fixed-size lists always qualify.
        """
        n = len(self)
        if n == 0:
            return None
        dim = int(self.stops[0] - self.starts[0])
        if int(self.stops[-1] - self.starts[0]) != n * dim:
            return None
        return dim if bool(np.all(self.lengths == dim)) else None


def rows_from_arrow(array: pa.Array, *, function: str = "vector") -> Rows:
    """View a ``FixedSizeList``/``List``/``LargeList`` array of floats as :class:`Rows`.

    Integer elements are converted to float64 (a copy); float elements are not copied.
    A row containing a NULL element is treated as a NULL row.
    """
    kind = array.type
    if not (pa.types.is_fixed_size_list(kind) or pa.types.is_list(kind)
            or pa.types.is_large_list(kind)):
        raise NotAVector(f"{function.upper()} expects vectors (lists of numbers), got {kind}",
                         name=function)
    child = array.values
    values = _element_view(child, function)
    n = len(array)
    if pa.types.is_fixed_size_list(kind):
        dim = kind.list_size
        starts = (np.arange(n, dtype=np.int64) + array.offset) * dim
        stops = starts + dim
    else:
        width = np.int32 if pa.types.is_list(kind) else np.int64
        offsets = np.frombuffer(array.buffers()[1], dtype=width)[array.offset:array.offset + n + 1]
        starts = offsets[:-1].astype(np.int64)
        stops = offsets[1:].astype(np.int64)
    valid = _bitmap(array.buffers()[0], array.offset, n)
    if child.null_count:
        valid &= ~_rows_with_null_element(child, starts, stops)
    return Rows(values=values, starts=starts, stops=stops, valid=valid)


def constant_rows(vector: np.ndarray, n: int) -> Rows:
    """``n`` rows that all read the same 1-D ``vector`` (no repetition in memory)."""
    dim = vector.shape[0]
    return Rows(
        values=vector,
        starts=np.zeros(n, dtype=np.int64),
        stops=np.full(n, dim, dtype=np.int64),
        valid=np.ones(n, dtype=np.bool_),
        repeated=True,
    )


def as_vector(value, *, function: str = "vector") -> np.ndarray:
    """A constant query vector (sequence, ndarray, Arrow list scalar) as a 1-D float array."""
    if isinstance(value, pa.Scalar):
        value = value.values
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        value = value.to_numpy(zero_copy_only=False)
    vector = np.asarray(value)
    if vector.ndim != 1 or not (np.issubdtype(vector.dtype, np.number)):
        raise NotAVector(f"{function.upper()} expects a 1-D numeric vector, got shape "
                         f"{vector.shape} of {vector.dtype}", name=function)
    if vector.dtype == np.float16:
        return vector.view(np.uint16)
    if vector.dtype in (np.float32, np.float64):
        return vector
    return vector.astype(np.float64)


def unify(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Give two value buffers one dtype, widening to float64 only when they differ."""
    if a.dtype == b.dtype:
        return a, b
    return _as_float64(a), _as_float64(b)


def check_dims(a: Rows, b: Rows, function: str) -> np.ndarray:
    """Rows valid on both sides; raise :class:`DimensionMismatch` naming both sizes."""
    valid = a.valid & b.valid
    bad = valid & (a.lengths != b.lengths)
    if bad.any():
        row = int(np.argmax(bad))
        left, right = int(a.lengths[row]), int(b.lengths[row])
        raise DimensionMismatch(
            f"{function.upper()}: vector dimensions differ: {left} and {right} (row {row})",
            name=function,
        )
    return valid


def to_float64_array(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    """A float64 Arrow array over ``values`` (no copy) with NULLs where ``valid`` is False."""
    n = values.shape[0]
    bitmap = None
    if not valid.all():
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.float64(), n, [bitmap, pa.py_buffer(values)])


def _as_float64(values: np.ndarray) -> np.ndarray:
    if values.dtype == np.uint16:
        return values.view(np.float16).astype(np.float64)
    return values.astype(np.float64)


def _element_view(child: pa.Array, function: str) -> np.ndarray:
    dtype = _VIEW_DTYPE.get(child.type)
    if dtype is None:
        if pa.types.is_integer(child.type) or pa.types.is_decimal(child.type):
            return child.cast(pa.float64()).fill_null(0).to_numpy()
        raise NotAVector(f"{function.upper()} expects numeric vector elements, got "
                         f"{child.type}", name=function)
    start = child.offset
    data = child.buffers()[1]
    if data is None:
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(data, dtype=dtype, count=start + len(child))[start:]


def _bitmap(buffer: pa.Buffer | None, offset: int, n: int) -> np.ndarray:
    if buffer is None:
        return np.ones(n, dtype=np.bool_)
    bits = np.unpackbits(np.frombuffer(buffer, dtype=np.uint8), bitorder="little")
    return bits[offset:offset + n].astype(np.bool_)


def _rows_with_null_element(child: pa.Array, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    missing = ~_bitmap(child.buffers()[0], child.offset, len(child))
    before = np.concatenate(([0], np.cumsum(missing, dtype=np.int64)))
    return before[stops] > before[starts]
