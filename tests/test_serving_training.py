"""Point-in-time correct training sets: get_training_data and Raise SQL's ASOF JOIN, equal to
DuckDB's ASOF LEFT JOIN on randomized data, in-process and over Flight SQL."""
from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from raise_ import ACL, FeatureStore
from raise_.errors import NotFound, PermissionDenied, TypeMismatch, Unsupported, ValidationError

pytest_plugins = ["conftest_sdk"]

T0 = dt.datetime(2026, 1, 1)


def _random_writes(rng: np.random.Generator, keys: int, writes: int, rows: int) -> list[pa.Table]:
    """Batches of rows with colliding (key, time) pairs across and within batches, and NULLs."""
    batches = []
    for _ in range(writes):
        times = [T0 + dt.timedelta(hours=int(h)) for h in rng.integers(0, 40, rows)]
        clicks = rng.integers(0, 100, rows)
        score = rng.normal(size=rows)
        batches.append(pa.table({
            "user_id": rng.integers(0, keys, rows),
            "event_time": pa.array(times, pa.timestamp("us")),
            "clicks": pa.array(clicks, mask=rng.random(rows) < 0.2),
            "score": pa.array(score, mask=rng.random(rows) < 0.2),
        }))
    return batches


def _entities(rng: np.random.Generator, keys: int, rows: int) -> pa.Table:
    """Entity rows: keys with no feature rows (>= keys), times before the first row, a NULL time."""
    times = [T0 + dt.timedelta(hours=int(h), minutes=int(m)) for h, m in
             zip(rng.integers(-5, 45, rows), rng.choice([0, 0, 30], rows))]
    table = pa.table({
        "user_id": rng.integers(0, keys + 3, rows),
        "event_time": pa.array(times, pa.timestamp("us"), mask=np.arange(rows) == 3),
        "label": rng.integers(0, 2, rows),
    })
    return table


def _latest_written(batches: list[pa.Table]) -> pa.Table:
    """The rows DuckDB joins: one per (key, time), the last written (its tie order is unspecified)."""
    table = pa.concat_tables(batches)
    rows = table.append_column("__order", pa.array(np.arange(table.num_rows)))
    return duckdb.sql("SELECT * EXCLUDE (__order, r) FROM (SELECT *, row_number() OVER (PARTITION BY user_id, "
                      "event_time ORDER BY __order DESC) AS r FROM rows) WHERE r = 1").arrow().read_all()


def _duckdb(sql: str, entities: pa.Table, signals: pa.Table) -> pa.Table:
    con = duckdb.connect()
    con.register("__raise_entities", entities.append_column("__raise_row", pa.array(range(entities.num_rows))))
    con.register("user-signals", signals)
    return con.sql(sql).arrow().read_all()


@pytest.fixture
def random_signals(store):
    rng = np.random.default_rng(17)
    group = store.create_feature_group("user-signals", key_columns=["user_id"], timestamp_column="event_time")
    group.create_feature("clicks", dtype="int64")
    group.create_feature("score", dtype="float64")
    batches = _random_writes(rng, keys=12, writes=3, rows=60)
    for batch in batches:
        group.write(batch)
    return store, batches, _entities(rng, keys=12, rows=200)


@pytest.mark.parametrize("inclusive, ttl", [(True, None), (False, None), (True, "5h"), (False, dt.timedelta(hours=3))])
def test_training_set_equals_duckdb_asof_left_join(random_signals, inclusive, ttl):
    store, batches, entities = random_signals
    got = store.get_training_data(entities, ["user-signals.clicks", "user-signals.score"],
                                  inclusive=inclusive, ttl=ttl)
    sql = store.history[-1]
    assert "ASOF LEFT JOIN" in sql and ('"event_time" >= "g1"."event_time"' in sql) == inclusive
    expected = _duckdb(sql, entities, _latest_written(batches))
    assert got.column_names == ["user_id", "event_time", "label", "clicks", "score"]
    assert got.num_rows == entities.num_rows
    assert got.select(["user_id", "event_time", "label"]).equals(entities)
    assert got.to_pydict() == expected.to_pydict()
    assert got.column("clicks").null_count > 0 and got.column("clicks").null_count < got.num_rows


def test_raise_sql_asof_join_as_duckdb_writes_it(random_signals):
    store, batches, entities = random_signals
    store.connection.create_temporary("labels", entities)
    sql = ('SELECT l.user_id, l.event_time, s.clicks, s.event_time AS feature_time FROM labels l '
           'ASOF JOIN "user-signals" s ON s.user_id = l.user_id AND s.event_time < l.event_time '
           'WHERE s.clicks IS NOT NULL ORDER BY l.event_time, l.user_id, s.clicks')
    con = duckdb.connect()
    con.register("labels", entities)
    con.register("user-signals", _latest_written(batches))
    assert store.sql(sql).to_pydict() == con.sql(sql).arrow().read_all().to_pydict()


def test_select_star_keeps_both_sides_and_names_repeated_columns(store):
    group = store.create_feature_group("user-signals", key_columns=["user_id"], timestamp_column="event_time")
    group.create_feature("clicks", dtype="int64")
    group.write({"user_id": [1, 1], "event_time": [T0, T0 + dt.timedelta(days=2)], "clicks": [1, 2]})
    store.connection.create_temporary("labels", pa.table({"user_id": [1, 2], "event_time": [T0 + dt.timedelta(days=1)] * 2}))
    got = store.sql('SELECT * FROM labels l ASOF LEFT JOIN "user-signals" s '
                    'ON l.user_id = s.user_id AND l.event_time >= s.event_time')
    assert got.column_names == ["user_id", "event_time", "s.user_id", "s.event_time", "clicks"]
    assert got.column("clicks").to_pylist() == [1, None]


def test_entities_from_pandas_polars_dicts_and_sql(random_signals):
    store, _, entities = random_signals
    polars = pytest.importorskip("polars")
    features = ["user-signals.clicks"]
    expected = store.get_training_data(entities, features)
    assert store.get_training_data(entities.to_pandas(), features).column("clicks").equals(expected.column("clicks"))
    assert store.get_training_data(polars.from_arrow(entities), features).column("clicks").equals(expected.column("clicks"))
    assert store.get_training_data(entities.to_pylist(), features).column("clicks").equals(expected.column("clicks"))
    as_object = store.get_training_data(entities, [store.feature("user-signals/clicks")])
    assert as_object.column("clicks").equals(expected.column("clicks"))
    query = 'SELECT user_id, event_time + INTERVAL \'1 hour\' AS event_time FROM "user-signals" ORDER BY user_id, event_time'
    from_sql = store.get_training_data(query, features)
    from_rows = store.get_training_data(store.sql(query), features)
    assert from_sql.column_names == ["user_id", "event_time", "clicks"] and from_sql.equals(from_rows)


def test_features_of_two_groups_versions_and_shared_names(store):
    users = store.create_feature_group("user-signals", key_columns=["user_id"], timestamp_column="event_time")
    users.create_feature("score", dtype="float64")
    users.create_feature("score", dtype="float64", version="v2")
    items = store.create_feature_group("item-signals", key_columns=["item_id"], timestamp_column="ts")
    items.create_feature("score", dtype="float64")
    users.write({"user_id": [1], "event_time": [T0], "score@v1": [0.5], "score": [2.5]})
    items.write({"item_id": [7, 7], "ts": [T0, T0 + dt.timedelta(days=3)], "score": [1.0, 9.0]})
    rows = [{"user_id": 1, "item_id": 7, "event_time": T0 + dt.timedelta(days=1)}]
    got = store.get_training_data(rows, ["user-signals.score@v1", "user-signals.score", "item-signals.score"])
    assert got.column_names == ["user_id", "item_id", "event_time", "score@v1", "user-signals.score",
                                "item-signals.score"]
    assert got.to_pylist() == [{**rows[0], "score@v1": 0.5, "user-signals.score": 2.5, "item-signals.score": 1.0}]
    full = store.get_training_data(rows, ["acme/mlplatform/recommendation/item-signals.score"])
    assert full.column("score").to_pylist() == [1.0]


def test_bad_input_raises_coded_errors(random_signals):
    store, _, entities = random_signals
    with pytest.raises(ValidationError) as missing_key:
        store.get_training_data(entities.drop(["user_id"]), ["user-signals.clicks"])
    assert missing_key.value.code == "RAISE-V171" and missing_key.value.name == "user_id"
    with pytest.raises(ValidationError) as missing_time:
        store.get_training_data(entities, ["user-signals.clicks"], timestamp_column="ts")
    assert missing_time.value.code == "RAISE-V171"
    text_times = entities.set_column(1, "event_time", entities.column("event_time").cast(pa.string()))
    with pytest.raises(TypeMismatch) as wrong_type:
        store.get_training_data(text_times, ["user-signals.clicks"])
    assert wrong_type.value.code == "RAISE-V174"
    with pytest.raises(NotFound) as unknown:
        store.get_training_data(entities, ["user-signals.no_such_feature"])
    assert unknown.value.code.startswith("RAISE-N") and "no_such_feature" in str(unknown.value)
    with pytest.raises(ValidationError) as ttl:
        store.get_training_data(entities, ["user-signals.clicks"], ttl="seven days")
    assert ttl.value.code == "RAISE-V176"


def test_asof_join_conditions_are_checked(random_signals):
    store, _, entities = random_signals
    store.connection.create_temporary("labels", entities)
    base = 'SELECT l.label FROM labels l ASOF LEFT JOIN "user-signals" s ON '
    with pytest.raises(ValidationError) as two_times:
        store.sql(base + "l.user_id = s.user_id AND l.event_time >= s.event_time AND l.event_time > s.event_time")
    assert two_times.value.code == "RAISE-V170"
    with pytest.raises(Unsupported) as forward:
        store.sql(base + "l.user_id = s.user_id AND l.event_time <= s.event_time")
    assert forward.value.code == "RAISE-X170"
    with pytest.raises(ValidationError) as unknown:
        store.sql(base + "l.user_id = s.nope AND l.event_time >= s.event_time")
    assert unknown.value.code == "RAISE-V171" and unknown.value.name == "nope"
    with pytest.raises(ValidationError) as types:  # over Flight: the code's status class
        store.sql(base + "l.user_id = s.user_id AND l.label >= s.event_time")
    assert types.value.code == "RAISE-V174"


def test_feature_acls_apply_and_reads_are_audited(tmp_path):
    home = str(tmp_path / "store")
    alice = FeatureStore("acme/ml/rec", home=home, user="alice@acme.com")
    group = alice.create_feature_group("user-signals", key_columns=["user_id"], timestamp_column="event_time")
    group.create_feature("clicks", dtype="int64")
    group.create_feature("ssn", dtype="string")
    group.write({"user_id": [1], "event_time": [T0], "clicks": [3], "ssn": ["x"]})
    alice.sql("CREATE PRINCIPAL GROUP 'analysts@acme.com' MEMBERS ('bob@acme.com')")
    group.set_acl(ACL(readers=["analysts@acme.com"]))
    group.feature("ssn").set_acl(ACL(readers=["alice@acme.com"], inherit=False))
    bob = FeatureStore("acme/ml/rec", home=home, user="bob@acme.com")
    rows = [{"user_id": 1, "event_time": T0 + dt.timedelta(days=1)}]
    assert bob.get_training_data(rows, ["user-signals.clicks"]).column("clicks").to_pylist() == [3]
    with pytest.raises(PermissionDenied):
        bob.get_training_data(rows, ["user-signals.clicks", "user-signals.ssn"])
    reads = alice.audit.query(resource="user-signals/*", actions=["READ"])
    assert any(e.actor == "bob@acme.com" and e.resource.endswith("user-signals/clicks") for e in reads)


def test_cross_group_derived_features_are_refused(store):
    users = store.create_feature_group("user-signals", key_columns=["user_id"], timestamp_column="event_time")
    users.create_feature("clicks", dtype="int64")
    profile = store.create_feature_group("profiles", key_columns=["user_id"], timestamp_column="event_time")
    profile.create_feature("boosted", dtype="float64", derived_from="user-signals.clicks * 2")
    with pytest.raises(Unsupported) as refused:
        store.get_training_data([{"user_id": 1, "event_time": T0}], ["profiles.boosted"])
    assert refused.value.code == "RAISE-X171"


def test_features_shared_by_another_organization(tmp_path):
    home = str(tmp_path / "store")
    acme = FeatureStore("acme/mlplatform/recommendation", home=home, user="alice@acme.com")
    acme.create_feature_group("user-signals", key_columns=["user_id"], timestamp_column="event_time")
    partner = FeatureStore("partner-org/shared/embeddings", home=home, user="dave@partner-org.com")
    items = partner.create_feature_group("items", key_columns=["user_id"], timestamp_column="event_time")
    items.create_feature("score", dtype="float64")
    items.create_feature("private", dtype="float64")
    items.write({"user_id": [1, 1], "event_time": [T0, _days(2)], "score": [1.0, 3.0], "private": [0.0, 0.0]})
    items.grant_external_access(org="acme", features=["score"], permission="read",
                                expires_at=dt.datetime.now() + dt.timedelta(days=30))
    rows = [{"user_id": 1, "event_time": _days(1)}, {"user_id": 1, "event_time": _days(5)}]
    shared = acme.get_training_data(rows, ["@partner-org/shared/embeddings/items.score"])
    assert shared.column("score").to_pylist() == [1.0, 3.0]
    with pytest.raises(PermissionDenied):
        acme.get_training_data(rows, ["@partner-org/shared/embeddings/items.private"])


def _days(n: int) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


def test_progress_bars_show_only_on_a_terminal_outside_ci(monkeypatch):
    import io
    import os

    from raise_.serving import progress

    leader, follower = os.openpty()
    terminal = os.fdopen(follower, "w")
    try:
        monkeypatch.delenv("CI", raising=False)
        monkeypatch.delenv("RAISE_PROGRESS", raising=False)
        monkeypatch.setattr("sys.stderr", terminal)
        assert progress.watched() and not progress.bar(3, "x").disable
        monkeypatch.setenv("CI", "true")
        assert progress.bar(3, "x").disable
        monkeypatch.delenv("CI")
        monkeypatch.setenv("RAISE_PROGRESS", "0")
        assert not progress.watched()
        monkeypatch.delenv("RAISE_PROGRESS")
        monkeypatch.setattr("sys.stderr", io.StringIO())  # a log file, a pipe: no bar
        assert not progress.watched()
    finally:
        terminal.close()
        os.close(leader)
