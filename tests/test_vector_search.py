"""Vector top-k search through SQL: the exact streaming path against DuckDB, the HNSW index
path against the exact answer (recall), index upkeep from the change feed, settings, EXPLAIN,
access control, audit and bad input.

One store per module: ``items`` (1,500 random 16-d embeddings, every 10th NULL, a category,
rows 0-3 sharing one vector so that ties are decided by key).
"""
from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from hypothesis import given, settings, strategies as st

from grammar import parse, render
from grammar.ast import GroupRef
from grammar.errors import AlreadyExists, NotFound, PermissionDenied, RaiseSyntaxError, ValidationError
from grammar.vectors import CreateVectorIndex, DropVectorIndex, ShowVectorIndexes
from raise_.engine import Engine

ALICE, BOB = "alice@acme.com", "bob@acme.com"
N, DIM = 1500, 16
SQL_OF = {"cosine": ("cosine_similarity", "array_cosine_similarity", "DESC"),
          "dot": ("dot", "array_inner_product", "DESC"),
          "l2": ("l2_distance", "array_distance", "ASC")}


def _data(seed: int = 7, n: int = N) -> pa.Table:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors[1:4] = vectors[0]  # ties
    rows = [None if i % 10 == 9 else v.tolist() for i, v in enumerate(vectors)]
    return pa.table({"item_id": pa.array(np.arange(n, dtype=np.int64)),
                     "emb": pa.array(rows, pa.list_(pa.float32(), DIM)),
                     "category": pa.array(rng.choice(["shoes", "hats", "bags"], n)),
                     "price": pa.array(rng.uniform(1, 100, n))})


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = Engine(tmp_path_factory.mktemp("vectors") / "store")
    session = engine.session(ALICE)
    session.execute(f"""
        USE acme/ml/rec;
        CREATE FEATURE GROUP items KEY (item_id INT64);
        CREATE FEATURE items.emb FLOAT32[{DIM}];
        CREATE FEATURE items.category STRING;
        CREATE FEATURE items.price FLOAT64;
        CREATE PRINCIPAL GROUP 'analysts@acme.com' MEMBERS ('{BOB}');
        SET ACL ON PROJECT acme/ml/rec READERS ('analysts@acme.com');
        SET ACL ON FEATURE items.price READERS ('{ALICE}') NO INHERIT
    """)
    session.ingest("items", _data())
    return engine


@pytest.fixture
def alice(engine):
    return engine.session(ALICE, "acme/ml/rec")


def _duckdb(data: pa.Table, metric: str, query: list[float], k: int, where: str = "TRUE") -> pa.Table:
    _, function, order = SQL_OF[metric]
    con = duckdb.connect()
    con.register("t", data)
    return con.sql(f"SELECT item_id, {function}(emb::FLOAT[{DIM}], ?::FLOAT[{DIM}]) AS s FROM t "
                   f"WHERE emb IS NOT NULL AND {where} ORDER BY s {order}, item_id LIMIT {k}",
                   params=[query]).to_arrow_table()


def _query(seed: int) -> list[float]:
    return np.random.default_rng(seed).standard_normal(DIM).astype(np.float32).tolist()


# -- exact ------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", SQL_OF)
@pytest.mark.parametrize("where", [None, "category = 'shoes' AND price < 60"])
def test_exact_top_k_is_duckdbs_answer(alice, metric, where):
    function, _, order = SQL_OF[metric]
    query = _query(11)
    sql = (f"SELECT item_id, {function}(emb, $1) AS s FROM items" + (f" WHERE {where}" if where else "")
           + f" ORDER BY s {order} LIMIT 25")
    got = alice.execute(sql, [query])
    want = _duckdb(_data(), metric, query, 25, where or "TRUE")
    assert got.column("item_id").to_pylist() == want.column("item_id").to_pylist()
    np.testing.assert_allclose(got.column("s").to_numpy(), want.column("s").to_numpy(), rtol=1e-5, atol=1e-5)


def test_exact_top_k_is_datafusions_own_sort(alice):
    query = _query(3)
    fast = alice.execute("SELECT category, item_id, l2_distance(emb, $1) AS d FROM items ORDER BY d LIMIT 40", [query])
    # two ORDER BY terms: not the top-k shape, so DataFusion sorts
    sorted_ = alice.execute("SELECT category, item_id, l2_distance(emb, $1) AS d FROM items WHERE emb IS NOT NULL "
                            "ORDER BY d, item_id LIMIT 40", [query])
    assert fast.to_pylist() == sorted_.to_pylist()
    assert fast.schema.names == ["category", "item_id", "d"]


def test_query_vector_as_literal_parameter_or_subquery(alice):
    vector = _data().column("emb")[20].as_py()
    literal = "[" + ", ".join(repr(v) for v in vector) + "]"
    forms = [(f"SELECT item_id, cosine_similarity(emb, {literal}) AS s FROM items ORDER BY s DESC LIMIT 5", None),
             ("SELECT item_id, cosine_similarity(emb, $1) AS s FROM items ORDER BY s DESC LIMIT 5", [vector]),
             ("SELECT item_id, cosine_similarity(emb, (SELECT emb FROM items WHERE item_id = 20)) AS s "
              "FROM items ORDER BY s DESC LIMIT 5", None)]
    answers = [alice.execute(sql, params).to_pylist() for sql, params in forms]
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == {"item_id": 20, "s": pytest.approx(1.0)}


def test_ties_are_broken_by_key_and_nulls_never_match(alice):
    vector = _data().column("emb")[0].as_py()
    got = alice.execute("SELECT item_id FROM items ORDER BY cosine_similarity(emb, $1) DESC LIMIT 4", [vector])
    assert got.column("item_id").to_pylist() == [0, 1, 2, 3]
    everything = alice.execute("SELECT item_id, l2_distance(emb, $1) AS d FROM items ORDER BY d LIMIT 100000",
                               [vector])
    assert everything.num_rows == N - N // 10
    assert not any(i % 10 == 9 for i in everything.column("item_id").to_pylist())
    assert alice.execute("SELECT item_id, l2_distance(emb, $1) AS d FROM items ORDER BY d LIMIT 3",
                         [None]).num_rows == 0


def test_time_travel_searches_that_version_exactly(alice):
    vector = _data().column("emb")[0].as_py()
    sql = "SELECT item_id, cosine_similarity(emb, $1) AS s FROM items VERSION AS OF 1 ORDER BY s DESC LIMIT 4"
    assert alice.execute(sql, [vector]).column("item_id").to_pylist() == [0, 1, 2, 3]
    assert alice.execute("EXPLAIN " + sql, [vector]).column("plan")[0].as_py().startswith("exact")


def test_explain_names_the_exact_path(alice):
    plan = alice.execute("EXPLAIN SELECT item_id, cosine_similarity(emb, $1) AS s FROM items "
                         "ORDER BY s DESC LIMIT 3", [_query(1)]).to_pylist()
    assert plan[0]["plan_type"] == "vector_search" and plan[0]["plan"].startswith("exact streaming top-k")


@pytest.mark.parametrize("sql, params, code", [
    ("SELECT item_id, cosine_similarity(emb, $1) AS s FROM items ORDER BY s DESC LIMIT 3", [[1.0, 2.0]], "RAISE-V601"),
    ("SELECT item_id, cosine_similarity(emb, $1) AS s FROM items ORDER BY s DESC LIMIT 0", [[0.0] * DIM], "RAISE-V600"),
    ("SELECT item_id, cosine_similarity(emb, $1) AS s FROM items ORDER BY s DESC LIMIT -2", [[0.0] * DIM], "RAISE-V600"),
    ("SELECT item_id, cosine_similarity(emb, (SELECT emb FROM items)) AS s FROM items ORDER BY s DESC LIMIT 3",
     None, "RAISE-V602"),
    ("SET vector_search = 'fastest'", None, "RAISE-V603"),
])
def test_bad_search_input_is_a_clear_error(alice, sql, params, code):
    with pytest.raises(ValidationError) as raised:
        alice.execute(sql, params)
    assert raised.value.code == code


# -- access control -----------------------------------------------------------------------------


def test_search_is_authorized_and_audited_as_a_query(engine, alice):
    bob = engine.session(BOB, "acme/ml/rec")
    sql = "SELECT item_id, {cols} cosine_similarity(emb, $1) AS s FROM items {where} ORDER BY s DESC LIMIT 3"
    assert bob.execute(sql.format(cols="category,", where=""), [_query(2)]).num_rows == 3
    for cols, where in (("price,", ""), ("", "WHERE price > 3")):
        with pytest.raises(PermissionDenied):
            bob.execute(sql.format(cols=cols, where=where), [_query(2)])
    reads = alice.execute(f"SHOW AUDIT ACTORS ('{BOB}')").to_pylist()
    resources = {r["resource"] for r in reads if r["outcome"] == "ALLOWED"}
    assert {"acme/ml/rec/items/emb", "acme/ml/rec/items/category"} <= resources
    assert any(r["outcome"] == "DENIED" and r["resource"].endswith("/price") for r in reads)


# -- index --------------------------------------------------------------------------------------


def _recall(got: list, want: list) -> float:
    return len(set(got) & set(want)) / len(want)


def test_index_statements_and_recall(engine, alice):
    created = alice.execute("CREATE VECTOR INDEX ON items (emb) USING HNSW "
                            "WITH (metric = 'cosine', m = 16, ef_construction = 200)")
    assert created.column("rows_affected").to_pylist() == [N - N // 10]
    shown = alice.execute("SHOW VECTOR INDEXES IN items").to_pylist()
    assert [(s["name"], s["metric"], s["m"], s["vectors"]) for s in shown] == [("items_emb_hnsw", "cosine", 16, 1350)]
    recalls = []
    for seed in range(20):
        sql = "SELECT item_id, cosine_similarity(emb, $1) AS s FROM items ORDER BY s DESC LIMIT 10"
        got = alice.execute(sql, [_query(seed)]).column("item_id").to_pylist()
        alice.execute("SET vector_search = 'exact'")
        want = alice.execute(sql, [_query(seed)]).column("item_id").to_pylist()
        alice.execute("RESET vector_search")
        recalls.append(_recall(got, want))
    assert np.mean(recalls) >= 0.95
    plan = alice.execute("EXPLAIN SELECT item_id, cosine_similarity(emb, $1) AS s FROM items ORDER BY s DESC "
                         "LIMIT 10", [_query(0)]).column("plan")[0].as_py()
    assert plan.startswith("vector index 'items_emb_hnsw'")
    alice.execute("SET vector_search = 'exact'")
    assert alice.execute("EXPLAIN SELECT item_id, cosine_similarity(emb, $1) AS s FROM items ORDER BY s DESC "
                         "LIMIT 10", [_query(0)]).column("plan")[0].as_py().startswith("exact")
    alice.execute("SET vector_search = DEFAULT")


def test_index_with_filter_and_features_returns_only_matching_rows(alice):
    alice.execute("CREATE VECTOR INDEX IF NOT EXISTS ON items (emb)")
    sql = ("SELECT item_id, category, price, cosine_similarity(emb, $1) AS s FROM items "
           "WHERE category = 'hats' AND price < 50 ORDER BY s DESC LIMIT 10")
    got = alice.execute(sql, [_query(5)])
    want = _duckdb(_data(), "cosine", _query(5), 10, "category = 'hats' AND price < 50")
    assert set(got.column("category").to_pylist()) == {"hats"} and max(got.column("price").to_pylist()) < 50
    assert _recall(got.column("item_id").to_pylist(), want.column("item_id").to_pylist()) >= 0.9
    np.testing.assert_allclose(sorted(got.column("s").to_pylist(), reverse=True), got.column("s").to_pylist())


def test_index_follows_upserts_and_deletes_and_survives_reopening(engine, alice, tmp_path):
    alice.execute("CREATE VECTOR INDEX IF NOT EXISTS ON items (emb)")
    target = _query(99)
    alice.ingest("items", pa.table({"item_id": pa.array([5, 10_000], pa.int64()),
                                    "emb": pa.array([target, target], pa.list_(pa.float32(), DIM))}), mode="upsert")
    sql = "SELECT item_id, cosine_similarity(emb, $1) AS s FROM items ORDER BY s DESC LIMIT 2"
    assert alice.execute(sql, [target]).column("item_id").to_pylist() == [5, 10_000]
    uri = alice._group("items").uri
    DeltaTable(uri).delete("item_id = 5")
    alice.ingest("items", pa.table({"item_id": pa.array([10_000], pa.int64()),
                                    "emb": pa.array([None], pa.list_(pa.float32(), DIM))}), mode="upsert")
    assert {5, 10_000}.isdisjoint(alice.execute(sql, [target]).column("item_id").to_pylist())
    version = DeltaTable(uri).version()
    assert alice.execute("SHOW VECTOR INDEXES").column("table_version").to_pylist() == [version]
    reopened = Engine(engine.home).session(ALICE, "acme/ml/rec")
    plan = reopened.execute("EXPLAIN " + sql, [target]).column("plan")[0].as_py()
    assert f"at table version {version}" in plan
    alice.execute("SET vector_search = 'exact'")
    want = alice.execute(sql.replace("LIMIT 2", "LIMIT 10"), [_query(4)]).column("item_id").to_pylist()
    alice.execute("RESET vector_search")
    got = reopened.execute(sql.replace("LIMIT 2", "LIMIT 10"), [_query(4)]).column("item_id").to_pylist()
    assert _recall(got, want) >= 0.9


def test_index_acl_and_bad_input(engine, alice):
    bob = engine.session(BOB, "acme/ml/rec")
    with pytest.raises(PermissionDenied):
        bob.execute("CREATE VECTOR INDEX bobs ON items (emb)")
    with pytest.raises(PermissionDenied):
        bob.execute("DROP VECTOR INDEX items_emb_hnsw")
    cases = [("CREATE VECTOR INDEX ON items (category)", ValidationError, "RAISE-V606"),
             ("CREATE VECTOR INDEX ON items (nope)", NotFound, "RAISE-N601"),
             ("CREATE VECTOR INDEX x ON items (emb) WITH (metric = 'hamming')", ValidationError, "RAISE-V605"),
             ("CREATE VECTOR INDEX x ON items (emb) WITH (size = 3)", ValidationError, "RAISE-V604"),
             ("CREATE VECTOR INDEX x ON items (emb) WITH (m = 0)", ValidationError, "RAISE-V604"),
             ("DROP VECTOR INDEX nothing_here", NotFound, "RAISE-N600"),
             ("CREATE VECTOR INDEX ON items (emb) USING ivf", ValidationError, None)]
    alice.execute("CREATE VECTOR INDEX IF NOT EXISTS ON items (emb)")
    cases.append(("CREATE VECTOR INDEX ON items (emb)", AlreadyExists, "RAISE-A600"))
    for sql, error, code in cases:
        with pytest.raises(error) as raised:
            alice.execute(sql)
        assert code is None or raised.value.code == code, sql


def test_drop_cascade_removes_indexes_and_their_files(tmp_path):
    session = Engine(tmp_path / "store").session(ALICE)
    session.execute(f"USE acme/ml/tmp; CREATE FEATURE GROUP g KEY (k INT64); CREATE FEATURE g.v FLOAT32[{DIM}]")
    session.ingest("g", _data(n=50).select(["item_id", "emb"]).rename_columns(["k", "v"]))
    session.execute("CREATE VECTOR INDEX gi ON g (v) WITH (metric = 'l2')")
    folder = next(iter((tmp_path / "store").rglob("*.usearch"))).parent
    session.execute("DROP PROJECT acme/ml/tmp CASCADE")
    assert not folder.exists()
    assert session.execute("SHOW VECTOR INDEXES").num_rows == 0


# -- grammar ------------------------------------------------------------------------------------

_names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
_refs = st.builds(GroupRef, name=_names, project=st.none() | st.tuples(_names, _names, _names))
_values = st.integers(0, 10_000) | st.sampled_from(["cosine", "l2", "dot"])
STATEMENTS = st.one_of(
    st.builds(CreateVectorIndex, group=_refs, feature=_names, name=st.none() | _names,
              options=st.lists(st.tuples(_names, _values), unique_by=lambda o: o[0], max_size=3).map(tuple),
              if_not_exists=st.booleans()),
    st.builds(DropVectorIndex, index=_refs, if_exists=st.booleans()),
    st.builds(ShowVectorIndexes, within=st.none() | _refs))


@settings(max_examples=60, deadline=None)
@given(STATEMENTS)
def test_vector_statements_round_trip(statement):
    assert parse(render(statement)) == [statement]


def test_option_given_twice_is_a_syntax_error():
    with pytest.raises(RaiseSyntaxError):
        parse("CREATE VECTOR INDEX ON items (emb) WITH (m = 4, m = 8)")
