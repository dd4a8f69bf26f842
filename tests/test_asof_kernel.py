"""The as-of join kernel against its NumPy lexsort + searchsorted reference (Hypothesis)."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from udfs.asof import asof_match, asof_reference


@st.composite
def sides(draw):
    keys = draw(st.integers(1, 6))
    left, right = draw(st.integers(0, 40)), draw(st.integers(0, 60))
    ints = lambda n, lo, hi: np.array(draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n)), dtype=np.int64)
    return (keys, ints(left, -1, keys - 1), ints(left, -3, 12), ints(right, -1, keys - 1), ints(right, 0, 10),
            np.array(draw(st.permutations(range(right))), dtype=np.int64))


@settings(max_examples=300, deadline=None)
@given(sides(), st.booleans())
def test_kernel_equals_the_numpy_reference(data, strict):
    keys, lk, lt, rk, rt, order = data
    got = asof_match(lk, lt, rk, rt, order, keys, strict)
    assert got.tolist() == asof_reference(lk, lt, rk, rt, order, strict).tolist()


def test_ties_go_to_the_row_written_last_and_nulls_match_nothing():
    # right rows of key 0 at time 5 written in order 3, 9, 1: the one stamped 9 wins
    got = asof_match(np.array([0, 0, -1]), np.array([5, 4, 5]), np.array([0, 0, 0, -1]), np.array([5, 5, 5, 1]),
                     np.array([3, 9, 1, 0]), 1, strict=False)
    assert got.tolist() == [1, -1, -1]
    assert asof_match(np.array([0]), np.array([5]), np.array([0]), np.array([5]), np.array([0]), 1, True).tolist() == [-1]
