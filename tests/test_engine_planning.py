"""Planning a query: the catalog generation, the view cache and lazily computed results."""
from __future__ import annotations

import pyarrow as pa
import pytest

from grammar.errors import ExecutionError, NotFound
from raise_.engine import Engine, ResultStream
from raise_.engine.catalog import Catalog

SETUP = ("CREATE ORGANIZATION acme; CREATE DOMAIN acme/ml; CREATE PROJECT acme/ml/rec; USE acme/ml/rec; "
         "CREATE FEATURE GROUP users KEY (user_id INT64); CREATE FEATURE users.clicks INT64")


@pytest.fixture
def session(engine):
    session = engine.session(principal="alice@acme.com")
    session.execute(SETUP)
    session.ingest("users", pa.table({"user_id": [1, 2], "clicks": [10, 20]}))
    return session


def test_generation_changes_with_every_committed_change_from_any_connection(tmp_path):
    first, second = Catalog(tmp_path / "c.db"), Catalog(tmp_path / "c.db")
    start = first.generation()
    assert second.generation() == start
    first.put("thing", "a", {"v": 1})
    assert first.generation() == second.generation() == start + 1
    with second.transaction():
        second.get("thing", "a")  # reads only
    assert first.generation() == start + 1
    with second.transaction():
        second.put("thing", "b", {"v": 2})
        assert second.generation() is None  # uncommitted state has no generation
    assert first.generation() == start + 2
    with pytest.raises(RuntimeError), first.transaction():
        first.put("thing", "c", {"v": 3})
        raise RuntimeError("roll back")
    assert second.generation() == start + 2


def test_views_follow_new_features_and_their_first_writes(session):
    assert session.execute("SELECT * FROM users ORDER BY user_id").column_names == ["user_id", "clicks", "clicks@v1"]
    session.execute("CREATE FEATURE users.score FLOAT64 DEFAULT 0.5")
    assert session.execute("SELECT user_id, score FROM users ORDER BY user_id").to_pydict() == {
        "user_id": [1, 2], "score": [None, None]}
    session.ingest("users", pa.table({"user_id": [3], "clicks": [30], "score": [1.5]}))
    assert session.execute("SELECT user_id, score FROM users ORDER BY user_id").to_pydict() == {
        "user_id": [1, 2, 3], "score": [None, None, 1.5]}


def test_views_see_changes_made_by_another_engine_on_the_same_store(engine, session):
    assert session.execute("SELECT clicks FROM users ORDER BY user_id")["clicks"].to_pylist() == [10, 20]
    other = Engine(engine.home).session(principal="alice@acme.com", project=("acme", "ml", "rec"))
    other.execute("CREATE FEATURE users.ctr FLOAT64 DERIVED AS clicks / 100")
    assert session.execute("SELECT ctr FROM users ORDER BY user_id")["ctr"].to_pylist() == [0.1, 0.2]
    other.execute("DROP FEATURE users.ctr")
    with pytest.raises(NotFound):
        session.execute("SELECT ctr FROM users")


def test_a_view_planned_inside_a_rolled_back_script_is_not_kept(session):
    session.execute("BEGIN; CREATE FEATURE users.ghost INT64 DERIVED AS clicks + 1; "
                    "CREATE FEATURE users.ghost2 INT64 DERIVED AS ghost * 2; ROLLBACK")
    assert session.execute("SELECT * FROM users").column_names == ["user_id", "clicks", "clicks@v1"]


def test_derived_features_of_other_groups_follow_their_first_write(session):
    session.execute("CREATE FEATURE GROUP totals KEY (user_id INT64); CREATE FEATURE totals.spend FLOAT64; "
                    "CREATE FEATURE users.spend_per_click FLOAT64 DERIVED AS totals.spend / clicks")
    assert session.execute("SELECT spend_per_click FROM users ORDER BY user_id")["spend_per_click"].to_pylist() == [
        None, None]
    session.ingest("totals", pa.table({"user_id": [1, 2], "spend": [5.0, 10.0]}))
    assert session.execute("SELECT spend_per_click FROM users ORDER BY user_id")["spend_per_click"].to_pylist() == [
        0.5, 0.5]


def test_stream_plans_now_and_computes_as_read(session):
    stream = session.stream("SELECT user_id, clicks * 2 AS doubled FROM users ORDER BY user_id")
    assert isinstance(stream, ResultStream)
    assert stream.schema.names == ["user_id", "doubled"] and stream.num_rows == -1
    session.ingest("users", pa.table({"user_id": [3], "clicks": [30]}))  # after planning: not seen
    assert stream.table().to_pydict() == {"user_id": [1, 2], "doubled": [20, 40]}


def test_stream_of_a_statement_runs_it_at_once(session):
    stream = session.stream("CREATE FEATURE users.country STRING")
    assert stream.num_rows == 1 and stream.table().column("rows_affected").to_pylist() == [1]
    assert "country" in session.execute("SELECT * FROM users").column_names


def test_stream_errors_are_raise_errors_at_planning_or_reading(session):
    with pytest.raises(NotFound) as missing:
        session.stream("SELECT nope FROM users")
    assert missing.value.code == "RAISE-N002"
    session.execute("CREATE FEATURE users.word STRING")
    session.ingest("users", pa.table({"user_id": [5], "clicks": [1], "word": ["five"]}))
    stream = session.stream("SELECT CAST(word AS INT) AS n FROM users WHERE word IS NOT NULL")
    with pytest.raises(ExecutionError) as failed:
        stream.table()
    assert failed.value.code == "RAISE-X001" and "Cannot cast string 'five'" in failed.value.message
