"""Golden SQL: the Raise SQL each SDK call sends, pinned in ``tests/snapshots/<case>.sql``.

Each case runs a setup (not recorded), then the calls under test; every text sent through the
connection's ``execute`` is recorded (``fs.history``) and compared with the golden file, one
``-- execute N`` block per call of ``execute``. To accept a deliberate change, run
``RAISE_UPDATE_SNAPSHOTS=1 pytest tests/test_sdk_snapshots.py`` and review the diff.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Callable

import pytest

from raise_.errors import ValidationError

pytest_plugins = ["conftest_sdk"]

SNAPSHOTS = Path(__file__).parent / "snapshots"
pytestmark = pytest.mark.filterwarnings("ignore::raise_.errors.RaiseWarning")


def _group(fs):
    return fs.create_feature_group("user-signals", key_columns=["user_id"], timestamp_column="event_time")


def _features(fs):
    group = _group(fs)
    group.create_features_from_schema({"click_count": "int64", "impression_count": "int64",
                                       "user_embedding": "float32[512]"})
    return group


def _ctr(fs):
    group = _features(fs)
    return group.create_feature("ctr", dtype="float64", derived_from="click_count / NULLIF(impression_count, 0)")


def quickstart(fs, _):
    user_signals = fs.create_feature_group("user-signals", key_columns=["user_id"], timestamp_column="event_time")
    user_signals.create_feature("click_count", dtype="int64")
    user_signals.create_feature("user_embedding", dtype="float32[512]")
    user_signals.create_feature("ctr", dtype="float64", derived_from="click_count / NULLIF(impression_count, 0)")


def create_feature_all_options(fs, group):
    group.create_feature(name="user_embedding", dtype="float32[512]", description="User profile embedding",
                         tags=["embedding", "prod"], owner="ml-team@acme.com", nullable=True, default=None,
                         if_exists="error", validation="strict")
    group.create_feature("clicks", dtype="int64", nullable=False, default=0, version="v1")
    group.create_feature("label", dtype="string", default="it's")


def idempotent_creation(fs, group):
    group.create_feature("clicks", dtype="int64", if_exists="skip")
    group.get_or_create_feature("clicks", dtype="int64")
    group.create_feature("clicks", dtype="int64", description="Total clicks", if_exists="update")


def path_syntax(fs, group):
    fs.create_feature("user-signals/clicks", dtype="int64")
    fs.feature("user-signals/clicks")
    fs.feature("acme/mlplatform/recommendation/user-signals/clicks@v1")


def versioning(fs, group):
    feat_v1 = group.feature("user_embedding")
    group.create_feature("user_embedding", dtype="float32[768]", version="v2")
    group.feature("user_embedding")
    group.feature("user_embedding@v1")
    feat_v1.list_versions()


def changes(fs, group):
    clicks = group.feature("click_count")
    clicks.update(description="Total clicks", tags=["engagement"])
    clicks.deprecate("use clicks_v2")
    clicks.update(status="active")
    clicks.delete()


def redefine(fs, ctr):
    ctr.update(derived_from="click_count / NULLIF(impression_count + 1, 0)", description="smoothed")


def lineage(fs, ctr):
    result = ctr.get_lineage()
    result.all_upstream()
    result.as_graph().to_ascii()


def bulk_list(fs, group):
    group.create_features([
        {"name": "clicks", "dtype": "int64", "description": "Total clicks"},
        {"name": "ctr", "dtype": "float64", "derived_from": "clicks / impressions"},
    ])


def bulk_rollback(fs, group):
    with pytest.raises(ValidationError):
        group.create_features([
            {"name": "a", "dtype": "float64", "derived_from": "b + 1"},
            {"name": "b", "dtype": "float64", "derived_from": "a * 2"},
        ])


def validate(fs, group):
    group.validate_feature("ctr", dtype="float64", derived_from="click_count / impression_count",
                           validation="strict")


def write_rows(fs, group):
    group.write([{"user_id": 1, "click_count": 3}], mode="upsert")


def read_rows(fs, group):
    group.read()
    group.read(["click_count", "user_embedding@v1"], as_of=0, filter="click_count > 1")
    group.read("click_count", as_of=dt.datetime(2026, 1, 1, 12, 30))


def namespaces(fs, _):
    fs.create_organization("acme", description="Acme Corp", tags=["customer"], owner="admin@acme.com")
    fs.create_domain("search", if_exists="error")
    fs.create_project("fraud-detection", tags=["ml"])
    fs.organization("acme")
    fs.domain()
    fs.list_domains()
    fs.list_projects(tags=["ml"])
    fs.list_organizations()


def groups(fs, _):
    fs.create_feature_group("user-signals", key_columns={"user_id": "int64", "region": "string"},
                            timestamp_column="event_time", description="per user", tags=["users"],
                            owner="ml-team@acme.com")
    fs.feature_group("user-signals")
    fs.list_feature_groups(tags=["users"])
    fs.feature_group("user-signals").delete(cascade=True)


def context_and_sql(fs, group):
    fs.search_features("click", tags=["engagement"])
    other = fs.with_context(project="fraud-detection")
    other.create_feature_group("cases", key_columns=["case_id"])
    other.sql('SELECT COUNT(*) FROM "cases"')
    fs.sql('SELECT click_count FROM "user-signals"')


def analyses(fs, group):
    from raise_ import Aggregation, Correlation, Distribution, RecordLookup

    group.analyze(Aggregation(feature="click_count", metrics=["count", "null_rate", "median"]))
    group.analyze(Aggregation(feature="click_count", metrics=["sum"], window="7d", group_by="user_id"))
    group.analyze(Aggregation(feature="click_count", metrics=["avg", "stddev"], window="1d", rolling=True, periods=30))
    group.analyze(Distribution(feature="click_count", bins=5, segment_by="user_id"))
    group.analyze(Correlation(features=["click_count", "impression_count"]))
    group.analyze(Correlation(features=["click_count", "impression_count"], method="spearman"))
    group.analyze(RecordLookup(features=["click_count"], sample=3, seed=1, filter="click_count > 1"))


CASES: dict[str, tuple[Callable, Callable]] = {
    "quickstart": (lambda fs: None, quickstart),
    "create_feature_all_options": (_group, create_feature_all_options),
    "idempotent_creation": (_group, idempotent_creation),
    "path_syntax": (_group, path_syntax),
    "versioning": (_features, versioning),
    "changes": (_features, changes),
    "redefine": (_ctr, redefine),
    "lineage": (_ctr, lineage),
    "bulk_list": (_group, bulk_list),
    "bulk_rollback": (_group, bulk_rollback),
    "validate": (_features, validate),
    "write_rows": (_features, write_rows),
    "read_rows": (_features, read_rows),
    "namespaces": (lambda fs: None, namespaces),
    "groups": (lambda fs: None, groups),
    "context_and_sql": (_features, context_and_sql),
    "analyses": (_features, analyses),
}


# An analysis reads its group's schema with DESCRIBE FEATURE GROUP and SHOW FEATURES; in the
# engine's own process those statements run on the engine's session (authorized the same way)
# and their answers are remembered until the catalog changes, so they are not sent as text.
IN_PROCESS_SCHEMA = {"analyses"}


def _blocks(sent: list[str]) -> str:
    return "".join(f"-- execute {i}\n{sql};\n\n" for i, sql in enumerate(sent, 1))


@pytest.mark.parametrize("case", CASES)
def test_sql_each_call_sends(store, connection_kind, case):
    setup, action = CASES[case]
    made = setup(store)
    start = len(store.history)
    action(store, made)
    got = _blocks(store.history[start:])
    golden = SNAPSHOTS / f"{case}.sql"
    if case in IN_PROCESS_SCHEMA and connection_kind == "embedded":
        golden = SNAPSHOTS / f"{case}.embedded.sql"
    if os.environ.get("RAISE_UPDATE_SNAPSHOTS"):
        golden.write_text(got)
    assert golden.exists(), f"no snapshot {golden.name}: run with RAISE_UPDATE_SNAPSHOTS=1"
    assert got == golden.read_text()


def test_every_snapshot_file_has_a_case():
    stems = [p.stem for p in SNAPSHOTS.glob("*.sql")]
    assert sorted(s for s in stems if not s.endswith(".embedded")) == sorted(CASES)
    assert {s.removesuffix(".embedded") for s in stems if s.endswith(".embedded")} == IN_PROCESS_SCHEMA
