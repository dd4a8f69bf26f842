"""The fixed-cost shortcuts of a query keep its results and never serve stale catalog reads:
vector literals held by the query's own functions give the packed form's values, and catalog
reads remembered per generation see another engine's write (a feature, a group, a revoked
right) at the next statement."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from grammar.errors import PermissionDenied, RaiseError
from raise_.engine import Engine
from raise_.engine.vector_sql import constant_vectors

DIM = 40
SETUP = ("CREATE ORGANIZATION acme; CREATE DOMAIN acme/ml; CREATE PROJECT acme/ml/rec; USE acme/ml/rec; "
         f"CREATE FEATURE GROUP items KEY (id INT64); CREATE FEATURE items.emb FLOAT32[{DIM}]")


@pytest.fixture()
def store(tmp_path):
    engine = Engine(tmp_path / "store")
    session = engine.session(project=("acme", "ml", "rec"))
    session.execute(SETUP)
    matrix = np.random.default_rng(7).standard_normal((5, DIM)).astype(np.float32)
    emb = pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), DIM)
    emb = pa.concat_arrays([emb, pa.nulls(1, emb.type)])
    session.ingest("items", pa.table({"id": pa.array(range(6), pa.int64()), "emb": emb}))
    return tmp_path / "store", matrix


def _literal(vector: np.ndarray) -> str:
    return "[" + ", ".join(f"{x:.9g}" for x in vector) + "]"


@pytest.mark.parametrize("function", ["cosine_similarity", "dot", "l2_distance"])
def test_a_held_literal_gives_the_packed_forms_values(store, function):
    home, matrix = store
    session = Engine(home).session(project=("acme", "ml", "rec"))
    query = np.linspace(-1, 1, DIM, dtype=np.float32)
    sql = f"SELECT id, {function}(emb, {_literal(query)}) AS s FROM items ORDER BY id"
    held = session.execute(sql).column("s").to_pylist()
    packed = session.execute(f"SELECT id, {function}_const(emb, vector_constant($1)) AS s FROM items ORDER BY id",
                             params=[query.tolist()]).column("s").to_pylist()
    assert held == packed and held[-1] is None
    expected = {"cosine_similarity": matrix @ query / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query)),
                "dot": matrix @ query, "l2_distance": np.linalg.norm(matrix - query, axis=1)}[function]
    np.testing.assert_allclose(held[:-1], expected, rtol=1e-5)


def test_the_hold_replaces_the_constant_call_and_nothing_else():
    vector = _literal(np.arange(DIM, dtype=np.float32))
    calls = []
    out = constant_vectors(f"SELECT cosine_similarity(emb, {vector}) AS s, '{vector}' AS t FROM items",
                           lambda *call: calls.append(call))
    assert out.startswith("SELECT COSINE_SIMILARITY_CONST_0(emb) AS s") and out.count(vector) == 1
    (name, function, held), = calls
    assert (name, function) == ("cosine_similarity_const_0", "cosine_similarity")
    np.testing.assert_array_equal(held, np.arange(DIM, dtype=np.float32))


def test_another_engines_catalog_change_is_seen_by_the_next_statement(store):
    home, _ = store
    reader = Engine(home).session(project=("acme", "ml", "rec"))
    assert reader.execute("SELECT * FROM items").column_names == ["id", "emb"]
    writer = Engine(home).session(project=("acme", "ml", "rec"))
    writer.execute("CREATE FEATURE items.score FLOAT64 DEFAULT 1.5; CREATE FEATURE GROUP users KEY (id INT64)")
    assert reader.execute("SELECT * FROM items").column_names == ["id", "emb", "score"]
    assert reader.execute("SELECT * FROM users").num_rows == 0


def test_a_right_taken_away_by_another_engine_denies_the_next_query(store):
    home, _ = store
    admin = Engine(home).session(project=("acme", "ml", "rec"))
    admin.execute("CREATE PRINCIPAL GROUP 'readers@acme.com' MEMBERS ('bob@acme.com'); "
                  "SET ACL ON PROJECT acme/ml/rec READERS ('readers@acme.com')")
    bob = Engine(home).session("bob@acme.com", ("acme", "ml", "rec"))
    assert bob.execute("SELECT id FROM items").num_rows == 6
    admin.execute("SET ACL ON PROJECT acme/ml/rec READERS ('nobody@acme.com')")
    with pytest.raises(PermissionDenied):
        bob.execute("SELECT id FROM items")


# -- a context kept between statements (raise_.engine.contexts) --------------------------------

PROJECT = ("acme", "ml", "rec")


def _kept(engine: Engine) -> list:
    return list(engine.contexts._idle)


def test_principals_taking_turns_on_one_kept_context_see_only_what_they_may(store):
    home, matrix = store
    engine = Engine(home)
    admin = engine.session(project=PROJECT)
    admin.execute("CREATE FEATURE GROUP scores KEY (id INT64); CREATE FEATURE scores.secret FLOAT64; "
                  "CREATE PRINCIPAL GROUP 'readers@acme.com' MEMBERS ('bob@acme.com', 'eve@acme.com'); "
                  "SET ACL ON PROJECT acme/ml/rec READERS ('readers@acme.com'); "
                  "SET ACL ON FEATURE scores.secret READERS ('bob@acme.com') NO INHERIT")
    admin.ingest("scores", pa.table({"id": pa.array(range(6), pa.int64()), "secret": [0.5 * i for i in range(6)]}))
    bob, eve = engine.session("bob@acme.com", PROJECT), engine.session("eve@acme.com", PROJECT)
    query = "SELECT i.id, s.secret FROM items i JOIN scores s ON s.id = i.id ORDER BY i.id"
    for _ in range(2):
        assert bob.execute(query).column("secret").to_pylist() == [0.5 * i for i in range(6)]
        kept = _kept(engine)
        assert len(kept) == 1  # the same context serves the next statement, whoever runs it
        assert eve.execute("SELECT id FROM scores ORDER BY id").column("id").to_pylist() == list(range(6))
        assert _kept(engine) == kept
        with pytest.raises(PermissionDenied):  # on the context bob's statements used
            eve.execute(query)
    with pytest.raises(PermissionDenied):
        eve.execute("SELECT * FROM scores")


def test_a_statements_constant_vector_function_is_gone_at_the_next(store):
    home, matrix = store
    engine = Engine(home)
    session = engine.session(project=PROJECT)
    query = np.linspace(-1, 1, DIM, dtype=np.float32)
    held = session.execute(f"SELECT id, dot(emb, {_literal(query)}) AS s FROM items ORDER BY id")
    np.testing.assert_allclose(held.column("s").to_pylist()[:-1], matrix @ query, rtol=1e-5)
    kept, = _kept(engine)
    assert not any(name.startswith("dot_const_") for name in kept.udfs())
    with pytest.raises(RaiseError):
        session.execute("SELECT id, dot_const_0(emb) AS s FROM items")
    other = np.ones(DIM, dtype=np.float32)
    again = session.execute(f"SELECT id, dot(emb, {_literal(other)}) AS s FROM items ORDER BY id")
    np.testing.assert_allclose(again.column("s").to_pylist()[:-1], matrix @ other, rtol=1e-5)


def test_a_write_between_statements_is_read_by_the_next(store):
    home, _ = store
    engine = Engine(home)
    session = engine.session(project=PROJECT)
    for _ in range(2):  # the second read is served from the decoded cache by a kept context
        assert session.execute("SELECT count(*) AS n FROM items").column("n").to_pylist() == [6]
    kept = _kept(engine)
    assert len(kept) == 1
    session.ingest("items", pa.table({"id": pa.array([6, 7], pa.int64()),
                                      "emb": pa.nulls(2, pa.list_(pa.float32(), DIM))}))
    assert session.execute("SELECT count(*) AS n FROM items").column("n").to_pylist() == [8]
    Engine(home).session(project=PROJECT).ingest("items", pa.table({"id": pa.array([8], pa.int64())}))
    assert session.execute("SELECT max(id) AS m FROM items").column("m").to_pylist() == [8]
    assert session.execute("SELECT * FROM items").column_names == ["id", "emb"]
    session.execute("CREATE FEATURE items.score FLOAT64 DEFAULT 1.5")  # a catalog change: new views
    assert session.execute("SELECT * FROM items").column_names == ["id", "emb", "score"]
    assert not any(c in kept for c in _kept(engine))


def test_parameters_and_temporary_tables_stay_with_their_statement_and_session(store):
    home, _ = store
    engine = Engine(home)
    one, two = engine.session(project=PROJECT), engine.session(project=PROJECT)
    sql = "SELECT id FROM items WHERE id = $1"
    assert one.execute(sql, params=[1]).column("id").to_pylist() == [1]
    assert two.execute(sql, params=[4]).column("id").to_pylist() == [4]
    with pytest.raises(RaiseError):
        one.execute(sql)  # no value for $1: nothing is left from the statements before
    one.create_temporary("extra", pa.table({"id": pa.array([3], pa.int64())}))
    assert one.execute("SELECT i.id FROM items i JOIN extra e ON e.id = i.id").column("id").to_pylist() == [3]
    assert one.execute("SELECT id FROM items WHERE id = 2").num_rows == 1
    with pytest.raises(RaiseError):
        two.execute("SELECT i.id FROM items i JOIN extra e ON e.id = i.id")
    assert all("extra" not in ctx.catalog().schema().names() for ctx in _kept(engine))
