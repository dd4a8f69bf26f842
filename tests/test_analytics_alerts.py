"""Analytics alerts: the nine conditions, checks that fire into the local outbox once per
episode with history, `raise alerts check`, and refusals that write nothing; embedded and
over Flight."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from analytics_data import create_group, frame
from raise_ import Aggregation, Condition, Correlation, Distribution, StatTest, VersionDiff
from raise_.analytics.alerts import holds
from raise_.cli import main
from raise_.errors import PermissionDenied, RaiseError, ValidationError

pytest_plugins = ["conftest_sdk"]

NULL_RATE = Aggregation(feature="click_count", metrics=["null_rate"])
AB_TEST = StatTest(feature="conversion_rate", test="ttest", segment_by="experiment_group", control="control",
                   treatment="variant_a")


@pytest.fixture
def data():
    return frame(500)


@pytest.fixture
def group(store, data):
    return create_group(store, data)


def _outbox(tmp_path: Path, channel: str) -> list[dict]:
    folder = tmp_path / "store" / "outbox" / channel
    return [json.loads(p.read_text()) for p in sorted(folder.glob("analytics-*.json"))] if folder.exists() else []


@pytest.mark.parametrize("condition, value, expected", [
    (Condition.GREATER_THAN(0.05), 0.06, True), (Condition.GREATER_THAN(0.05), 0.05, False),
    (Condition.LESS_THAN(1), 0.5, True), (Condition.LESS_THAN(1), 1, False),
    (Condition.BETWEEN(1, 2), 2, True), (Condition.BETWEEN(1, 2), 2.5, False),
    (Condition.OUTSIDE(1, 2), 0.5, True), (Condition.OUTSIDE(1, 2), 1.5, False),
    (Condition.EQUALS(3), 3.0, True), (Condition.EQUALS(3), 3.1, False),
    (Condition.NOT_EQUALS(3), 3.1, True), (Condition.NOT_EQUALS(3), 3, False),
    (Condition.PSI_GREATER_THAN(0.2), 0.3, True), (Condition.P_VALUE_LESS_THAN(0.05), 0.01, True),
    (Condition.KL_DIVERGENCE_GREATER_THAN(0.1), 0.05, False),
])
def test_each_condition_compares_as_documented(condition, value, expected):
    assert holds(condition.name, condition.values, value) is expected


def test_an_alert_fires_once_into_the_outbox_and_keeps_its_history(tmp_path, store, group, data):
    alert = store.create_alert("high-null-rate", NULL_RATE, Condition.GREATER_THAN(0.05),
                               notify=["data-quality@acme.com"], channels=["email", "slack"], check_interval="1h")
    assert alert.status == "pending" and alert.group.endswith("/user-signals")
    checked = store.check_alerts()
    assert [(c["status"], c["fired"], c["messages"]) for c in checked] == [("firing", True, 2)]
    assert checked[0]["value"] == pytest.approx(data["click_count"].isna().mean(), abs=1e-12)
    assert store.check_alerts() == []  # not due again for an hour
    again = store.check_alerts(force=True)
    assert [(c["status"], c["fired"]) for c in again] == [("firing", False)]  # still the same episode
    for channel in ("email", "slack"):
        messages = _outbox(tmp_path, channel)
        assert len(messages) == 1 and messages[0]["alert"] == "high-null-rate"
        assert messages[0]["to"] == ["data-quality@acme.com"] and messages[0]["channel"] == channel
    [listed] = store.list_alerts()
    assert (listed.name, listed.status) == ("high-null-rate", "firing")
    assert listed.last_value == pytest.approx(checked[0]["value"])
    assert [h["fired"] for h in listed.history()] == [False, True]


def test_a_p_value_alert_compares_scipy_s_welch_p_value(store, group, data):
    store.create_alert("ab-test-significance", AB_TEST, Condition.P_VALUE_LESS_THAN(0.05),
                       notify=["experiments@acme.com"], check_interval="6h")
    [checked] = store.check_alerts()
    control = data.loc[data.experiment_group == "control", "conversion_rate"]
    variant = data.loc[data.experiment_group == "variant_a", "conversion_rate"]
    expected = stats.ttest_ind(variant, control, equal_var=False).pvalue
    assert checked["value"] == pytest.approx(expected, rel=1e-9)
    assert checked["status"] == ("firing" if expected < 0.05 else "ok")


def test_a_drift_alert_reads_psi(store, group, data):
    group.create_feature("revenue", dtype="float64", version="v2")
    group.write({"user_id": data["user_id"], "revenue": data["revenue"] * 3}, mode="upsert")
    drift = VersionDiff(feature="revenue", version_a="v1", version_b="v2", compare=["distribution"])
    store.create_alert("revenue-drift", drift, Condition.PSI_GREATER_THAN(0.2), check_interval="1d")
    psi = group.analyze(drift).distribution_drift["psi"]
    [checked] = store.check_alerts()
    assert checked["value"] == pytest.approx(psi) and checked["status"] == ("firing" if psi > 0.2 else "ok")


def test_an_alert_that_does_not_hold_stays_ok(tmp_path, store, group):
    store.create_alert("few-nulls", NULL_RATE, Condition.OUTSIDE(0.0, 0.5), notify=["a@acme.com"])
    assert [c["status"] for c in store.check_alerts()] == ["ok"]
    assert store.list_alerts()[0].history() == [] and _outbox(tmp_path, "email") == []


@pytest.mark.parametrize("make, code", [
    (lambda: Condition("BIGGER_THAN", (1,)), "RAISE-V411"),
    (lambda: Condition.BETWEEN(2, 1), "RAISE-V411"),
    (lambda: Condition.GREATER_THAN("high"), "RAISE-V411"),
])
def test_a_malformed_condition_is_refused(make, code):
    with pytest.raises(ValidationError) as refused:
        make()
    assert refused.value.code == code


@pytest.mark.parametrize("analysis, condition, options, code", [
    (Distribution(feature="revenue"), Condition.GREATER_THAN(1), {}, "RAISE-V414"),
    (Correlation(features=["revenue", "conversion_rate"]), Condition.GREATER_THAN(1), {}, "RAISE-V414"),
    (NULL_RATE, Condition.PSI_GREATER_THAN(0.2), {}, "RAISE-V414"),
    (NULL_RATE, Condition.GREATER_THAN(0.1), {"check_interval": "hourly"}, "RAISE-V412"),
    (NULL_RATE, Condition.GREATER_THAN(0.1), {"channels": ["pager"]}, "RAISE-V412"),
])
def test_an_alert_that_cannot_be_checked_is_refused_and_nothing_is_written(store, group, analysis, condition,
                                                                         options, code):
    with pytest.raises(RaiseError) as refused:
        store.create_alert("bad", analysis, condition, group="user-signals", **options)
    assert refused.value.code == code
    assert store.list_alerts() == []


def test_sql_clients_manage_alerts_and_unknown_conditions_are_named(store, group):
    analysis = json.dumps(NULL_RATE.to_dict())
    with pytest.raises(ValidationError) as refused:
        store.sql(f"""CREATE ALERT a ON "user-signals" AS ANALYZE '{analysis}' WHEN ABOVE(0.1)""")
    assert refused.value.code == "RAISE-V411" and refused.value.name == "ABOVE"
    store.sql(f"""CREATE ALERT a ON "user-signals" AS ANALYZE '{analysis}' WHEN LESS_THAN(0.5) EVERY '30m'""")
    assert [(a["name"], a["condition"], a["values"], a["channels"]) for a in store.sql("SHOW ALERTS").to_pylist()] \
        == [("a", "LESS_THAN", [0.5], ["email"])]
    store.sql("DROP ALERT a")
    assert store.sql("SHOW ALERTS").num_rows == 0


def test_alerts_are_admin_s_business_and_audited(make_store, store, group):
    store.create_alert("high-null-rate", NULL_RATE, Condition.GREATER_THAN(0.05))
    bob = make_store(user="bob@acme.com")
    with pytest.raises(PermissionDenied):
        bob.create_alert("mine", NULL_RATE, Condition.GREATER_THAN(0.05), group="user-signals")
    with pytest.raises(PermissionDenied):
        bob.check_alerts()
    assert bob.list_alerts() == []
    store.list_alerts()[0].delete()
    entries = [e.action for e in store.audit.query(resource="*alert:high-null-rate")]
    assert entries == ["CREATE", "DELETE"]


def test_raise_alerts_check_evaluates_due_alerts_for_cron(tmp_path, store, group, capsys, connection_kind):
    if connection_kind != "embedded":
        pytest.skip("the command opens the store home itself")
    store.create_alert("high-null-rate", NULL_RATE, Condition.GREATER_THAN(0.05), channels=["slack"])
    assert main(["alerts", "check", "--home", str(tmp_path / "store"), "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["alert"], r["status"], r["fired"]) for r in rows] == [
        ("acme/mlplatform/recommendation/high-null-rate", "firing", True)]
    assert len(_outbox(tmp_path, "slack")) == 1
    assert main(["alerts", "check", "--home", str(tmp_path / "store"), "--format", "json"]) == 0
    assert capsys.readouterr().out.strip() == ""
    assert np.isclose(store.list_alerts()[0].last_value, rows[0]["value"])


def test_the_server_s_scheduler_checks_alerts_and_refreshes_live_tables(tmp_path):
    import time

    from raise_.analytics.scheduler import Scheduler
    from raise_.engine import Engine

    engine = Engine(tmp_path / "store")
    session = engine.session(None, "acme/ml/rec")
    session.execute("""CREATE FEATURE GROUP g KEY (id INT64); CREATE FEATURE g.x FLOAT64;
        INSERT INTO g VALUES (1, 2.0), (2, NULL);
        CREATE LIVE TABLE t ON g AS ANALYZE '{"kind": "aggregation", "feature": "x", "metrics": ["count"]}';
        CREATE ALERT nulls ON g AS ANALYZE '{"kind": "aggregation", "feature": "x", "metrics": ["null_rate"]}'
            WHEN GREATER_THAN(0.25) CHANNELS ('slack') EVERY '1h'""")
    session.execute("INSERT INTO g VALUES (3, 5.0)")
    scheduler = Scheduler(engine, interval=0.05).start()
    deadline = time.monotonic() + 30
    while not _outbox(tmp_path, "slack") and time.monotonic() < deadline:
        time.sleep(0.05)
    scheduler.stop()
    [message] = _outbox(tmp_path, "slack")
    assert message["alert"] == "nulls" and message["value"] == pytest.approx(1 / 3)
    assert session.execute("SELECT count FROM t").to_pylist() == [{"count": 2}]
    refreshes, checks = scheduler.tick()  # nothing is due any more
    assert refreshes.column("status").to_pylist() == ["up_to_date"] and checks.num_rows == 0
