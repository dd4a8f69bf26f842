"""Prepared searches that select features or filter (``vectors.fetch``): the answers of the
exact search, through writes, under the caller's rights, embedded and over Flight.

One engine store per module: ``items`` (3,000 random 16-d embeddings, every 10th NULL; a
``category`` of which ``rare`` is 1 row in 100; a ``price``) with a cosine HNSW index.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from grammar.errors import PermissionDenied
from raise_.engine import Engine
from raise_.engine.vectors import fetch

pytest_plugins = ["conftest_sdk"]

ALICE, BOB = "alice@acme.com", "bob@acme.com"
N, DIM = 3_000, 16
SELECT = "SELECT item_id, category, price, cosine_similarity(emb, $1) AS s FROM items"


def _vectors(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def _categories(n: int) -> list[str]:
    return ["rare" if i % 100 == 3 else ("shoes" if i % 2 else "hats") for i in range(n)]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = Engine(tmp_path_factory.mktemp("fastpath-search") / "store")
    session = engine.session(ALICE)
    session.execute(f"""
        USE acme/ml/rec;
        CREATE FEATURE GROUP items KEY (item_id INT64);
        CREATE FEATURE items.emb FLOAT32[{DIM}];
        CREATE FEATURE items.category STRING;
        CREATE FEATURE items.price FLOAT64;
        CREATE PRINCIPAL GROUP 'analysts@acme.com' MEMBERS ('{BOB}');
        SET ACL ON PROJECT acme/ml/rec READERS ('analysts@acme.com')
    """)
    rows = [None if i % 10 == 9 else v.tolist() for i, v in enumerate(_vectors(1, N))]
    session.ingest("items", pa.table({"item_id": pa.array(np.arange(N, dtype=np.int64)),
                                      "emb": pa.array(rows, pa.list_(pa.float32(), DIM)),
                                      "category": pa.array(_categories(N)),
                                      "price": pa.array(np.arange(N, dtype=np.float64) / 10)}))
    session.execute("CREATE VECTOR INDEX ON items (emb) USING HNSW WITH (metric = 'cosine', ef_search = 256)")
    return engine


def _sql(where: str = "", k: int = 10) -> str:
    return f"{SELECT} {where} ORDER BY s DESC LIMIT {k}"


def _exact(session, sql: str, query) -> pa.Table:
    session.execute("SET vector_search = 'exact'")
    try:
        return session.execute(sql, [query])
    finally:
        session.execute("RESET vector_search")


def _fast(prepared) -> fetch.Rows:
    """The rows the prepared search read (None: it did not take the fast path)."""
    held = prepared._query.__self__._rows
    return held[1] if held is not None else None


@pytest.mark.parametrize("where", ["", "WHERE category = 'rare'", "WHERE category = 'shoes' AND price > 20"])
@pytest.mark.parametrize("graph", [False, True], ids=["exact-rows", "graph"])
def test_prepared_features_and_filters_answer_as_the_exact_search(engine, monkeypatch, where, graph):
    if graph:  # the WHERE's rows are searched through the graph, not exactly over the rows
        monkeypatch.setattr(fetch, "EXACT_ROWS", 0)
    alice = engine.session(ALICE, "acme/ml/rec")
    prepared = alice.prepare(_sql(where))
    recalls = []
    for query in _vectors(2, 8):
        got = prepared.execute([query.tolist()])
        want = _exact(alice, _sql(where), query.tolist())
        assert got.schema == want.schema and got.num_rows == 10
        ids = got.column("item_id").to_pylist()
        assert not {i for i in ids if i % 10 == 9}  # NULL embeddings never match
        if where:
            assert set(got.column("category").to_pylist()) == {"rare" if "rare" in where else "shoes"}
        if not graph:
            assert ids == want.column("item_id").to_pylist()
            assert got.column("price").equals(want.column("price"))
        rows = dict(zip(want.column("item_id").to_pylist(), want.column("price").to_pylist()))
        assert all(rows.get(i, p) == p for i, p in zip(ids, got.column("price").to_pylist()))
        np.testing.assert_allclose(got.column("s").to_numpy()[:1], want.column("s").to_numpy()[:1], rtol=1e-5)
        recalls.append(len(set(ids) & set(want.column("item_id").to_pylist())) / 10)
    assert np.mean(recalls) >= 0.95
    rows = _fast(prepared)
    assert rows is not None and (rows.vectors is None) == graph


def test_prepared_filter_follows_upserts_and_deletes(engine):
    alice = engine.session(ALICE, "acme/ml/rec")
    sql = _sql("WHERE category = 'rare'", k=3)
    prepared = alice.prepare(sql)
    target = _vectors(3, 1)[0].tolist()
    before = prepared.execute([target]).column("item_id").to_pylist()
    alice.ingest("items", pa.table({"item_id": pa.array([8, 9_000], pa.int64()),
                                    "emb": pa.array([target, target], pa.list_(pa.float32(), DIM)),
                                    "category": pa.array(["rare", "rare"]), "price": pa.array([1.0, 2.0])}),
                 mode="upsert")
    got = prepared.execute([target])
    assert sorted(got.column("item_id").to_pylist()[:2]) == [8, 9_000]
    assert got.column("item_id").to_pylist() == _exact(alice, sql, target).column("item_id").to_pylist()
    DeltaTable(alice._group("items").uri).delete("item_id = 8")  # a writer besides Raise: no catalog change
    alice.ingest("items", pa.table({"item_id": pa.array([9_000, before[0]], pa.int64()),
                                    "emb": pa.array([None, target], pa.list_(pa.float32(), DIM)),
                                    "category": pa.array(["rare", "hats"]), "price": pa.array([2.0, 3.0])}),
                 mode="upsert")
    got = prepared.execute([target]).column("item_id").to_pylist()
    assert got == _exact(alice, sql, target).column("item_id").to_pylist()
    assert got[:2] == before[1:] and {8, 9_000, before[0]}.isdisjoint(got)


def test_prepared_features_need_the_right_to_read_them(engine):
    alice, bob = engine.session(ALICE, "acme/ml/rec"), engine.session(BOB, "acme/ml/rec")
    query = _vectors(4, 1)[0].tolist()
    by_price = bob.prepare(_sql("WHERE price > 10"))
    plain = bob.prepare("SELECT item_id, category, cosine_similarity(emb, $1) AS s FROM items "
                        "WHERE category = 'hats' ORDER BY s DESC LIMIT 5")
    assert by_price.execute([query]).num_rows == 10 and plain.execute([query]).num_rows == 5
    alice.execute(f"SET ACL ON FEATURE items.price READERS ('{ALICE}') NO INHERIT")
    try:
        with pytest.raises(PermissionDenied):
            by_price.execute([query])
        assert plain.execute([query]).column("category").to_pylist() == ["hats"] * 5
        entries = alice.execute(f"SHOW AUDIT ACTORS ('{BOB}')").to_pylist()
        assert any(r["outcome"] == "DENIED" and r["resource"] == "acme/ml/rec/items/price" for r in entries)
    finally:
        alice.execute("SET ACL ON FEATURE items.price INHERIT")
    assert by_price.execute([query]).num_rows == 10


def test_a_where_that_depends_on_more_than_the_table_runs_the_general_way(engine):
    alice = engine.session(ALICE, "acme/ml/rec")
    query = _vectors(5, 1)[0].tolist()
    sql = _sql("WHERE item_id IN (SELECT item_id FROM items WHERE category = 'rare')")
    prepared = alice.prepare(sql)
    assert prepared.execute([query]).column("item_id").to_pylist() == \
        _exact(alice, sql, query).column("item_id").to_pylist()
    assert _fast(prepared) is None


@pytest.fixture
def sdk_items(store):
    group = store.create_feature_group("item-signals", key_columns=["item_id"])
    group.create_feature("item_embedding", dtype=f"float32[{DIM}]")
    group.create_feature("category", dtype="string")
    vectors = _vectors(6, 500)
    group.write(pa.table({"item_id": pa.array(np.arange(500, dtype=np.int64)),
                          "item_embedding": pa.array([None if i % 7 == 6 else v.tolist() for i, v in enumerate(vectors)],
                                                     pa.list_(pa.float32(), DIM)),
                          "category": pa.array(_categories(500))}))
    group.feature("item_embedding").create_index(metric="l2", method="hnsw", ef_search=256)
    return group, vectors


def test_sdk_search_with_features_and_filter_uses_the_index_metric(sdk_items):
    group, vectors = sdk_items
    for seed in range(3):
        query = _vectors(10 + seed, 1)[0]
        result = group.search(feature="item_embedding", query=query, top_k=4, features=["category"],
                              filter="category = 'rare'")
        distances = np.linalg.norm(vectors - query, axis=1)
        want = [i for i in np.argsort(distances, kind="stable") if i % 7 != 6 and i % 100 == 3][:4]
        assert result.metric == "l2" and result.keys == want
        np.testing.assert_allclose(result.scores, distances[want], rtol=1e-5)
        assert result.to_arrow().column("category").to_pylist() == ["rare"] * len(want)


def test_prepared_text_search_with_a_filter_embeds_the_text_once_per_search(engine, tmp_path, monkeypatch):
    from infer_models import text_vectors, token_ids

    monkeypatch.setenv("RAISE_MODEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RAISE_DEVICE", "cpu")
    alice = engine.session(ALICE, "acme/ml/rec")
    folder = text_vectors(tmp_path / "models" / "words")
    alice.execute(f"""
        CREATE MODEL words FROM '{folder.as_uri()}' FRAMEWORK onnx;
        CREATE FEATURE GROUP docs KEY (doc_id INT64);
        CREATE FEATURE docs.embedding FLOAT32[2];
        CREATE FEATURE docs.lang STRING
    """)
    bodies = ["hello world", "model", "feature store model", "store", "feature model"]
    alice.ingest("docs", pa.table({
        "doc_id": pa.array(range(1, 6), pa.int64()), "lang": pa.array(["en", "en", "en", "de", "de"]),
        "embedding": pa.array([[float(len(token_ids(b))), float(sum(token_ids(b)))] for b in bodies],
                              pa.list_(pa.float32(), 2))}))
    alice.execute("CREATE VECTOR INDEX ON docs (embedding) USING HNSW WITH (metric = 'l2', model = 'words')")
    sql = ("SELECT doc_id, lang, l2_distance(embedding, INFER('words', $1)) AS score FROM docs "
           "WHERE lang = 'de' ORDER BY score ASC LIMIT 1")
    prepared = alice.prepare(sql)
    got = prepared.execute(["feature model"])
    assert got.to_pylist() == [{"doc_id": 5, "lang": "de", "score": pytest.approx(0.0)}]
    assert _fast(prepared) is not None
    uses = [r for r in alice.execute(f"SHOW AUDIT ACTORS ('{ALICE}')").to_pylist() if "words" in r["resource"]]
    assert uses and uses[-1]["outcome"] == "ALLOWED"


def test_prepared_index_listing_changes_with_the_catalog_and_the_caller(engine):
    alice, bob = engine.session(ALICE), engine.session(BOB)  # no project: every visible index
    admin = engine.session(ALICE)
    admin.execute("CREATE PROJECT acme/ml/private; USE acme/ml/private; "
                  "CREATE FEATURE GROUP hidden KEY (id INT64); CREATE FEATURE hidden.emb FLOAT32[2]")
    listing = "SHOW VECTOR INDEXES"
    mine, theirs = alice.prepare(listing), bob.prepare(listing)
    before = alice.execute(listing).column("name").to_pylist()
    assert "items_emb_hnsw" in before
    assert mine.execute().column("name").to_pylist() == theirs.execute().column("name").to_pylist() == before
    admin.execute("CREATE VECTOR INDEX ON hidden (emb) USING HNSW WITH (metric = 'l2')")
    try:
        assert sorted(mine.execute().column("name").to_pylist()) == sorted([*before, "hidden_emb_hnsw"])
        assert theirs.execute().column("name").to_pylist() == before  # bob may not see acme/ml/private
    finally:
        admin.execute("DROP VECTOR INDEX hidden_emb_hnsw")
    assert mine.execute().column("name").to_pylist() == before
