"""The as-of join kernel: for each left row, the latest right row of the same key at or before
its time.

``asof_match(left_keys, left_times, right_keys, right_times, right_order, key_count, strict)``
takes dense key ids (``-1``: a NULL key or time, which matches nothing) and int64 times, and
returns for each left row the index of its right row, or ``-1``. Among right rows of one key
with the same time, the one with the highest ``right_order`` (write order) wins, as the newest.

It is a sort-merge per key: both sides are bucketed by key with a counting sort (linear), each
bucket is sorted by time unless it already is (rows are usually written in time order), and
one merge pass per key finds the matches. Keys are independent, so the per-key work runs in
parallel. Memory: the inputs and two int64 arrays the size of each side (bucket order, and
starts per key); a bucket's sort scratch is the bucket's size.

>>> import numpy as np
>>> asof_match(np.array([0, 0, 1]), np.array([5, 1, 9]), np.array([0, 0, 0]),
...            np.array([1, 5, 5]), np.array([0, 2, 1]), 2, False).tolist()
[1, 0, -1]
"""
from __future__ import annotations

import os
import tempfile

import numba
import numpy as np
from numba import njit, prange

if not numba.config.CACHE_DIR and not os.access(os.path.dirname(__file__), os.W_OK):
    numba.config.CACHE_DIR = os.path.join(tempfile.gettempdir(), "raise-numba-cache")

__all__ = ["asof_match", "asof_reference"]


@njit(cache=True, nogil=True)
def _buckets(keys, key_count):
    """Row indices grouped by key (counting sort, stable) and each key's start offset."""
    starts = np.zeros(key_count + 1, dtype=np.int64)
    for k in keys:
        if k >= 0:
            starts[k + 1] += 1
    for k in range(key_count):
        starts[k + 1] += starts[k]
    fill = starts[:-1].copy()
    order = np.empty(starts[key_count], dtype=np.int64)
    for row in range(keys.shape[0]):
        k = keys[row]
        if k >= 0:
            order[fill[k]] = row
            fill[k] += 1
    return order, starts


@njit(cache=True, nogil=True)
def _before(a, b, times, ranks):
    """Whether row ``a`` sorts before row ``b``: by time, then by rank."""
    return times[a] < times[b] or (times[a] == times[b] and ranks[a] < ranks[b])


@njit(cache=True, nogil=True)
def _sort_bucket(order, start, end, times, ranks):
    """Sort ``order[start:end]`` by (time, rank): a stable bottom-up merge sort, skipped when
    the bucket is already in order (its scratch is the bucket's size, so sorting costs no
    memory the size of the side)."""
    ordered = True
    for i in range(start + 1, end):
        if _before(order[i], order[i - 1], times, ranks):
            ordered = False
            break
    if ordered:
        return
    width = 1
    n = end - start
    scratch = np.empty(n, dtype=order.dtype)
    while width < n:
        for lo in range(start, end, 2 * width):
            mid, hi = min(lo + width, end), min(lo + 2 * width, end)
            i, j, out = lo, mid, lo
            while i < mid and j < hi:
                if _before(order[j], order[i], times, ranks):
                    scratch[out - start] = order[j]
                    j += 1
                else:
                    scratch[out - start] = order[i]
                    i += 1
                out += 1
            while i < mid:
                scratch[out - start] = order[i]
                i += 1
                out += 1
            while j < hi:
                scratch[out - start] = order[j]
                j += 1
                out += 1
        order[start:end] = scratch
        width *= 2


@njit(cache=True, nogil=True, parallel=True)
def _merge(left_order, left_starts, left_times, right_order, right_starts, right_times, right_ranks,
           strict, matches):
    key_count = left_starts.shape[0] - 1
    left_ranks = np.arange(left_times.shape[0])
    for k in prange(key_count):
        lo, hi = left_starts[k], left_starts[k + 1]
        if lo == hi:
            continue
        rlo, rhi = right_starts[k], right_starts[k + 1]
        _sort_bucket(left_order, lo, hi, left_times, left_ranks)
        _sort_bucket(right_order, rlo, rhi, right_times, right_ranks)
        r, found = rlo, -1
        for i in range(lo, hi):
            row = left_order[i]
            t = left_times[row]
            while r < rhi and (right_times[right_order[r]] < t or
                               (not strict and right_times[right_order[r]] == t)):
                found = right_order[r]
                r += 1
            matches[row] = found


def asof_match(left_keys: np.ndarray, left_times: np.ndarray, right_keys: np.ndarray,
               right_times: np.ndarray, right_order: np.ndarray, key_count: int,
               strict: bool) -> np.ndarray:
    """For each left row, the index of the right row it joins, or -1 (see the module doc).

    ``strict``: the right time must be before the left time (``>`` rather than ``>=``).
    """
    left_keys, right_keys = _int64(left_keys), _int64(right_keys)
    matches = np.full(left_keys.shape[0], -1, dtype=np.int64)
    if key_count == 0 or left_keys.shape[0] == 0:
        return matches
    left_rows, left_starts = _buckets(left_keys, key_count)
    right_rows, right_starts = _buckets(right_keys, key_count)
    _merge(left_rows, left_starts, _int64(left_times), right_rows, right_starts, _int64(right_times),
           _int64(right_order), bool(strict), matches)
    return matches


def asof_reference(left_keys: np.ndarray, left_times: np.ndarray, right_keys: np.ndarray,
                   right_times: np.ndarray, right_order: np.ndarray, strict: bool) -> np.ndarray:
    """The same matches computed with NumPy alone (``lexsort`` + ``searchsorted``): the
    reference the kernel is tested and benchmarked against (keys times the time span must
    fit in int64)."""
    valid = np.flatnonzero(right_keys >= 0)
    order = valid[np.lexsort((right_order[valid], right_times[valid], right_keys[valid]))]
    if order.size == 0:
        return np.full(left_keys.shape[0], -1, dtype=np.int64)
    keys, times = right_keys[order], right_times[order]
    # one sortable int64 per (key, time): position just after the last right row <= the probe
    every = np.concatenate([times, left_times])
    low = every.min() if every.size else 0
    span = (every.max() - low + 1) if every.size else 1
    combined = keys * span + (times - low)
    probe = left_keys * span + (left_times - low)
    position = np.searchsorted(combined, probe, side="left" if strict else "right") - 1
    hit = (position >= 0) & (left_keys >= 0)
    hit[hit] &= keys[position[hit]] == left_keys[hit]
    return np.where(hit, order[np.maximum(position, 0)], -1).astype(np.int64)


def _int64(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.int64)
