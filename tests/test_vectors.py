"""The vector functions' Arrow API: documented values, NULLs, layouts, errors, devices."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from grammar.errors import RaiseError, TypeMismatch, Unsupported
from udfs import device, vector
from udfs.arrow_rows import rows_from_arrow
from udfs.errors import DimensionMismatch, InvalidDevice, NotAVector, from_datafusion


def test_documented_values():
    a = pa.array([[3.0, 4.0], [1.0, 0.0], None], pa.list_(pa.float32(), 2))
    b = pa.array([[3.0, 4.0], [0.0, 1.0], [1.0, 1.0]], pa.list_(pa.float32(), 2))
    assert vector.dot(a, b).to_pylist() == [25.0, 0.0, None]
    assert vector.cosine_similarity(a, b).to_pylist() == [pytest.approx(1.0), 0.0, None]
    assert vector.l2_distance(a, b).to_pylist() == [0.0, pytest.approx(2 ** 0.5), None]
    assert vector.norm(a).to_pylist() == [5.0, 1.0, None]


def test_results_are_float64_whatever_the_element_type():
    for element in (pa.float16(), pa.float32(), pa.float64()):
        column = pa.array([[1.0, 2.0]], pa.list_(element, 2))
        result = vector.dot(column, column)
        assert result.type == pa.float64() and result.to_pylist() == [5.0]


def test_constant_may_be_a_list_ndarray_or_arrow_scalar():
    column = pa.array([[1.0, 2.0], [3.0, 4.0]], pa.list_(pa.float64()))
    for query in ([1.0, 1.0], np.array([1, 1], dtype=np.int32),
                  pa.scalar([1.0, 1.0], pa.list_(pa.float32())), np.ones(2, np.float16)):
        assert vector.dot(column, query).to_pylist() == [3.0, 7.0]


def test_mixed_element_types_widen_to_float64():
    halves = pa.array([[0.5, 0.25]], pa.list_(pa.float16(), 2))
    doubles = pa.array([[2.0, 4.0]], pa.list_(pa.float64()))
    assert vector.dot(halves, doubles).to_pylist() == [2.0]


def test_null_elements_make_the_row_null():
    column = pa.array([[1.0, None], [1.0, 2.0]], pa.list_(pa.float32()))
    assert vector.norm(column).to_pylist() == [None, pytest.approx(5 ** 0.5)]


def test_sliced_fixed_size_list_honours_offset_and_validity():
    values = pa.array(np.arange(12, dtype=np.float32))
    mask = pa.array([False, True, False, False])
    column = pa.FixedSizeListArray.from_arrays(values, 3, mask=mask)
    tail = column.slice(1)
    assert vector.norm(tail).to_pylist() == [None, pytest.approx(np.linalg.norm([6, 7, 8])),
                                             pytest.approx(np.linalg.norm([9, 10, 11]))]


def test_rows_alias_the_arrow_buffer():
    column = pa.array(np.arange(8, dtype=np.float32)).slice(2)
    nested = pa.FixedSizeListArray.from_arrays(column, 3)
    rows = rows_from_arrow(nested)
    assert np.shares_memory(rows.values, np.frombuffer(column.buffers()[1], dtype=np.float32))
    assert rows.values[rows.starts[0]] == 2.0 and rows.uniform_dim() == 3


def test_chunked_columns_with_different_chunking_line_up():
    a = pa.chunked_array([pa.array([[1.0], [2.0]]), pa.array([[3.0]])])
    b = pa.chunked_array([pa.array([[1.0]]), pa.array([[1.0], [2.0]])])
    result = vector.dot(a, b)
    assert isinstance(result, pa.ChunkedArray) and result.to_pylist() == [1.0, 2.0, 6.0]
    assert vector.dot(a, [2.0]).to_pylist() == [2.0, 4.0, 6.0]


def test_dimension_mismatch_names_both_sizes():
    a = pa.array([[1.0, 2.0], [1.0, 2.0, 3.0]], pa.list_(pa.float32()))
    with pytest.raises(DimensionMismatch) as caught:
        vector.cosine_similarity(a, [1.0, 2.0])
    assert "3 and 2" in str(caught.value) and "COSINE_SIMILARITY" in str(caught.value)
    assert caught.value.code == "RAISE-V021" and isinstance(caught.value, TypeMismatch)


def test_null_rows_are_not_checked_for_dimension():
    a = pa.array([None, [1.0, 2.0]], pa.list_(pa.float32()))
    b = pa.array([[1.0, 2.0, 3.0], [1.0, 1.0]], pa.list_(pa.float32()))
    assert vector.dot(a, b).to_pylist() == [None, 3.0]


def test_non_vector_arguments_are_rejected():
    with pytest.raises(NotAVector):
        vector.norm(pa.array([1.0, 2.0]))
    with pytest.raises(NotAVector):
        vector.dot(pa.array([["a"]]), ["b"])
    with pytest.raises(NotAVector):
        vector.dot(pa.array([[1.0]]), [[1.0]])


def test_integer_vectors_are_accepted():
    column = pa.array([[1, 2], [3, 4]], pa.list_(pa.int64()))
    assert vector.dot(column, [1, 1]).to_pylist() == [3.0, 7.0]


def test_numpy_references():
    a = np.array([[3.0, 4.0], [0.0, 0.0]])
    assert vector.norm_np(a).tolist() == [5.0, 0.0]
    assert vector.dot_np(a, [1.0, 1.0]).tolist() == [7.0, 0.0]
    assert vector.l2_distance_np(a, [3.0, 0.0]).tolist() == [4.0, 3.0]
    cosine = vector.cosine_similarity_np(a, [3.0, 4.0])
    assert cosine[0] == pytest.approx(1.0) and np.isnan(cosine[1])


def test_device_mode_is_validated(monkeypatch):
    monkeypatch.setenv("RAISE_DEVICE", "tpu")
    with pytest.raises(InvalidDevice):
        device.device_mode()
    monkeypatch.setenv("RAISE_DEVICE", "CPU")
    assert device.device_mode() == "cpu" and not device.use_gpu(1 << 40, resident=True)


def test_forcing_gpu_without_a_device_is_unsupported(monkeypatch):
    if device.gpu_available():
        pytest.skip("a CUDA device is present")
    monkeypatch.setenv("RAISE_DEVICE", "gpu")
    with pytest.raises(Unsupported):
        vector.norm(pa.array([[1.0]]))


def test_auto_mode_without_a_device_runs_on_the_cpu(monkeypatch):
    monkeypatch.setenv("RAISE_DEVICE", "auto")
    if not device.gpu_available():
        assert not device.use_gpu(1 << 40, resident=True)
    assert vector.norm(pa.array([[3.0, 4.0]])).to_pylist() == [5.0]


def test_error_recovered_from_datafusion_text():
    text = ("DataFusion error: Execution error: PyErr { type: "
            "<class 'udfs.errors.DimensionMismatch'>, value: DimensionMismatch('DOT: vector dimensions differ: 2 and 3 (row 0)'), tr }")
    error = from_datafusion(Exception(text))
    assert isinstance(error, DimensionMismatch) and error.message.endswith("2 and 3 (row 0)")
    assert from_datafusion(Exception("Error during planning: no such column")) is None
    already = RaiseError("x")
    assert from_datafusion(already) is already


# ---- GPU: resident columns and staged uploads ----------------------------------------------

@pytest.mark.gpu
def test_resident_column_is_found_by_host_address(monkeypatch):
    from udfs.resident import ColumnKey, ResidentCache

    monkeypatch.setenv("RAISE_DEVICE", "auto")
    rng = np.random.default_rng(5)
    matrix = rng.standard_normal((4096, 32)).astype(np.float32)
    column = pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), 32)
    cache = ResidentCache(budget_bytes=1 << 30)
    key = ColumnKey("acme/ml/rec/items", 3, "embedding")
    entry = cache.load(key, pa.chunked_array([column.slice(0, 2048), column.slice(2048)]))
    assert cache.get(key) is entry and entry.nbytes == matrix.nbytes
    piece = rows_from_arrow(column.slice(100, 50))
    view = cache.lookup(piece.values[piece.starts[0]:piece.stops[-1]])
    assert view is not None and np.array_equal(view.get(), matrix[100:150].ravel())
    assert cache.lookup(np.zeros(4, dtype=np.float32)) is None
    assert cache.invalidate("acme/ml/rec/items", keep_version=3) == 0
    assert cache.invalidate("acme/ml/rec/items") == 1 and cache.keys() == []


@pytest.mark.gpu
def test_auto_mode_uses_resident_data_and_matches_the_cpu(monkeypatch):
    from udfs import resident

    rng = np.random.default_rng(6)
    matrix = rng.standard_normal((10_000, 64)).astype(np.float32)
    column = pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), 64)
    query = rng.standard_normal(64).astype(np.float32)
    monkeypatch.setenv("RAISE_DEVICE", "cpu")
    on_cpu = vector.cosine_similarity(column.slice(10), query).to_numpy(zero_copy_only=False)
    monkeypatch.setenv("RAISE_DEVICE", "auto")
    resident.cache().load(resident.ColumnKey("t", 1, "emb"), column)
    rows = rows_from_arrow(column.slice(10))
    assert device.use_gpu(0, resident=vector._is_resident(rows, rows.values))
    on_gpu = vector.cosine_similarity(column.slice(10), query).to_numpy(zero_copy_only=False)
    np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-12)
    resident.cache().invalidate("t")


@pytest.mark.gpu
def test_pinned_stager_uploads_in_chunks():
    from udfs.kernels_gpu import PinnedStager

    host = np.arange(1_000_003, dtype=np.float32)
    device_copy = PinnedStager(chunk_bytes=1 << 16).upload(host)
    assert np.array_equal(device_copy.get(), host)
