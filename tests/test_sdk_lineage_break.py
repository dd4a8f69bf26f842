"""Deleting an upstream feature: its derived features become broken, are audited, and heal
when it is created again; RESTRICT refuses instead."""
from __future__ import annotations

import datetime as dt

import pytest

from raise_.errors import NotFound, RaiseWarning, ValidationError

pytest_plugins = ["conftest_sdk"]

T0 = dt.datetime(2026, 1, 1)
QUALIFIED = "acme/mlplatform/recommendation/user-signals"


@pytest.fixture
def ctr(signals):
    feature = signals.create_feature("ctr", dtype="float64", derived_from="click_count / NULLIF(impression_count, 0)")
    signals.write([{"user_id": 1, "event_time": T0, "click_count": 1, "impression_count": 4}])
    return feature


def _breaks(feature):
    return [(e.resource, e.details, e.outcome) for e in feature.audit_log(category="lineage")
            if e.action == "LINEAGE_BREAK"]


def test_deleting_an_upstream_breaks_its_dependent_until_it_is_created_again(signals, ctr):
    with pytest.warns(RaiseWarning) as caught:
        signals.feature("impression_count").delete()
    assert [w.message.code for w in caught] == ["RAISE-V063"] and f"{QUALIFIED}/ctr@v1" in str(caught[0].message)
    ctr.refresh()
    assert ctr.status == "broken" and f"'{QUALIFIED}/impression_count'" in ctr.message
    assert [f.name for f in signals.list_features(status="broken")] == ["ctr"]
    with pytest.raises(NotFound) as unreadable:
        signals.read(["ctr"])
    assert (unreadable.value.code, unreadable.value.name) == ("RAISE-N005", "ctr")
    assert "'impression_count'" in unreadable.value.message
    assert signals.read().column_names == ["user_id", "event_time", "click_count", "user_embedding"]
    assert _breaks(ctr) == [(f"{QUALIFIED}/ctr", {"upstream": f"{QUALIFIED}/impression_count"}, "ALLOWED")]
    again = signals.validate_feature("ctr", dtype="float64", derived_from=ctr.derived_from)
    assert [(w.code, w.name) for w in again.warnings] == [("RAISE-V040", "impression_count")]

    signals.create_feature("impression_count", dtype="int64")
    assert ctr.refresh().status == "active" and ctr.message is None
    assert signals.read(["ctr"]).column("ctr").to_pylist() == [None]  # old values are not resurrected
    signals.write([{"user_id": 1, "event_time": T0, "click_count": 1, "impression_count": 5}], mode="upsert")
    assert signals.read(["ctr"]).column("ctr").to_pylist() == [0.2]


def test_restrict_refuses_and_changes_nothing(signals, ctr):
    with pytest.raises(ValidationError) as refused:
        signals.feature("impression_count").delete(restrict=True)
    assert refused.value.code == "RAISE-V060" and f"{QUALIFIED}/ctr@v1" in refused.value.message
    assert signals.feature("impression_count").status == "active" and ctr.refresh().status == "active"
    assert signals.read(["ctr"]).column("ctr").to_pylist() == [0.25]
    assert _breaks(ctr) == []


def test_sql_drop_breaks_every_dependent_once_and_a_remaining_version_keeps_them(store, signals, ctr):
    other = store.create_feature_group("user-totals", key_columns=["user_id"])
    other.create_feature("clicks_copy", dtype="int64", derived_from="user-signals.click_count")
    signals.create_feature("click_count", dtype="int32", version="v2")
    store.sql('DROP FEATURE "user-signals".click_count@v1')  # v2 still answers the plain name
    assert ctr.refresh().status == "active" and _breaks(ctr) == []
    with pytest.raises(ValidationError):
        store.sql('DROP FEATURE "user-signals".click_count RESTRICT')
    with pytest.warns(RaiseWarning):
        store.sql('DROP FEATURE "user-signals".click_count')
    copy = other.feature("clicks_copy")
    assert (ctr.refresh().status, copy.status) == ("broken", "broken")
    assert _breaks(ctr) == [(f"{QUALIFIED}/ctr", {"upstream": f"{QUALIFIED}/click_count"}, "ALLOWED")]
    assert len(_breaks(copy)) == 1
    with pytest.raises(NotFound) as unreadable:
        store.sql('SELECT clicks_copy FROM "user-totals"')
    assert unreadable.value.code == "RAISE-N005" and "user-signals.click_count" in unreadable.value.message
    assert store.sql('DESCRIBE FEATURE "user-totals".clicks_copy').column("status").to_pylist() == ["broken"]
