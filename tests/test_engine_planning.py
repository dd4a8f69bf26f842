"""Planning a query: the catalog generation, the view cache and lazily computed results."""
from __future__ import annotations

import datetime as dt
import time

import pyarrow as pa
import pytest

from grammar.errors import ExecutionError, NotFound, PermissionDenied, ValidationError
from raise_.engine import Engine, ResultStream
from raise_.engine.catalog import Catalog
from raise_.engine.security import log_for

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
    assert session.execute("SELECT * FROM users ORDER BY user_id").column_names == ["user_id", "clicks"]
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
    assert session.execute("SELECT * FROM users").column_names == ["user_id", "clicks"]


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


def test_a_stream_that_fails_while_read_is_audited_as_an_error(engine, session):
    session.execute("CREATE FEATURE users.word STRING")
    session.ingest("users", pa.table({"user_id": [5], "clicks": [1], "word": ["five"]}))
    stream = session.stream("SELECT CAST(word AS INT) AS n FROM users")
    log = log_for(engine.home)
    planned = [(e.action, e.resource, e.outcome) for e in log.entries()][-2:]
    assert planned == [("READ", "acme/ml/rec/users/word", "ALLOWED"), ("QUERY", "acme/ml/rec/users", "ALLOWED")]
    with pytest.raises(ExecutionError):
        stream.table()
    failed = [(e.action, e.resource, e.outcome) for e in log.entries()][-2:]
    assert failed == [("READ", "acme/ml/rec/users/word", "ERROR"), ("QUERY", "acme/ml/rec/users", "ERROR")]


def test_a_group_dropped_after_planning_is_not_found_without_paths(tmp_path):
    session = Engine(tmp_path, cache_bytes=0).session(principal="alice@acme.com")
    session.execute(SETUP)
    session.ingest("users", pa.table({"user_id": [1], "clicks": [10]}))
    stream = session.stream("SELECT clicks FROM users")
    session.execute("DROP FEATURE GROUP users CASCADE")
    with pytest.raises(NotFound) as gone:
        stream.table()
    assert gone.value.code == "RAISE-N004" and str(tmp_path) not in str(gone.value)


def test_views_naming_another_organization_follow_its_grant_expiring(engine):
    alice, dave = "alice@acme.com", "dave@partner-org.com"
    engine.session(alice).execute(SETUP)
    engine.session(dave).execute(
        'CREATE ORGANIZATION "partner-org"; CREATE DOMAIN "partner-org"/shared; '
        'CREATE PROJECT "partner-org"/shared/emb; USE "partner-org"/shared/emb; '
        "CREATE FEATURE GROUP items KEY (item_id INT64, region STRING); CREATE FEATURE items.score FLOAT64")
    expires = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1.5)).isoformat()
    engine.session(dave, ("partner-org", "shared", "emb")).execute(
        f"GRANT READ ON FEATURE GROUP items (score) TO ORGANIZATION acme EXPIRES '{expires}'")
    session = engine.session(alice, ("acme", "ml", "rec"))
    session.execute("CREATE FEATURE users.boost FLOAT64 DERIVED AS clicks * @partner-org/shared/emb/items.score")
    with pytest.raises(ValidationError) as unshared:  # granted, but the groups share no key
        session.execute("SELECT boost FROM users")
    assert unshared.value.code == "RAISE-V045"
    time.sleep(max(0.0, (dt.datetime.fromisoformat(expires) - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 0.2)
    with pytest.raises(PermissionDenied) as expired:  # expired: nothing about the partner's keys
        session.execute("SELECT boost FROM users")
    assert expired.value.code == "RAISE-P003" and "region" not in expired.value.message


def test_local_version_reads_the_newest_commit_off_the_log(engine, session):
    from deltalake import DeltaTable

    uri = session._group("users")["uri"]
    assert engine.storage.local_version(uri) == DeltaTable(uri).version()
    for clicks in (30, 40):
        session.ingest("users", pa.table({"user_id": [clicks], "clicks": [clicks]}))
        assert engine.storage.local_version(uri) == DeltaTable(uri).version()
    assert engine.storage.local_version(uri + "-missing") is None
    assert engine.storage.local_version("s3://bucket/table") is None
    assert session.execute("SELECT count(*) AS n FROM users").to_pylist() == [{"n": 4}]


def test_insert_without_a_column_list_fills_columns_in_creation_order(session):
    session.execute("CREATE FEATURE users.word STRING DEFAULT 'none'; CREATE FEATURE users.age INT64; "
                    "CREATE FEATURE users.twice INT64 DERIVED AS clicks * 2")
    assert session.execute("INSERT INTO users VALUES (3, 30, 'three', 33)").to_pylist() == [{"count": 1}]
    session.execute("INSERT INTO users VALUES (4, 40)")  # the rest take their defaults
    session.execute("INSERT INTO users SELECT 5, 50, 'five', 55")
    session.execute("INSERT INTO users SELECT 66 AS age, 6 AS user_id")  # named: by name
    rows = session.execute("SELECT user_id, clicks, word, age, twice FROM users WHERE user_id > 2 ORDER BY user_id")
    assert rows.to_pylist() == [
        {"user_id": 3, "clicks": 30, "word": "three", "age": 33, "twice": 60},
        {"user_id": 4, "clicks": 40, "word": "none", "age": None, "twice": 80},
        {"user_id": 5, "clicks": 50, "word": "five", "age": 55, "twice": 100},
        {"user_id": 6, "clicks": None, "word": "none", "age": 66, "twice": None},
    ]
    with pytest.raises(ValidationError) as extra:
        session.execute("INSERT INTO users VALUES (7, 70, 'seven', 77, 154)")
    assert extra.value.code == "RAISE-V055" and "user_id, clicks, word, age" in extra.value.message
    assert session.execute("SELECT count(*) AS n FROM users").to_pylist() == [{"n": 6}]
