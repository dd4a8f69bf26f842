"""CuPy kernels for the vector functions (imported only where a CUDA device is in use).

One CUDA kernel covers all four functions: a warp per row, each lane striding through the
row (coalesced 128-byte reads), float64 sums reduced with warp shuffles. Rows are either a
dense ``(n, dim)`` block (fixed-size lists, resident columns; no index arrays needed) or
ranges given by ``starts``/``stops`` (variable-length lists). A constant second operand is a
dense block with row step 0. float16 arrives as ``uint16`` bits and is decoded in the kernel.

Host data reaches the device through :class:`PinnedStager`: pageable copies ran ~2.2 GB/s on
an H200 against ~55 GB/s from pinned memory, so host buffers are staged through two pinned
chunks while the previous chunk's copy is in flight.
"""
from __future__ import annotations

import functools
import threading

import cupy as cp
import numpy as np

from udfs.arrow_rows import Rows
from udfs.kernels_cpu import COSINE, DOT, L2, NORM

_SOURCE = r"""
#define OP_DOT %(dot)d
#define OP_COSINE %(cosine)d
#define OP_L2 %(l2)d
#define OP_NORM %(norm)d

__device__ __forceinline__ double widen(float x) { return (double)x; }
__device__ __forceinline__ double widen(double x) { return x; }
__device__ __forceinline__ double widen(unsigned short h) {
    int exponent = (h >> 10) & 0x1f;
    int mantissa = h & 0x3ff;
    double v;
    if (exponent == 0) {
        v = ldexp((double)mantissa, -24);
    } else if (exponent == 31) {
        v = __longlong_as_double(mantissa ? 0x7ff8000000000000LL : 0x7ff0000000000000LL);
    } else {
        v = ldexp((double)(mantissa | 0x400), exponent - 25);
    }
    return (h & 0x8000) ? -v : v;
}

__device__ __forceinline__ double warp_sum(double v) {
    for (int offset = 16; offset > 0; offset >>= 1) {
        v += __shfl_down_sync(0xffffffff, v, offset);
    }
    return v;
}

// ranged != 0: row i spans a[a_start[i] .. a_stop[i]) and b from b_start[i].
// ranged == 0: row i is a[i * dim ..][:dim] and b[i * b_step ..][:dim].
template <typename T>
__global__ void vector_rows(int op, int ranged, const T* a, const long long* a_start,
                            const long long* a_stop, const T* b, const long long* b_start,
                            long long dim, long long b_step, const unsigned char* valid,
                            long long n, double* out, unsigned char* out_valid) {
    long long row = (blockIdx.x * (long long)blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (row >= n) return;
    if (!valid[row]) {
        if (lane == 0) { out[row] = 0.0; out_valid[row] = 0; }
        return;
    }
    long long sa = ranged ? a_start[row] : row * dim;
    long long m = ranged ? a_stop[row] - sa : dim;
    long long sb = ranged ? b_start[row] : row * b_step;
    double s0 = 0.0, s1 = 0.0, s2 = 0.0;
    for (long long k = lane; k < m; k += 32) {
        double x = widen(a[sa + k]);
        double y = op == OP_NORM ? x : widen(b[sb + k]);
        if (op == OP_L2) { double d = x - y; s0 += d * d; }
        else { s0 += x * y; s1 += x * x; s2 += y * y; }
    }
    s0 = warp_sum(s0);
    s1 = warp_sum(s1);
    s2 = warp_sum(s2);
    if (lane != 0) return;
    unsigned char ok = 1;
    double r;
    if (op == OP_DOT) r = s0;
    else if (op == OP_NORM) r = sqrt(s0);
    else if (op == OP_L2) r = sqrt(s0);
    else if (s1 == 0.0 || s2 == 0.0) { r = 0.0; ok = 0; }
    else r = s0 / (sqrt(s1) * sqrt(s2));
    out[row] = r;
    out_valid[row] = ok;
}
""" % {"dot": DOT, "cosine": COSINE, "l2": L2, "norm": NORM}

_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double",
          np.dtype(np.uint16): "unsigned short"}
_WARPS_PER_BLOCK = 8


@functools.cache
def _module() -> cp.RawModule:
    names = [f"vector_rows<{t}>" for t in _TYPES.values()]
    return cp.RawModule(code=_SOURCE, options=("-std=c++14",), name_expressions=names)


def _kernel(dtype: np.dtype) -> cp.RawKernel:
    return _module().get_function(f"vector_rows<{_TYPES[np.dtype(dtype)]}>")


def launch(op: int, a: cp.ndarray, b: cp.ndarray, valid: cp.ndarray, *, dim: int,
           b_step: int, ranges: tuple[cp.ndarray, cp.ndarray, cp.ndarray] | None = None
           ) -> tuple[cp.ndarray, cp.ndarray]:
    """Run the kernel on device arrays; return device ``(values float64, valid uint8)``.

    Dense rows when ``ranges`` is None: row ``i`` is ``a[i*dim:(i+1)*dim]`` against
    ``b[i*b_step:][:dim]`` (``b_step=0`` for a constant vector). Otherwise ``ranges`` is
    ``(a_start, a_stop, b_start)`` as int64 device arrays.
    """
    n = int(valid.shape[0])
    out = cp.empty(n, dtype=cp.float64)
    out_valid = cp.empty(n, dtype=cp.uint8)
    if n == 0:
        return out, out_valid
    dummy = cp.zeros(1, dtype=cp.int64)
    a_start, a_stop, b_start = ranges if ranges is not None else (dummy, dummy, dummy)
    threads = 32 * _WARPS_PER_BLOCK
    blocks = (n + _WARPS_PER_BLOCK - 1) // _WARPS_PER_BLOCK
    _kernel(a.dtype)(
        (blocks,), (threads,),
        (np.int32(op), np.int32(ranges is not None), a, a_start, a_stop, b, b_start,
         np.int64(dim), np.int64(b_step), valid, np.int64(n), out, out_valid),
    )
    return out, out_valid


class PinnedStager:
    """Host-to-device copies through two pinned chunks, double-buffered on one stream."""

    def __init__(self, chunk_bytes: int = 64 << 20) -> None:
        self._chunk = chunk_bytes
        self._pinned = [cp.cuda.alloc_pinned_memory(chunk_bytes) for _ in range(2)]
        self._views = [np.frombuffer(p, dtype=np.uint8, count=chunk_bytes) for p in self._pinned]
        self._done = [cp.cuda.Event(), cp.cuda.Event()]
        self._stream = cp.cuda.Stream(non_blocking=True)
        self._lock = threading.Lock()

    def upload(self, host: np.ndarray) -> cp.ndarray:
        """A device copy of the contiguous ``host`` array (same dtype and shape)."""
        host = np.ascontiguousarray(host)
        device = cp.empty(host.shape, dtype=host.dtype)
        source = host.reshape(-1).view(np.uint8)
        with self._lock:
            for index, start in enumerate(range(0, source.shape[0], self._chunk)):
                slot = index % 2
                piece = source[start:start + self._chunk]
                self._done[slot].synchronize()
                self._views[slot][:piece.shape[0]] = piece
                cp.cuda.runtime.memcpyAsync(device.data.ptr + start, self._pinned[slot].ptr,
                                            piece.shape[0], cp.cuda.runtime.memcpyHostToDevice,
                                            self._stream.ptr)
                self._done[slot].record(self._stream)
            self._stream.synchronize()
        return device


@functools.cache
def stager() -> PinnedStager:
    """The process's staging buffers (allocated on first use)."""
    return PinnedStager()


def run(op: int, left: Rows, left_values: np.ndarray, right: Rows, right_values: np.ndarray,
        valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate ``op`` on host rows; resident buffers are used in place, others staged.

    Only the span of each value buffer that the rows cover travels (a DataFusion batch is
    often a slice of a much larger buffer).
    """
    from udfs import resident

    n = len(left)
    if n == 0:
        return np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.bool_)
    cache = resident.cache()
    valid_dev = cp.asarray(valid.view(np.uint8))
    dim = left.uniform_dim()
    unary = right is left
    if dim is not None and (unary or right.repeated or right.uniform_dim() == dim):
        a_dev = _span(cache, left_values, int(left.starts[0]), n * dim)
        rows_b = 1 if right.repeated else n
        b_dev = a_dev if unary else _span(cache, right_values, int(right.starts[0]), rows_b * dim)
        out, ok = launch(op, a_dev, b_dev, valid_dev, dim=dim,
                         b_step=0 if right.repeated else dim)
    else:
        a_dev, a_start, a_stop = _ranged(cache, left_values, left)
        b_dev, b_start = (a_dev, a_start) if unary else _ranged(cache, right_values, right)[:2]
        out, ok = launch(op, a_dev, b_dev, valid_dev, dim=0, b_step=0,
                         ranges=(a_start, a_stop, b_start))
    return cp.asnumpy(out), cp.asnumpy(ok).view(np.bool_)


def _span(cache, values: np.ndarray, start: int, count: int) -> cp.ndarray:
    """Device array for ``values[start:start + count]``: a resident view, else a staged copy."""
    host = values[start:start + count]
    found = cache.lookup(host)
    return found if found is not None else stager().upload(host)


def _ranged(cache, values: np.ndarray, rows: Rows) -> tuple[cp.ndarray, cp.ndarray, cp.ndarray]:
    """Device values covering every row, with row bounds rebased onto that span."""
    low = int(rows.starts.min())
    high = max(int(rows.stops.max()), low)
    span = _span(cache, values, low, high - low)
    return span, cp.asarray(rows.starts - low), cp.asarray(rows.stops - low)
