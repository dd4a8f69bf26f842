"""A prepared top-k search (``Session.prepare``): the same answers as the statement run as
text, the index kept current, rights re-checked after a catalog change, one audit entry per
search, and the general path when the index goes or the session asks for the exact search.

One store per module: ``items`` (800 random 16-d embeddings, every 10th NULL) with a cosine
HNSW index.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from grammar.errors import PermissionDenied, ValidationError
from raise_.engine import Engine

ALICE, BOB = "alice@acme.com", "bob@acme.com"
N, DIM = 800, 16
SQL = "SELECT item_id, cosine_similarity(emb, $1) AS s FROM items ORDER BY s DESC LIMIT 10"


def _vectors(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = Engine(tmp_path_factory.mktemp("prepared-search") / "store")
    session = engine.session(ALICE)
    session.execute(f"""
        USE acme/ml/rec;
        CREATE FEATURE GROUP items KEY (item_id INT64);
        CREATE FEATURE items.emb FLOAT32[{DIM}];
        CREATE PRINCIPAL GROUP 'analysts@acme.com' MEMBERS ('{BOB}');
        SET ACL ON PROJECT acme/ml/rec READERS ('analysts@acme.com')
    """)
    rows = [None if i % 10 == 9 else v.tolist() for i, v in enumerate(_vectors(1, N))]
    session.ingest("items", pa.table({"item_id": pa.array(np.arange(N, dtype=np.int64)),
                                      "emb": pa.array(rows, pa.list_(pa.float32(), DIM))}))
    session.execute("CREATE VECTOR INDEX ON items (emb) USING HNSW WITH (metric = 'cosine', ef_search = 256)")
    return engine


def _exact(session, query) -> list[int]:
    session.execute("SET vector_search = 'exact'")
    try:
        return session.execute(SQL, [query]).column("item_id").to_pylist()
    finally:
        session.execute("RESET vector_search")


def test_prepared_search_answers_as_the_text_does(engine):
    alice = engine.session(ALICE, "acme/ml/rec")
    prepared = alice.prepare(SQL)
    recalls = []
    for query in _vectors(2, 10):
        got = prepared.execute([query.tolist()])
        text = alice.execute(SQL, [query.tolist()])
        assert got.schema == text.schema and got.column("item_id").equals(text.column("item_id"))
        np.testing.assert_allclose(got.column("s").to_numpy(), text.column("s").to_numpy())
        want = _exact(alice, query.tolist())
        recalls.append(len(set(got.column("item_id").to_pylist()) & set(want)) / 10)
        assert not {i for i in got.column("item_id").to_pylist() if i % 10 == 9}  # NULL embeddings never match
    assert np.mean(recalls) >= 0.95
    assert prepared.execute([None]).num_rows == 0
    with pytest.raises(ValidationError) as raised:
        prepared.execute([[0.5] * (DIM + 1)])
    assert raised.value.code == "RAISE-V601"


def test_prepared_search_follows_writes_and_the_session_setting(engine):
    alice = engine.session(ALICE, "acme/ml/rec")
    prepared = alice.prepare(SQL.replace("LIMIT 10", "LIMIT 2"))
    target = _vectors(3, 1)[0].tolist()
    prepared.execute([target])
    alice.ingest("items", pa.table({"item_id": pa.array([7, 5_000], pa.int64()),
                                    "emb": pa.array([target, target], pa.list_(pa.float32(), DIM))}), mode="upsert")
    assert prepared.execute([target]).column("item_id").to_pylist() == [7, 5_000]
    alice.ingest("items", pa.table({"item_id": pa.array([5_000], pa.int64()),
                                    "emb": pa.array([None], pa.list_(pa.float32(), DIM))}), mode="upsert")
    assert prepared.execute([target]).column("item_id").to_pylist()[0] == 7
    assert 5_000 not in prepared.execute([target]).column("item_id").to_pylist()
    alice.execute("SET vector_search = 'exact'")
    assert prepared.execute([target]).column("item_id").to_pylist() == _exact(alice, target)[:2]
    alice.execute("RESET vector_search")


def test_prepared_search_rechecks_rights_and_audits_each_search(engine):
    alice, bob = engine.session(ALICE, "acme/ml/rec"), engine.session(BOB, "acme/ml/rec")
    prepared = bob.prepare(SQL)
    query = _vectors(4, 1)[0].tolist()

    def reads() -> int:
        entries = alice.execute(f"SHOW AUDIT ACTORS ('{BOB}')").to_pylist()
        return sum(r["outcome"] == "ALLOWED" and r["resource"] == "acme/ml/rec/items/emb" for r in entries)

    before = reads()
    for _ in range(3):
        assert prepared.execute([query]).num_rows == 10
    assert reads() == before + 3
    alice.execute(f"SET ACL ON FEATURE items.emb READERS ('{ALICE}') NO INHERIT")
    try:
        with pytest.raises(PermissionDenied):
            prepared.execute([query])
        entries = alice.execute(f"SHOW AUDIT ACTORS ('{BOB}')").to_pylist()
        assert any(r["outcome"] == "DENIED" and r["resource"] == "acme/ml/rec/items/emb" for r in entries)
    finally:
        alice.execute("SET ACL ON FEATURE items.emb INHERIT")
    assert prepared.execute([query]).num_rows == 10


def test_prepared_search_without_the_index_runs_exactly(engine):
    alice = engine.session(ALICE, "acme/ml/rec")
    prepared = alice.prepare(SQL)
    query = _vectors(5, 1)[0].tolist()
    prepared.execute([query])
    alice.execute("DROP VECTOR INDEX items_emb_hnsw")
    try:
        assert prepared.execute([query]).column("item_id").to_pylist() == _exact(alice, query)
        plan = alice.execute("EXPLAIN " + SQL, [query]).column("plan")[0].as_py()
        assert plan.startswith("exact")
    finally:
        alice.execute("CREATE VECTOR INDEX ON items (emb) USING HNSW WITH (metric = 'cosine', ef_search = 256)")


def test_prepared_index_search_breaks_ties_by_key(tmp_path):
    session = Engine(tmp_path / "store").session(ALICE, "acme/ml/rec")
    session.execute(f"CREATE FEATURE GROUP twins KEY (item_id INT64); CREATE FEATURE twins.emb FLOAT32[{DIM}]")
    vectors = _vectors(5, 60)
    vectors[[7, 3, 41, 12]] = vectors[20]  # five rows share one vector, written out of key order
    ids = np.random.default_rng(7).permutation(60).astype(np.int64)
    session.ingest("twins", pa.table({"item_id": pa.array(ids),
                                      "emb": pa.array(vectors.tolist(), pa.list_(pa.float32(), DIM))}))
    session.execute("CREATE VECTOR INDEX ON twins (emb) USING HNSW WITH (metric = 'cosine', ef_search = 256)")
    sql = SQL.replace("items", "twins")
    prepared = session.prepare(sql)
    got = prepared.execute([vectors[20].tolist()])
    np.testing.assert_allclose(got.column("s").to_numpy()[:5], 1.0, rtol=1e-6)
    assert got.column("item_id").to_pylist()[:5] == sorted(int(ids[i]) for i in (7, 3, 41, 12, 20))
