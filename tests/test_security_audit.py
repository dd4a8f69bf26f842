"""The audit log: hash chains and tamper detection, queries, retention, alerts, exports."""
from __future__ import annotations

import csv
import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pyarrow.parquet as pq
import pytest

from grammar.errors import ValidationError
from grammar.security import AuditFilter
from raise_.engine import Engine
from raise_.engine.security import outbox
from raise_.engine.security.audit import GENESIS, AuditLog, Event, resource_matches
from raise_.engine.security.audit_scope import apply_retention, record

R = "acme/ml/rec/user-signals"


def fill(log: AuditLog) -> None:
    log.append("alice@acme.com", "acme", [Event("CREATE", R, {"kind": "feature group"}),
                                         Event("CREATE", f"{R}/ctr", {"version": "v1"})], "ALLOWED")
    log.append("bob@partner.com", "partner", [Event("READ", f"{R}/ctr")], "ALLOWED")
    log.append("bob@partner.com", "partner", [Event("READ", f"{R}/secret")], "DENIED")
    log.append("dave@partner.com", "partner", [Event("WRITE", "partner/x/y/items/score")], "ALLOWED")


@pytest.fixture
def log(tmp_path) -> AuditLog:
    log = AuditLog(tmp_path)
    fill(log)
    return log


def tamper(log: AuditLog, *statements: str) -> None:
    """Edit the store the way an intruder with file access would (triggers dropped first)."""
    conn = sqlite3.connect(log.path)
    conn.executescript("DROP TRIGGER entries_append_only; DROP TRIGGER entries_no_delete;" + ";".join(statements))
    conn.close()


def problems(log: AuditLog) -> list[str]:
    return [p for report in log.verify() for p in report.problems]


# -- the chain -----------------------------------------------------------------------------------


def test_entries_chain_per_organization(log):
    reports = {r.chain: r for r in log.verify()}
    assert {c: (r.entries, r.valid) for c, r in reports.items()} == {"acme": (4, True), "partner": (1, True)}
    acme = [e for e in log.entries() if e.chain == "acme"]
    assert [e.seq for e in acme] == [1, 2, 3, 4]
    assert [e.category for e in log.entries()] == ["schema", "schema", "access", "access", "access"]



def test_one_append_of_several_chains_links_each_entry_to_the_one_before(tmp_path):
    log = AuditLog(tmp_path)
    log.append("alice@acme.com", "acme", [Event("READ", f"{R}/ctr")], "ALLOWED")
    log.append("alice@acme.com", "acme", [Event("QUERY", R), Event("READ", "partner/x/y/items/score"),
                                         Event("READ", f"{R}/ctr"), Event("READ", "partner/x/y/items/id")], "ALLOWED")
    entries = log.entries()
    assert [(e.chain, e.seq) for e in entries] == [("acme", 1), ("acme", 2), ("partner", 1), ("acme", 3),
                                                   ("partner", 2)]
    by_id = {(e.chain, e.seq): e for e in entries}
    rows = sqlite3.connect(log.path).execute("SELECT chain, seq, prev_hash, hash FROM entries").fetchall()
    for chain, seq, prev, digest in rows:
        assert digest == by_id[(chain, seq)].hash
        assert prev == (by_id[(chain, seq - 1)].hash if seq > 1 else GENESIS)
    heads = dict((c, (s, h)) for c, s, h in sqlite3.connect(log.path).execute("SELECT chain, seq, hash FROM heads"))
    assert heads == {"acme": (3, by_id[("acme", 3)].hash), "partner": (2, by_id[("partner", 2)].hash)}
    assert {r.chain: (r.entries, r.valid) for r in log.verify()} == {"acme": (3, True), "partner": (2, True)}

def test_the_database_refuses_edits_and_deletes(log):
    conn = sqlite3.connect(log.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE entries SET outcome = 'ALLOWED' WHERE outcome = 'DENIED'")
    with pytest.raises(sqlite3.DatabaseError, match="retention"):
        conn.execute("DELETE FROM entries WHERE id = 1")
    conn.close()
    assert problems(log) == []


TAMPERING = {
    "edited outcome": ("UPDATE entries SET outcome = 'ALLOWED' WHERE outcome = 'DENIED'", "entry 4 (id 4) was altered"),
    "edited actor": ("UPDATE entries SET actor = 'someone@acme.com' WHERE id = 3", "entry 3 (id 3) was altered"),
    "edited details": ("UPDATE entries SET details = '{}' WHERE id = 1", "entry 1 (id 1) was altered"),
    "deleted middle": ("DELETE FROM entries WHERE id = 2", "entries 2..2 are missing"),
    "deleted newest": ("DELETE FROM entries WHERE id = 4", "the newest entries were removed"),
    "deleted all": ("DELETE FROM entries WHERE chain = 'acme'", "the newest entries were removed"),
    "truncated and re-headed": ("DELETE FROM entries WHERE id = 4; UPDATE heads SET seq = 3, hash = "
                                "(SELECT hash FROM entries WHERE id = 3) WHERE chain = 'acme'",
                                "the chain's head record was altered"),
    "forged insert": ("INSERT INTO entries (chain, seq, timestamp, actor, actor_org, action, category, resource, "
                      "outcome, details, prev_hash, hash) SELECT chain, 5, timestamp, actor, actor_org, action, "
                      "category, resource, outcome, details, hash, hash FROM entries WHERE id = 4",
                      "entry 5 (id 6) was altered"),
}


@pytest.mark.parametrize("name", TAMPERING)
def test_verify_detects_tampering(log, name):
    sql, expected = TAMPERING[name]
    tamper(log, sql)
    found = problems(log)
    assert "the append-only trigger 'entries_append_only' was removed" in found
    assert any(expected in p for p in found), found


def test_a_log_signed_with_another_key_does_not_verify(log):
    other = AuditLog(log.home.parent / "other")
    fill(other)
    (log.home / "audit.key").write_text((other.home / "audit.key").read_text())
    assert not all(r.valid for r in AuditLog(log.home).verify())


# -- queries -------------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern, path, expected", [
    ("user-signals/*", f"{R}/ctr", True), ("user-signals/*", R, True), ("user-signals/*", "acme/x/y/other/ctr", False),
    ("acme/*", f"{R}/ctr", True), ("*/ctr", f"{R}/ctr", True), ("ctr", f"{R}/ctr", True),
    ("rec/user-signals", R, True), ("rec/user-signals", f"{R}/ctr", False), ("user-*/c*", f"{R}/ctr", True),
])
def test_resource_globs_match_from_any_level(pattern, path, expected):
    assert resource_matches(pattern, path) is expected


def test_query_filters(log):
    def actions(**clauses):
        return [(e.actor, e.action, e.resource.rsplit("/", 1)[-1]) for e in log.entries(AuditFilter(**clauses))]

    assert actions(resource="user-signals/*", actions=("READ",)) == [
        ("bob@partner.com", "READ", "ctr"), ("bob@partner.com", "READ", "secret")]
    assert actions(resource="user-signals/*", exclude_actor_orgs=("acme",)) == [
        ("bob@partner.com", "READ", "ctr"), ("bob@partner.com", "READ", "secret")]
    assert actions(category="schema") == [("alice@acme.com", "CREATE", "user-signals"), ("alice@acme.com", "CREATE", "ctr")]
    assert actions(outcomes=("DENIED",)) == [("bob@partner.com", "READ", "secret")]
    assert actions(actor_orgs=("partner",), actions=("WRITE",)) == [("dave@partner.com", "WRITE", "score")]
    future = (datetime.now(timezone.utc) + timedelta(minutes=1)).isoformat()
    assert actions(since=future) == [] and len(actions(until=future)) == 5


def test_paging_by_id(log):
    first = log.entries(limit=2)
    rest = log.entries(after=first[-1].id, limit=10)
    assert [e.id for e in first + rest] == [e.id for e in log.entries()] and len(rest) == 3


# -- retention and immutability --------------------------------------------------------------------


def test_retention_archives_and_keeps_the_chain_valid(log, tmp_path):
    archive = tmp_path / "archive"
    log.set_config("acme", retention_days=30, export_destination=str(archive) + "/", by="alice@acme.com")
    assert apply_retention(log, "acme", force=True) == 0
    later = (datetime.now(timezone.utc) + timedelta(days=31)).isoformat()
    expired = log.expired("acme", at=later)
    assert len(expired) == 4
    outbox.export(expired, str(archive) + "/", "jsonl")
    assert log.prune("acme", expired[:3]) == 3
    assert [r.valid for r in log.verify()] == [True, True]
    lines = [json.loads(line) for f in archive.iterdir() for line in f.read_text().splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3, 4]
    log.append("alice@acme.com", "acme", [Event("DELETE", R)], "ALLOWED")
    assert [e.seq for e in log.entries() if e.chain == "acme"] == [4, 5] and problems(log) == []


def test_immutable_logs_keep_every_entry(log):
    log.set_config("acme", retention_days=1, immutable=True, by="alice@acme.com")
    later = (datetime.now(timezone.utc) + timedelta(days=5)).isoformat()
    assert log.expired("acme", at=later) == []
    everything = [e for e in log.entries() if e.chain == "acme"]
    with pytest.raises(ValidationError, match="immutable"):
        log.prune("acme", everything)
    with pytest.raises(ValidationError, match="cannot be undone"):
        log.set_config("acme", immutable=False, by="alice@acme.com")
    conn = sqlite3.connect(log.path)
    conn.execute("INSERT INTO pruning (chain) VALUES ('acme')")
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("DELETE FROM entries WHERE chain = 'acme'")
    conn.close()
    assert log.config("acme").immutable and log.config("acme").retention_days == 1
    assert len([e for e in log.entries() if e.chain == "acme"]) == 4


# -- alerts and exports ----------------------------------------------------------------------------


def test_alerts_deliver_to_the_outbox_as_entries_arrive(tmp_path):
    engine = Engine(tmp_path / "store")
    engine.session("alice@acme.com").execute(
        'USE acme/ml/rec; CREATE FEATURE GROUP "user-signals" KEY (user_id INT64)')
    log = AuditLog(engine.home)
    log.save_alert("external", "alice@acme.com", AuditFilter(resource="user-signals/*", exclude_actor_orgs=("acme",)),
                   ("security@acme.com",), ("email", "slack"))
    log.save_alert("snoop", "mallory@evil.com", AuditFilter(), ("mallory@evil.com",), ("email",))
    record(engine.session("bob@partner.com"), [Event("READ", f"{R}/ctr")], "DENIED")
    record(engine.session("carol@acme.com"), [Event("READ", f"{R}/ctr")], "ALLOWED")
    emails = outbox.read_outbox(engine.home, "email")
    assert [(m["alert"], m["to"], m["entry"]["actor"]) for m in emails] == [
        ("external", ["security@acme.com"], "bob@partner.com")]
    assert "DENIED" in emails[0]["subject"]
    assert [m["channel"] for m in outbox.read_outbox(engine.home, "slack")] == ["slack"]
    assert log.drop_alert("snoop") and [a["name"] for a in log.alerts()] == ["external"]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_exports(log, tmp_path, fmt):
    entries = log.entries(AuditFilter(outcomes=("DENIED",)))
    written = outbox.export(entries, str(tmp_path / "out") + "/", fmt)
    assert written.endswith("." + fmt)
    if fmt == "parquet":
        rows = pq.read_table(written).to_pylist()
    elif fmt == "csv":
        with open(written, newline="") as handle:
            rows = list(csv.DictReader(handle))
    else:
        rows = [json.loads(line) for line in open(written)]
    assert [(r["actor"], r["action"], r["outcome"]) for r in rows] == [("bob@partner.com", "READ", "DENIED")]
    uri = outbox.export(entries, (tmp_path / "uri.jsonl").as_uri(), "jsonl")
    assert uri.startswith("file://") and (tmp_path / "uri.jsonl").read_text().count("\n") == 1
