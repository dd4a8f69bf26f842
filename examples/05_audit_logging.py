"""The audit log: queries, external-access tracking, alerts, exports, streaming, retention, verify.

Run it with ``python examples/05_audit_logging.py``. It uses the embedded store in
``$RAISE_HOME`` (a fresh temporary folder when that is not set) as ``$RAISE_USER``. Alerts are
delivered to ``$RAISE_HOME/outbox/<channel>/``, where the e-mail and Slack senders pick them up.
"""
import json
import os
import sqlite3
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

os.environ.setdefault("RAISE_HOME", tempfile.mkdtemp(prefix="raise-example-"))
os.environ.setdefault("RAISE_USER", "researcher@acme.com")

from raise_ import ACL, FeatureStore  # noqa: E402
from raise_.errors import PermissionDenied  # noqa: E402
from raise_.models.audit import AuditQuery  # noqa: E402

HOME = Path(os.environ["RAISE_HOME"])

# -- Some activity to audit --------------------------------------------------------------------
fs = FeatureStore("acme/mlplatform/recommendation")
group = fs.create_feature_group("user-signals", key_columns=["user_id"])
clicks = group.create_feature("click_count", dtype="int64")
group.create_feature("impression_count", dtype="int64")
group.create_feature("revenue", dtype="float64")
group.create_feature("ctr", dtype="float64", derived_from="click_count / NULLIF(impression_count, 0)")
group.write({"user_id": [1, 2], "click_count": [5, 1], "impression_count": [50, 20], "revenue": [9.5, 1.0]})
clicks.update(description="clicks in the last 24 hours")
group.set_acl(ACL(readers=["analysts@acme.com"]))
# A derived feature is shared together with what it is computed from.
group.grant_external_access(org="partner-org", features=["click_count", "impression_count", "ctr"])

# -- Alerts (created before the activity they watch) ----------------------------------------------
fs.audit.create_alert(
    name="external-access-alert",
    query=AuditQuery(resource="user-signals/*", exclude_actor_orgs=["acme"]),
    notify=["security@acme.com"],
    channels=["email", "slack"],
)
print("alerts:", [a.name for a in fs.audit.list_alerts()])

partner = FeatureStore("acme/mlplatform/recommendation", user="eve@partner-org.com")
print("partner reads ctr:", partner.sql('SELECT ctr FROM "user-signals" ORDER BY user_id').column(0).to_pylist())
try:
    partner.sql('SELECT revenue FROM "user-signals"')
except PermissionDenied as error:
    print("partner refused revenue:", error.code)
fs.sql('SELECT user_id, ctr FROM "user-signals"')

# -- Querying logs -------------------------------------------------------------------------------
logs = fs.audit.query(
    resource="user-signals/*",
    actions=["READ", "WRITE", "CREATE"],
    since=datetime.now() - timedelta(days=7),
)
for entry in logs:
    print(f"{entry.timestamp:%Y-%m-%d %H:%M} | {entry.actor} | {entry.action} | {entry.resource} | {entry.outcome}")

# -- Tracking external access ----------------------------------------------------------------------
external = fs.audit.query(resource="user-signals/*", exclude_actor_orgs=["acme"])
print("external:", sorted({(e.actor, e.action, e.resource.rsplit("/", 1)[-1], e.outcome) for e in external}))

# -- Feature-level logs ----------------------------------------------------------------------------
print("click_count schema log:", [e.action for e in clicks.audit_log(category="schema")])

# -- The outbox the alert channels read --------------------------------------------------------------
for message in sorted((HOME / "outbox" / "email").glob("*.json")):
    print("email:", json.loads(message.read_text())["subject"])
fs.audit.delete_alert("external-access-alert")

# -- Export --------------------------------------------------------------------------------------------
exported = fs.audit.export(
    query=AuditQuery(since=datetime(2025, 1, 1)),
    format="parquet",  # jsonl, csv, parquet
    destination=str(HOME / "exports") + "/",  # or an object-store URI: "s3://bucket/audit/"
)
print("exported:", Path(exported).suffix)

# -- Streaming export for large datasets ----------------------------------------------------------------
with fs.audit.stream(AuditQuery(category="access")) as stream:
    sizes = [batch.num_rows for batch in stream.batches(size=4)]
print("streamed batches of at most 4:", all(size <= 4 for size in sizes), "total:", sum(sizes))

# -- Retention configuration -------------------------------------------------------------------------
org = fs.organization("acme")
org.set_audit_config(
    retention_days=365,
    immutable=True,
    export_destination=str(HOME / "audit-archive") + "/",  # "s3://audit-archive/" on a server
)
config = org.get_audit_config()
print("retention:", config.retention_days, "immutable:", config.immutable)

# -- Tamper evidence ----------------------------------------------------------------------------------
print("verified:", fs.audit.verify().valid)
with sqlite3.connect(HOME / "audit.db") as db:  # an intruder with file access edits an entry
    db.executescript("DROP TRIGGER entries_append_only; "
                     "UPDATE entries SET outcome = 'ALLOWED' WHERE outcome = 'DENIED';")
result = fs.audit.verify()
print("verified after tampering:", result.valid)
for problem in result.problems[:3]:
    print("  ", problem)
