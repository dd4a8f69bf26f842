"""The spec's Python API for ACLs, cross-organization access and the audit log, end to end."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import pyarrow.parquet as pq
import pytest

from raise_ import ACL, FeatureStore
from raise_.engine.security import outbox
from raise_.errors import PermissionDenied, ValidationError
from raise_.models.audit import AuditQuery


@pytest.fixture
def home(tmp_path):
    return str(tmp_path / "store")


@pytest.fixture
def acme(home):
    fs = FeatureStore("acme/mlplatform/recommendation", home=home, user="alice@acme.com")
    group = fs.create_feature_group("user-signals", key_columns=["user_id"])
    group.create_feature("click_count", dtype="int64")
    group.create_feature("ssn", dtype="string")
    group.create_feature("user_embedding", dtype="float32[2]")
    group.write({"user_id": [1, 2], "click_count": [3, 4], "ssn": ["a", "b"],
                 "user_embedding": [[1.0, 0.0], [0.0, 1.0]]})
    return fs


def as_user(home: str, user: str, context: str = "acme/mlplatform/recommendation") -> FeatureStore:
    return FeatureStore(context, home=home, user=user)


def test_acls_cascade_and_override(acme, home):
    group = acme.feature_group("user-signals")
    group.set_acl(ACL(readers=["ml-engineers@acme.com"], writers=["ml-team@acme.com"], admins=["ml-leads@acme.com"]))
    ssn = group.feature("ssn")
    ssn.set_acl(ACL(readers=["restricted@acme.com"], inherit=False))
    effective = ssn.get_effective_acl()
    assert effective.readers == ("restricted@acme.com",) and "alice@acme.com" in effective.admins
    assert group.feature("click_count").get_effective_acl().readers == ("ml-engineers@acme.com",)
    chain = ssn.get_acl_chain()
    assert [(c.level, c.is_set) for c in chain] == [
        ("organization", False), ("domain", False), ("project", False), ("feature group", True), ("feature", True)]
    assert chain[0].owners == ("alice@acme.com",) and ssn.get_acl().inherit is False
    assert acme.organization("acme").get_acl() is None
    assert acme.history[-1] == 'SHOW ACL ON ORGANIZATION "acme"'


def test_acl_changes_take_effect_for_other_users(acme, home):
    acme.sql("CREATE PRINCIPAL GROUP 'ml-engineers@acme.com' MEMBERS ('bob@acme.com')")
    bob = as_user(home, "bob@acme.com")
    with pytest.raises(PermissionDenied):
        bob.sql('SELECT click_count FROM "user-signals"')
    acme.feature_group("user-signals").set_acl(ACL(readers=["ml-engineers@acme.com"]))
    assert bob.sql('SELECT click_count FROM "user-signals" ORDER BY user_id').column(0).to_pylist() == [3, 4]
    bob_group = bob.feature_group("user-signals")
    with pytest.raises(PermissionDenied):
        bob_group.set_acl(ACL(readers=["bob@acme.com"]))
    with pytest.raises(PermissionDenied):
        bob_group.write({"user_id": [3], "click_count": [1]})
    with pytest.raises(ValidationError):
        ACL(readers="bob@acme.com")


def _partner(home: str) -> FeatureStore:
    partner = FeatureStore("partner-org/shared/embeddings", home=home, user="dave@partner-org.com")
    items = partner.create_feature_group("items", key_columns=["user_id"])
    items.create_feature("item_embedding", dtype="float32[2]")
    items.create_feature("private_score", dtype="float64")
    items.write({"user_id": [1, 2], "item_embedding": [[2.0, 0.0], [0.0, 3.0]], "private_score": [1.0, 2.0]})
    return partner


# CREATE FEATURE warns that an @org reference does not resolve; the grant resolves it at query time.
@pytest.mark.filterwarnings("ignore:.*RAISE-V040")
def test_cross_organization_access(acme, home):
    partner = _partner(home)
    items = partner.feature_group("items")
    grant = items.grant_external_access(org="acme", features=["item_embedding"], permission="read",
                                        expires_at=datetime.now() + timedelta(days=365))
    assert (grant.org, grant.features, grant.status) == ("acme", ("item_embedding",), "active")
    assert grant.expires_at > datetime.now().astimezone() + timedelta(days=364)
    group = acme.feature_group("user-signals")
    affinity = group.create_feature("cross_org_affinity", dtype="float32",
                                    derived_from="DOT(user_embedding, @partner-org/shared/embeddings/items.item_embedding)")
    values = acme.sql('SELECT cross_org_affinity FROM "user-signals" ORDER BY user_id').column(0).to_pylist()
    assert values == [2.0, 3.0]
    with pytest.raises(PermissionDenied):
        group.create_feature("stolen", dtype="float64",
                             derived_from="@partner-org/shared/embeddings/items.private_score")
    assert [g.org for g in items.list_external_grants()] == ["acme"]
    assert items.revoke_external_access(org="acme") is True
    with pytest.raises(PermissionDenied):
        acme.sql('SELECT cross_org_affinity FROM "user-signals"')
    assert [g.status for g in items.list_external_grants()] == ["revoked"]
    assert affinity.audit_log(category="lineage")[-1].action == "LINEAGE_BREAK"


def test_audit_query_alerts_export_stream(acme, home, tmp_path):
    partner = _partner(home)
    partner.feature_group("items").grant_external_access(org="acme", features=["*"])
    bob = as_user(home, "bob@partner-org.com")
    with pytest.raises(PermissionDenied):
        bob.sql('SELECT ssn FROM "user-signals"')
    acme.audit.create_alert(name="external-access-alert",
                            query=AuditQuery(resource="user-signals/*", exclude_actor_orgs=["acme"]),
                            notify=["security@acme.com"], channels=["email", "slack"])
    with pytest.raises(PermissionDenied):
        bob.sql('SELECT click_count FROM "user-signals"')
    assert [a.name for a in acme.audit.list_alerts()] == ["external-access-alert"]
    assert acme.audit.list_alerts()[0].query.exclude_actor_orgs == ("acme",)
    mails = outbox.read_outbox(home, "email")
    assert {(m["entry"]["actor"], m["entry"]["outcome"]) for m in mails} == {("bob@partner-org.com", "DENIED")}
    acme.audit.delete_alert("external-access-alert")
    assert acme.audit.list_alerts() == []

    logs = acme.audit.query(resource="user-signals/*", actions=["READ", "WRITE", "CREATE"],
                            since=datetime.now() - timedelta(days=7))
    assert {e.action for e in logs} == {"CREATE", "WRITE", "READ"}
    external = acme.audit.query(resource="user-signals/*", exclude_actor_orgs=["acme"])
    assert {(e.actor, e.outcome) for e in external} == {("bob@partner-org.com", "DENIED")}
    schema = acme.feature_group("user-signals").feature("ssn").audit_log(category="schema")
    assert [(e.action, e.actor) for e in schema] == [("CREATE", "alice@acme.com")]
    assert not any(e.actor == "alice@acme.com" for e in as_user(home, "bob@partner-org.com").audit.query())

    path = acme.audit.export(query=AuditQuery(since=datetime(2025, 1, 1)), format="parquet",
                             destination=str(tmp_path / "audit") + "/")
    exported = pq.read_table(path)
    assert exported.num_rows == len(acme.audit.query()) and "actor_org" in exported.column_names
    with acme.audit.stream(AuditQuery(actions=["WRITE", "READ", "QUERY"])) as stream:
        sizes = [batch.num_rows for batch in stream.batches(size=2)]
    assert all(size <= 2 for size in sizes) and sum(sizes) == len(acme.audit.query(actions=["WRITE", "READ", "QUERY"]))


def test_audit_config_and_verify(acme, home):
    org = acme.organization("acme")
    org.set_audit_config(retention_days=365, immutable=True, export_destination="file:///tmp/raise-audit-archive/")
    config = org.get_audit_config()
    assert (config.retention_days, config.immutable) == (365, True)
    with pytest.raises(PermissionDenied):
        as_user(home, "bob@acme.com").audit.set_audit_config("acme", retention_days=1)
    assert acme.audit.verify().valid
    conn = sqlite3.connect(f"{home}/audit.db")
    conn.executescript("DROP TRIGGER entries_append_only; UPDATE entries SET actor = 'nobody' WHERE id = 1;")
    conn.close()
    result = acme.audit.verify()
    assert not result.valid and any("was altered" in p for p in result.problems)


def test_sdk_sends_raise_sql(acme):
    group = acme.feature_group("user-signals")
    start = len(acme.history)
    group.set_acl(ACL(readers=["a@acme.com"], inherit=False))
    acme.audit.query(resource="user-signals/*", actions=["read"], limit=5)
    group.revoke_external_access(org="partner")
    assert acme.history[start:] == [
        'SET ACL ON FEATURE GROUP "acme"/"mlplatform"/"recommendation"/"user-signals" READERS (\'a@acme.com\') '
        "NO INHERIT",
        "SHOW AUDIT RESOURCE 'user-signals/*' ACTIONS ('READ') LIMIT 5",
        'REVOKE ON FEATURE GROUP "acme"/"mlplatform"/"recommendation"/"user-signals" FROM ORGANIZATION "partner"',
    ]


def test_store_without_a_user_acts_for_the_organization_it_opened(home, monkeypatch):
    """Audit Querying's "track external access" on an embedded store opened without a user."""
    monkeypatch.delenv("RAISE_USER", raising=False)
    fs = FeatureStore("acme/mlplatform/recommendation", home=home)
    group = fs.create_feature_group("user-signals", key_columns=["user_id"])
    group.create_feature("click_count", dtype="int64")
    group.write({"user_id": [1, 2], "click_count": [3, 4]})
    fs.audit.create_alert(name="external-access-alert",
                          query=AuditQuery(resource="user-signals/*", exclude_actor_orgs=["acme"]),
                          notify=["security@acme.com"], channels=["email"])
    fs.sql('SELECT click_count FROM "user-signals"')
    own = fs.audit.query(resource="user-signals/*")
    assert {(e.actor, e.actor_org) for e in own} == {("root", "acme")}
    assert {e.action for e in own} == {"CREATE", "WRITE", "READ", "QUERY"}
    assert fs.audit.query(resource="user-signals/*", exclude_actor_orgs=["acme"]) == []
    assert outbox.read_outbox(home, "email") == []

    # still the local superuser: it reads another organization's group without a grant
    _partner(home)
    assert fs.sql('SELECT COUNT(*) AS n FROM "partner-org"."shared/embeddings".items').column("n").to_pylist() == [2]
    with pytest.raises(PermissionDenied):
        as_user(home, "bob@partner-org.com").sql('SELECT click_count FROM "user-signals"')
    external = fs.audit.query(resource="user-signals/*", exclude_actor_orgs=["acme"])
    assert [(e.actor, e.actor_org, e.outcome) for e in external] == [("bob@partner-org.com", "partner-org", "DENIED")]
    assert [m["entry"]["actor"] for m in outbox.read_outbox(home, "email")] == ["bob@partner-org.com"]
