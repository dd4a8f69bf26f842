"""Cold and warm reads of a feature group: the same rows, nulls and types, however the Delta
files were written (sliced batches, many small appends, upserts) and whichever path reads them."""
from __future__ import annotations

import glob

import numpy as np
import pyarrow as pa
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
