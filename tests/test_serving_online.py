"""The online store: materialization from the change feed and lookups, in-process and over
Flight SQL, on each online store backend (SQLite; Redis on a real redis-server)."""
from __future__ import annotations

import datetime as dt
import os

import pyarrow as pa
import pytest

import redis_server

from raise_ import ACL, FeatureStore
from raise_.errors import PermissionDenied, ValidationError
from raise_.serving.redis_store import RedisOnlineStore

pytest_plugins = ["conftest_sdk"]

T0 = dt.datetime(2026, 1, 1)


def _day(n: int) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    process, url = redis_server.start(tmp_path_factory.mktemp("redis"))
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(params=["sqlite", "redis"])
def online_store(request, monkeypatch) -> str:
    """The backend (requested before the store, so a Flight server inherits the setting)."""
    uri = request.getfixturevalue("redis_url") if request.param == "redis" else "sqlite"
    monkeypatch.setenv("RAISE_ONLINE_STORE", uri)
    return request.param


@pytest.fixture
def server_url(request, tmp_path, connection_kind):
    """The suite's Flight server (``conftest_sdk``), except on Redis: a server started after
    ``online_store`` set the URI, which the suite's spare servers, started ahead, never saw."""
    if connection_kind != "flight":
        yield None
        return
    if "online_store" in request.fixturenames and request.getfixturevalue("online_store") == "redis":
        from conftest_flight import add_user, start_server
        from conftest_sdk import PASSWORD, USER

        home = tmp_path / "store"
        home.mkdir()
        add_user(home, USER, PASSWORD)
        server = start_server(home)
    else:
        home, server = request.getfixturevalue("spare_servers").take()
        (tmp_path / "store").symlink_to(home, target_is_directory=True)
    yield server.url
    server.stop()


@pytest.fixture
def signals_rows(signals):
    signals.write({"user_id": [1, 1, 2], "event_time": [_day(0), _day(2), _day(1)], "click_count": [1, 3, 5],
                   "user_embedding": [[0.5] * 512, [1.0] * 512, [2.0] * 512]})
    return signals


def test_lookups_return_the_latest_values_after_each_materialization(online_store, store, signals_rows,
                                                                   tmp_path):
    features = ["user-signals.click_count", "user-signals.user_embedding"]
    status = store.materialize("user-signals").to_pylist()[0]
    assert (status["group"], status["rows"], status["keys"]) == ("user-signals", 2, 2)
    if online_store == "redis":  # the rows are in the Redis server, wherever the engine runs
        held = RedisOnlineStore(os.environ["RAISE_ONLINE_STORE"], tmp_path / "store")
        assert len(held.client.keys(f"{held.prefix}:*")) == 2 + 2  # 2 rows, the key set, the layout
    got = store.get_online_features(features, entity_rows=[{"user_id": 2}, {"user_id": 9}, {"user_id": 1}])
    assert got.to_dict() == {"user_id": [2, 9, 1], "click_count": [5, None, 3],
                             "user_embedding": [[2.0] * 512, None, [1.0] * 512]}
    assert got.to_arrow().schema.field("user_embedding").type == pa.list_(pa.float32(), 512)
    assert list(got.to_pandas().columns) == ["user_id", "click_count", "user_embedding"]
    # one newer row, one older than what is held: only the newer one counts
    signals_rows.write({"user_id": [2, 1, 3], "event_time": [_day(5), _day(1), _day(0)], "click_count": [50, 100, 7]})
    status = store.materialize(signals_rows).to_pylist()[0]
    assert (status["rows"], status["keys"]) == (2, 3)  # read from the change feed: 3 rows, 2 newer
    got = store.get_online_features(features[:1], entity_rows=[{"user_id": 1}, {"user_id": 2}, {"user_id": 3}])
    assert got.to_dict() == {"user_id": [1, 2, 3], "click_count": [3, 50, 7]}
    signals_rows.write({"user_id": [4], "event_time": [_day(0)], "click_count": [9]}, mode="overwrite")
    store.materialize(["user-signals.click_count"])
    got = store.get_online_features(features[:1], entity_rows=[{"user_id": 1}, {"user_id": 4}])
    assert got.to_dict() == {"user_id": [1, 4], "click_count": [None, 9]}


def test_raise_sql_materialize_status_and_prepared_lookup(online_store, store, signals_rows):
    store.sql('MATERIALIZE "user-signals"')
    shown = store.sql("SHOW ONLINE STATUS").to_pylist()
    assert [(s["group"], s["keys"], s["version"]) for s in shown] == [("user-signals", 2, 1)]
    assert shown[0]["features"] == ["click_count", "impression_count", "user_embedding"]
    lookup = 'LOOKUP ONLINE "user-signals" (click_count) WHERE user_id IN (?, ?)'
    for keys, expected in [((1, 2), [3, 5]), ((2, 7), [5, None])]:
        assert store.sql(lookup, list(keys)).to_pydict() == {"user_id": list(keys), "click_count": expected}


def test_bad_lookups_raise_coded_errors(store, signals_rows):
    store.materialize("user-signals")
    with pytest.raises(ValidationError) as missing:
        store.get_online_features(["user-signals.click_count"], entity_rows=[{"item_id": 1}])
    assert missing.value.code == "RAISE-V171"
    with pytest.raises(ValidationError) as wrong_key:
        store.sql('LOOKUP ONLINE "user-signals" (click_count) WHERE item_id IN (1)')
    assert wrong_key.value.code == "RAISE-V180"


def test_lookups_need_read_on_each_feature(tmp_path):
    home = str(tmp_path / "store")
    alice = FeatureStore("acme/ml/rec", home=home, user="alice@acme.com")
    group = alice.create_feature_group("user-signals", key_columns=["user_id"], timestamp_column="event_time")
    group.create_feature("clicks", dtype="int64")
    group.create_feature("ssn", dtype="string")
    group.write({"user_id": [1], "event_time": [T0], "clicks": [3], "ssn": ["x"]})
    alice.materialize(group)
    alice.sql("CREATE PRINCIPAL GROUP 'analysts@acme.com' MEMBERS ('bob@acme.com')")
    group.set_acl(ACL(readers=["analysts@acme.com"]))
    group.feature("ssn").set_acl(ACL(readers=["alice@acme.com"], inherit=False))
    bob = FeatureStore("acme/ml/rec", home=home, user="bob@acme.com")
    assert bob.get_online_features(["user-signals.clicks"], [{"user_id": 1}]).to_dict()["clicks"] == [3]
    with pytest.raises(PermissionDenied):
        bob.get_online_features(["user-signals.ssn"], [{"user_id": 1}])
    with pytest.raises(PermissionDenied):
        bob.materialize("user-signals")
    reads = [e for e in alice.audit.query(resource="user-signals/*", actions=["READ"]) if e.actor == "bob@acme.com"]
    # one entry per lookup, naming every feature it read (or was refused)
    assert [(e.outcome, e.resource, e.details["features"]) for e in reads] == [
        ("ALLOWED", "acme/ml/rec/user-signals", ["acme/ml/rec/user-signals/clicks"]),
        ("DENIED", "acme/ml/rec/user-signals", ["acme/ml/rec/user-signals/ssn"])]
    # a changed ACL counts from the next lookup on (the prepared lookup is checked per call)
    group.feature("clicks").set_acl(ACL(readers=["alice@acme.com"], inherit=False))
    with pytest.raises(PermissionDenied):
        bob.get_online_features(["user-signals.clicks"], [{"user_id": 1}])


def test_groups_with_several_keys_are_looked_up_by_tuples(online_store, store):
    pairs = store.create_feature_group("user-items", key_columns={"user_id": "int64", "item_id": "string"},
                                       timestamp_column="event_time")
    pairs.create_feature("views", dtype="int64")
    pairs.write({"user_id": [1, 1, 2, 1], "item_id": ["a", "b", "a", "a"], "views": [1, 2, 3, 4],
                 "event_time": [_day(0), _day(0), _day(0), _day(1)]})
    store.materialize(pairs)
    rows = [{"user_id": 2, "item_id": "a"}, {"user_id": 1, "item_id": "z"}, {"user_id": 1, "item_id": "a"}]
    assert store.get_online_features(["user-items.views"], rows).to_dict() == {
        "user_id": [2, 1, 1], "item_id": ["a", "z", "a"], "views": [3, None, 4]}
    lookup = """LOOKUP ONLINE "user-items" (views) WHERE (user_id, item_id) IN ((1, 'b'), (?, ?))"""
    assert store.sql(lookup, [2, "a"]).to_pydict() == {"user_id": [1, 2], "item_id": ["b", "a"], "views": [2, 3]}
    with pytest.raises(ValidationError) as partial:
        store.sql("""LOOKUP ONLINE "user-items" (views) WHERE user_id IN (1)""")
    assert partial.value.code == "RAISE-V180"
    with pytest.raises(ValidationError) as ragged:
        store.sql("""LOOKUP ONLINE "user-items" (views) WHERE (user_id, item_id) IN ((1, 'a'), (2))""")
    assert ragged.value.code == "RAISE-V185"


def test_derived_features_are_computed_at_lookup(online_store, store, signals_rows):
    signals_rows.create_feature("ctr", dtype="float64", derived_from="click_count / NULLIF(impression_count, 0)")
    signals_rows.create_feature("clicks_x2", dtype="int64", derived_from="click_count * 2")
    signals_rows.write({"user_id": [2], "event_time": [_day(3)], "click_count": [6], "impression_count": [8]})
    store.materialize("user-signals")
    got = store.get_online_features(["user-signals.ctr", "user-signals.clicks_x2", "user-signals.click_count"],
                                    [{"user_id": 2}, {"user_id": 1}, {"user_id": 5}])
    # what a query of the group's view computes for the newest rows
    assert got.to_dict() == {"user_id": [2, 1, 5], "ctr": [0.75, None, None], "clicks_x2": [12, 6, None],
                             "click_count": [6, 3, None]}
    assert got.to_arrow().schema.field("ctr").type == pa.float64()
    items = store.create_feature_group("item-signals", key_columns=["user_id"])
    items.create_feature("boost", dtype="float64")
    signals_rows.create_feature("boosted", dtype="float64", derived_from="click_count * item-signals.boost")
    with pytest.raises(ValidationError) as across:
        store.get_online_features(["user-signals.boosted"], [{"user_id": 1}])
    assert across.value.code == "RAISE-V186"
