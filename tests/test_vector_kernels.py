"""Vector kernels against the NumPy reference (Hypothesis), on the CPU and, if present, the GPU.

Tolerance: the kernels sum in float64 over the exact element values, so each result is
within 1e-9 of the reference relative to the magnitude of what was summed (the sum of
|a_i * b_i| for DOT, the norms for NORM/L2, 1 for cosine). NULL in the kernel output
corresponds to NULL input rows and, for the cosine, to the reference's NaN (zero norm).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from udfs import kernels_cpu, vector
from udfs.arrow_rows import rows_from_arrow
from udfs.vector import FUNCTIONS

DTYPES = {"float16": pa.float16(), "float32": pa.float32(), "float64": pa.float64()}
RTOL = 1e-9

elements = st.floats(min_value=-100.0, max_value=100.0, allow_nan=False, allow_subnormal=False)


@st.composite
def vector_columns(draw):
    """Two aligned list columns of one dimension, their rows as float64 arrays, the dimension.

    Layout (fixed-size or variable list), element type, NULL rows, zero vectors and a
    non-zero slice offset are all drawn.
    """
    dtype = draw(st.sampled_from(sorted(DTYPES)))
    fixed = draw(st.booleans())
    n = draw(st.integers(min_value=0, max_value=12))
    dim = draw(st.integers(min_value=0 if not fixed else 1, max_value=24))
    sides = []
    for _ in range(2):
        rows = []
        for _ in range(n):
            kind = draw(st.sampled_from(["value", "value", "value", "zero", "null"]))
            if kind == "null":
                rows.append(None)
            elif kind == "zero":
                rows.append([0.0] * dim)
            else:
                rows.append(draw(st.lists(elements, min_size=dim, max_size=dim)))
        sides.append(rows)
    pad = draw(st.integers(min_value=0, max_value=3))
    arrow_type = pa.list_(DTYPES[dtype], dim) if fixed else pa.list_(DTYPES[dtype])
    arrays = []
    for rows in sides:
        # Pad both ends and slice back, so buffers start at a non-zero offset.
        filler = [[1.0] * dim] * pad
        padded = pa.array(filler + rows + filler, type=arrow_type)
        arrays.append(padded.slice(pad, n))
    return arrays, [_rounded(rows, dtype) for rows in sides], dim


def _rounded(rows, dtype):
    """Rows as float64 arrays holding exactly the values the Arrow dtype stores."""
    return [None if r is None else np.asarray(r, dtype=dtype).astype(np.float64) for r in rows]


def _expected(function, left, right):
    out = []
    for x, y in zip(left, right):
        if x is None or (function.arity == 2 and y is None):
            out.append(None)
            continue
        value = float(function.reference(x) if function.arity == 1 else function.reference(x, y))
        out.append(None if np.isnan(value) else value)
    return out


def _scale(function, x, y):
    if function.name == "dot":
        return float(np.abs(x * y).sum())
    if function.name == "cosine_similarity":
        return 1.0
    if function.name == "norm":
        return float(np.linalg.norm(x))
    return float(np.linalg.norm(x) + np.linalg.norm(y))


def _assert_matches(function, got: pa.Array, left, right):
    want = _expected(function, left, right)
    got = got.to_pylist()
    assert [g is None for g in got] == [w is None for w in want]
    for g, w, x, y in zip(got, want, left, right):
        if w is not None:
            assert abs(g - w) <= RTOL * _scale(function, x, y) + 1e-300, (function.name, g, w)


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.name)
@settings(max_examples=40, deadline=None)
@given(data=vector_columns())
def test_row_against_row_matches_reference(function, data):
    (a, b), (left, right), _dim = data
    got = vector.evaluate(function, a, b) if function.arity == 2 else vector.evaluate(function, a)
    _assert_matches(function, got, left, right)


@pytest.mark.parametrize("function", [f for f in FUNCTIONS if f.arity == 2], ids=lambda f: f.name)
@settings(max_examples=40, deadline=None)
@given(data=vector_columns(), draw=st.data())
def test_row_against_constant_matches_reference(function, data, draw):
    (a, _b), (left, _right), dim = data
    query = np.asarray(draw.draw(st.lists(elements, min_size=dim, max_size=dim)))
    got = vector.evaluate(function, a, query)
    _assert_matches(function, got, left, [query] * len(left))


def test_parallel_kernel_on_many_rows_matches_reference_and_serial():
    rng = np.random.default_rng(7)
    n, dim = 3 * kernels_cpu.PARALLEL_MIN_ROWS, 64
    a = rng.standard_normal((n, dim)).astype(np.float32)
    b = rng.standard_normal((n, dim)).astype(np.float32)
    column = pa.FixedSizeListArray.from_arrays(pa.array(a.ravel()), dim)
    other = pa.FixedSizeListArray.from_arrays(pa.array(b.ravel()), dim)
    for function in FUNCTIONS:
        want = function.reference(a) if function.arity == 1 else function.reference(a, b)
        args = (column,) if function.arity == 1 else (column, other)
        got = vector.evaluate(function, *args).to_numpy(zero_copy_only=False)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
        rows_a, rows_b = rows_from_arrow(column), rows_from_arrow(other)
        runs = [kernels_cpu.run(function.op, rows_a.values, rows_a.starts, rows_a.stops,
                                rows_b.values, rows_b.starts, rows_a.valid, parallel=parallel)
                for parallel in (True, False)]
        assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])


def test_empty_vectors_and_empty_arrays():
    empty_rows = pa.array([[], []], pa.list_(pa.float32()))
    assert vector.dot(empty_rows, empty_rows).to_pylist() == [0.0, 0.0]
    assert vector.norm(empty_rows).to_pylist() == [0.0, 0.0]
    assert vector.l2_distance(empty_rows, empty_rows).to_pylist() == [0.0, 0.0]
    assert vector.cosine_similarity(empty_rows, empty_rows).to_pylist() == [None, None]
    no_rows = pa.array([], pa.list_(pa.float32(), 4))
    assert vector.cosine_similarity(no_rows, [1.0, 2.0, 3.0, 4.0]).to_pylist() == []


def test_nan_and_inf_propagate_but_zero_norm_is_null():
    column = pa.array([[np.nan, 1.0], [np.inf, 1.0], [0.0, 0.0]], pa.list_(pa.float64(), 2))
    got = vector.cosine_similarity(column, [1.0, 1.0]).to_pylist()
    assert np.isnan(got[0]) and np.isnan(got[1]) and got[2] is None
    assert vector.norm(column).to_pylist()[1] == np.inf


def test_float16_is_decoded_exactly():
    halves = np.array([65504.0, -2.0**-24, 0.5, 1.0009765625], dtype=np.float16)
    column = pa.array([halves.tolist()], pa.list_(pa.float16(), 4))
    want = float(np.sum(halves.astype(np.float64) ** 2))
    assert vector.dot(column, column).to_pylist() == [pytest.approx(want, rel=1e-15)]


# ---- GPU: the same properties through the CuPy kernel ---------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.name)
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=vector_columns())
def test_gpu_row_against_row_matches_reference(force_gpu, function, data):
    (a, b), (left, right), _dim = data
    got = vector.evaluate(function, a, b) if function.arity == 2 else vector.evaluate(function, a)
    _assert_matches(function, got, left, right)


@pytest.mark.gpu
@pytest.mark.parametrize("function", [f for f in FUNCTIONS if f.arity == 2], ids=lambda f: f.name)
def test_gpu_constant_and_ranged_rows(force_gpu, function):
    rng = np.random.default_rng(3)
    dense = rng.standard_normal((5000, 96)).astype(np.float32)
    column = pa.FixedSizeListArray.from_arrays(pa.array(dense.ravel()), 96).slice(7, 4000)
    query = rng.standard_normal(96).astype(np.float32)
    want = function.reference(dense[7:4007], query)
    got = vector.evaluate(function, column, query).to_numpy(zero_copy_only=False)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    ragged = pa.array([dense[i, : 1 + i % 96].tolist() for i in range(300)], pa.list_(pa.float32()))
    got = vector.evaluate(function, ragged, ragged).to_pylist()
    want = [float(function.reference(dense[i, : 1 + i % 96], dense[i, : 1 + i % 96]))
            for i in range(300)]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@pytest.fixture
def force_gpu(monkeypatch):
    """Force the GPU path for the duration of a test."""
    monkeypatch.setenv("RAISE_DEVICE", "gpu")
