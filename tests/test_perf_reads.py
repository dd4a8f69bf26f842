"""Cold and warm reads of a feature group: the same rows, nulls and types, however the Delta
files were written (sliced batches, many small appends, upserts) and whichever path reads them."""
from __future__ import annotations

import glob

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from raise_.engine import Engine, registry
from raise_.engine.cache import TableCache
from raise_.engine.query import as_view_types

DIM = 8
PROJECT = ("acme", "ml", "rec")
SETUP = ("CREATE ORGANIZATION acme; CREATE DOMAIN acme/ml; CREATE PROJECT acme/ml/rec; USE acme/ml/rec; "
         "CREATE FEATURE GROUP items KEY (item_id INT64); "
         f"CREATE FEATURE items.emb FLOAT32[{DIM}]; CREATE FEATURE items.score FLOAT64; "
         "CREATE FEATURE items.tag STRING; CREATE FEATURE items.tags STRING[]")
QUERY = "SELECT item_id, emb, score, tag, tags FROM items ORDER BY item_id"


def _rows(start: int, count: int) -> pa.Table:
    """Rows with a null in every column now and then, embeddings included."""
    rng = np.random.default_rng(start)
    ids = np.arange(start, start + count, dtype=np.int64)
    values = rng.standard_normal((count, DIM), dtype=np.float32)
    emb = pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), DIM,
                                            mask=pa.array(ids % 7 == 3))
    return pa.table({
        "item_id": ids,
        "emb": emb,
        "score": pa.array(rng.standard_normal(count), mask=ids % 5 == 1),
        "tag": pa.array([None if i % 4 == 2 else f"t{i % 3}" for i in ids]),
        "tags": pa.array([None if i % 6 == 0 else [f"a{i}", "b"] for i in ids]),
    })


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A group written as slices of one table (offsets into shared buffers), small appends and
    an upsert; and the rows it must hold afterwards."""
    home = tmp_path_factory.mktemp("perf-reads")
    session = Engine(home).session(project=PROJECT)
    session.execute(SETUP)
    whole = _rows(0, 3000)
    for start in range(0, 2000, 700):  # sliced batches: chunk offsets are not zero
        session.ingest("items", whole.slice(start, min(700, 2000 - start)))
    for start in range(2000, 3000, 100):
        session.ingest("items", whole.slice(start, 100))
    changed = _rows(10_000, 50).set_column(0, "item_id", pa.array(np.arange(100, 150, dtype=np.int64)))
    session.ingest("items", changed, mode="upsert")
    expected = pa.concat_tables([whole.slice(0, 100), changed, whole.slice(150)])
    return home, expected


def _read(home, cache_bytes: int | None = None, batch_size: int | None = None) -> tuple[pa.Table, pa.Table]:
    """The first (cold) and second (warm) result of the same query on a new engine."""
    options = {} if batch_size is None else {"batch_size": batch_size}
    session = Engine(home, cache_bytes=cache_bytes, **options).session(project=PROJECT)
    return session.execute(QUERY), session.execute(QUERY)


def test_cold_and_warm_reads_return_the_written_rows_with_their_nulls(store):
    home, expected = store
    cold, warm = _read(home)
    assert cold.equals(warm)
    assert cold.column("emb").type == pa.list_(pa.float32(), DIM)
    assert cold.select(expected.column_names).cast(expected.schema).equals(expected)
    assert cold.column("emb").null_count == expected.column("emb").null_count > 0


def test_reads_without_the_cache_and_with_small_batches_agree(store):
    home, _ = store
    cold, _ = _read(home)
    uncached, _ = _read(home, cache_bytes=0)
    small_cold, small_warm = _read(home, batch_size=64)  # tiny batches: the cache re-chunks
    assert uncached.equals(cold) and small_cold.equals(cold) and small_warm.equals(cold)


def test_vector_functions_agree_cold_and_warm(store):
    home, expected = store
    query = [float(x) for x in range(1, DIM + 1)]
    sql = f"SELECT item_id, cosine_similarity(emb, {query}) AS s FROM items ORDER BY item_id"
    session = Engine(home).session(project=PROJECT)
    cold, warm = session.execute(sql), session.execute(sql)
    assert cold.equals(warm)
    emb = expected.column("emb").combine_chunks()
    valid = np.asarray(emb.is_valid())
    matrix = np.asarray(emb.flatten()).reshape(-1, DIM)  # flatten() skips null rows
    q = np.asarray(query, dtype=np.float64)
    reference = matrix @ q / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(q))
    scores = cold.column("s").to_numpy(zero_copy_only=False)
    np.testing.assert_allclose(scores[valid], reference, rtol=1e-5)
    assert cold.column("s").null_count == (~valid).sum() > 0


def test_feature_files_use_dictionaries_only_for_strings(store):
    home, _ = store
    session = Engine(home).session(project=PROJECT)
    group = registry.group(session.catalog, PROJECT, "items")
    files = [f for f in glob.glob(f"{group.uri}/*.parquet") if pq.ParquetFile(f).metadata.num_rows]
    assert files
    for path in files:
        meta = pq.ParquetFile(path).metadata.row_group(0)
        for i in range(meta.num_columns):
            column = meta.column(i)
            dictionary = "RLE_DICTIONARY" in column.encodings or "PLAIN_DICTIONARY" in column.encodings
            assert dictionary == column.path_in_schema.startswith("tag@"), column.path_in_schema


def test_the_embedding_view_type_shares_the_decoded_values():
    """List -> FixedSizeList over regular offsets reinterprets the child buffer (no copy),
    sliced or not; null rows keep their slots."""
    values = pa.array(np.arange(40, dtype=np.float32))
    offsets = pa.array(np.arange(0, 41, DIM, dtype=np.int32))
    listed = pa.ListArray.from_arrays(offsets, values)
    table = pa.table({"e": pa.chunked_array([listed, listed.slice(2)])})
    fixed = as_view_types(table, {"e": pa.list_(pa.float32(), DIM)}).column("e")
    assert fixed.chunk(0).values.buffers()[1].address == values.buffers()[1].address
    assert fixed.to_pylist() == listed.to_pylist() + listed.slice(2).to_pylist()


def test_the_cache_keeps_decoded_chunks_and_splits_them_into_partitions():
    table = pa.table({"x": pa.chunked_array([pa.array(range(i * 1000, (i + 1) * 1000)) for i in range(4)])})
    cache = TableCache(1 << 30)
    partitions = cache.put("mem://t", 1, table, batch_size=1000, partitions=2)
    batches = [b for part in partitions for b in part]
    assert [len(part) for part in partitions] == [2, 2]
    assert sorted(v for b in batches for v in b.column(0).to_pylist()) == list(range(4000))
    assert batches[0].column(0).buffers()[1].address == table.column("x").chunk(0).buffers()[1].address
    tiny = pa.table({"x": pa.chunked_array([pa.array([i]) for i in range(100)])})
    merged = cache.put("mem://tiny", 1, tiny, batch_size=64, partitions=2)
    assert sum(len(b) for part in merged for b in part) == 100 and len(merged[0][0]) == 64
    assert cache.get("mem://t", 1) is partitions


def test_a_big_table_is_scanned_by_its_first_read_and_cached_by_the_next(store, monkeypatch):
    from raise_.engine import cache

    home, expected = store
    monkeypatch.setattr(cache, "SCAN_FIRST_BYTES", 1)  # every table counts as big
    engine = Engine(home)
    session = engine.session(project=PROJECT)
    scanned = session.execute(QUERY)
    assert engine.cache.used == 0  # the files were scanned, nothing decoded
    decoded, warm = session.execute(QUERY), session.execute(QUERY)
    assert engine.cache.used > 0
    assert scanned.equals(decoded) and decoded.equals(warm)
    assert scanned.select(expected.column_names).cast(expected.schema).equals(expected)


DTYPES = ("int8", "int16", "int32", "float16", "float32", "bool", "string", "bytes", "timestamp", "date",
          "int64[]", "float32[4]", "float64[4]", "float16[4]")


def _typed_rows(start: int, count: int, dtypes: tuple[str, ...]) -> pa.Table:
    """``count`` rows of every dtype in ``dtypes``, every third value NULL; embeddings also
    hold a NULL element now and then."""
    from raise_.types import to_arrow

    ids = list(range(start, start + count))
    columns = {"item_id": pa.array(ids, pa.int64())}
    for i, dtype in enumerate(dtypes):
        arrow_type = to_arrow(dtype)
        if pa.types.is_fixed_size_list(arrow_type):
            size = arrow_type.list_size
            values = [None if (k + i) % 3 == 0 else
                      [None if (k + j) % 11 == 5 else float(k + j) / 8 for j in range(size)] for k in ids]
        elif pa.types.is_list(arrow_type):
            values = [None if (k + i) % 3 == 0 else list(range(k % 4)) for k in ids]
        elif pa.types.is_boolean(arrow_type):
            values = [None if (k + i) % 3 == 0 else k % 2 == 0 for k in ids]
        elif pa.types.is_string(arrow_type) or pa.types.is_binary(arrow_type):
            values = [None if (k + i) % 3 == 0 else (f"v{k % 5}" if pa.types.is_string(arrow_type) else bytes([k % 256]))
                      for k in ids]
        elif pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
            days = pa.array([None if (k + i) % 3 == 0 else 20_000 + k for k in ids], pa.int32())
            values = days.cast(pa.date32()) if pa.types.is_date(arrow_type) else \
                pc.multiply(days.cast(pa.int64()), 86_400 * 10 ** 6)
        else:
            values = [None if (k + i) % 3 == 0 else k % 100 for k in ids]
        columns[f"f{i}"] = pa.array(values).cast(arrow_type) if not isinstance(values, pa.Array) else values.cast(arrow_type)
    return pa.table(columns)


def test_every_dtype_reads_the_same_scanned_decoded_cached_uncached_and_as_of(tmp_path, monkeypatch):
    """Several files, a feature added after the first writes (older files lack its column), an
    upsert: the first read (PyArrow's scan of the files), the second (decoded into the cache),
    the third (from the cache), a read without the cache (DataFusion's Delta scan) and a
    time-travel read of the latest version all return the written rows, in a store whose path
    needs escaping in a URI."""
    from raise_.engine import cache

    home = tmp_path / "feature store 100%"  # the Delta log's URIs escape both
    early, late = DTYPES[:-1], DTYPES[-1:]
    names = [f"f{i}" for i in range(len(DTYPES))]
    session = Engine(home).session(project=PROJECT)
    session.execute(SETUP.split("; CREATE FEATURE items.emb")[0] + "; " + "; ".join(
        f"CREATE FEATURE items.{name} {dtype.upper()}" for name, dtype in zip(names, early)))
    first = _typed_rows(0, 300, early)
    for start in range(0, 300, 100):
        session.ingest("items", first.slice(start, 100))
    session.execute(f"CREATE FEATURE items.{names[-1]} {late[0].upper()}")
    second = _typed_rows(300, 200, DTYPES)
    session.ingest("items", second)
    changed = _typed_rows(1000, 40, DTYPES).set_column(0, "item_id", pa.array(range(20, 60), pa.int64()))
    session.ingest("items", changed, mode="upsert")
    group = registry.group(session.catalog, PROJECT, "items")
    table = session.engine.storage.latest(group.uri)
    assert session.engine.storage.dataset(table) is not None  # the PyArrow scan is what runs

    old = first.append_column(names[-1], pa.nulls(300, second.schema.field(names[-1]).type))
    expected = pa.concat_tables([old.slice(0, 20), changed, old.slice(60), second])
    query = f"SELECT item_id, {', '.join(names)} FROM items ORDER BY item_id"
    monkeypatch.setattr(cache, "SCAN_FIRST_BYTES", 1)
    reader = Engine(home).session(project=PROJECT)
    scanned, decoded, cached = (reader.execute(query) for _ in range(3))
    uncached = Engine(home, cache_bytes=0).session(project=PROJECT).execute(query)
    as_of = reader.execute(query.replace("FROM items", f"FROM items VERSION AS OF {table.version()}"))
    assert scanned.cast(expected.schema).equals(expected)
    for other in (decoded, cached, uncached, as_of):
        assert other.equals(scanned)


def test_nullable_embeddings_become_fixed_size_lists_like_arrows_cast():
    from raise_.engine.cache import fixed_size

    rows = [None if i % 3 == 1 else [float(i * DIM + j) for j in range(DIM)] for i in range(30)]
    for element in (pa.float32(), pa.float64()):
        listed = pa.array(rows, pa.list_(element))  # a NULL row is an empty list, as Parquet decodes it
        column = pa.chunked_array([listed, listed.slice(7, 11), listed.slice(0, 0)])
        fixed_type = pa.list_(element, DIM)
        fixed = fixed_size(column, fixed_type)
        assert fixed.type == fixed_type
        assert fixed.equals(column.cast(fixed_type)) and fixed.to_pylist() == column.to_pylist()
        assert fixed.null_count == column.null_count > 0
    with_null_element = pa.chunked_array([pa.array([None, [1.0, None]], pa.list_(pa.float32()))])
    assert fixed_size(with_null_element, pa.list_(pa.float32(), 2)).to_pylist() == [None, [1.0, None]]
    with pytest.raises(pa.ArrowInvalid):
        fixed_size(pa.chunked_array([pa.array([None, [1.0]], pa.list_(pa.float32()))]), pa.list_(pa.float32(), 2))
