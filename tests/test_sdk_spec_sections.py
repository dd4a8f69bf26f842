"""The spec's Cross-Group References, Querying ACLs, Cross-Organization Access and Audit Querying
snippets, run as written (embedded and over Flight) with the documented results."""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from raise_ import ACL
from raise_.errors import PermissionDenied
from raise_.models.audit import AuditQuery

pytest_plugins = ["conftest_sdk"]

PARTNER = "dave@partner-org.com"
QUALIFIED = "acme/mlplatform/recommendation"


@pytest.fixture
def item_signals(store):
    items = store.create_feature_group("item-signals", key_columns=["user_id"])
    items.create_feature("item_embedding", dtype="float32[512]")
    return items


def test_cross_group_references_as_written(store, signals, item_signals):
    group = signals
    # Reference features from another group in the same project
    affinity = group.create_feature(
        "user_item_affinity",
        dtype="float32",
        derived_from="DOT(user_embedding, item-signals.item_embedding)",
    )
    rng = np.random.default_rng(12)
    users, items = rng.standard_normal((2, 3, 512), dtype=np.float32)
    group.write({"user_id": [1, 2, 3], "user_embedding": users.tolist()})
    item_signals.write({"user_id": [1, 2, 3], "item_embedding": items.tolist()})
    got = group.read(["user_item_affinity"]).sort_by("user_id").column("user_item_affinity").to_numpy()
    np.testing.assert_allclose(got, np.einsum("ij,ij->i", users, items), rtol=1e-5)

    upstream = affinity.get_lineage().upstream
    assert upstream == ["user_embedding", "item-signals.item_embedding"]
    assert [(n.name, n.group, n.qualified_name) for n in upstream] == [
        ("user_embedding", "user-signals", f"{QUALIFIED}/user-signals/user_embedding"),
        ("item_embedding", "item-signals", f"{QUALIFIED}/item-signals/item_embedding"),
    ]
    assert store.feature(upstream[1].qualified_name) == item_signals.feature("item_embedding")

    readers = item_signals.feature("item_embedding").get_lineage()
    assert readers.downstream == ["user-signals.user_item_affinity"]
    assert readers.downstream[0].qualified_name == f"{QUALIFIED}/user-signals/user_item_affinity"
    assert readers.as_graph().to_ascii() == "item_embedding ──▶ user-signals.user_item_affinity"


def test_cross_group_lineage_graph_and_dict_qualify_other_groups(signals, item_signals):
    affinity = signals.create_feature("user_item_affinity", dtype="float32",
                                      derived_from="DOT(user_embedding, item-signals.item_embedding)")
    lineage = affinity.get_lineage()
    assert lineage.as_graph().to_ascii() == "\n".join([
        "user_embedding ─────────────────┐",
        "                                ├──▶ user_item_affinity",
        "item-signals.item_embedding ────┘",
    ])
    data = lineage.to_dict()
    assert [(n["label"], n["group"], n["qualified_name"]) for n in data["upstream"]] == [
        ("user_embedding", "user-signals", f"{QUALIFIED}/user-signals/user_embedding"),
        ("item-signals.item_embedding", "item-signals", f"{QUALIFIED}/item-signals/item_embedding"),
    ]
    assert data["edges"] == [["user_embedding", "user_item_affinity"],
                             ["item-signals.item_embedding", "user_item_affinity"]]
    assert lineage.as_graph().to_dict()["nodes"] == [
        {"label": "user_embedding", "qualified_name": f"{QUALIFIED}/user-signals/user_embedding"},
        {"label": "user_item_affinity", "qualified_name": f"{QUALIFIED}/user-signals/user_item_affinity"},
        {"label": "item-signals.item_embedding", "qualified_name": f"{QUALIFIED}/item-signals/item_embedding"},
    ]


def test_querying_acls_as_written(store, signals):
    signals.set_acl(ACL(readers=["ml-engineers@acme.com"], writers=["ml-team@acme.com"],
                        admins=["ml-leads@acme.com"]))
    feature = signals.feature("user_embedding")
    feature.set_acl(ACL(readers=["restricted@acme.com"], inherit=False))
    # Get effective ACL (resolved inheritance)
    effective = feature.get_effective_acl()
    # View inheritance chain
    chain = feature.get_acl_chain()

    assert isinstance(effective, ACL) and effective.readers == ("restricted@acme.com",)
    assert all(isinstance(acl, ACL) for acl in chain)
    assert [(acl.level, acl.path) for acl in chain] == [
        ("organization", "acme"), ("domain", "acme/mlplatform"), ("project", QUALIFIED),
        ("feature group", f"{QUALIFIED}/user-signals"), ("feature", f"{QUALIFIED}/user-signals/user_embedding")]
    assert [(acl.readers, acl.writers, acl.admins) for acl in chain[:3]] == [(None, None, None)] * 3
    assert [acl.is_set for acl in chain] == [False, False, False, True, True]
    assert (chain[3].readers, chain[3].writers, chain[3].admins, chain[3].inherit) == (
        ("ml-engineers@acme.com",), ("ml-team@acme.com",), ("ml-leads@acme.com",), True)
    assert chain[4] == ACL(readers=["restricted@acme.com"], inherit=False)
    assert chain[0].owners == ("alice@acme.com",)
    assert "level='feature'" in repr(chain[4]) and "set on" in chain[4]._repr_html_()
    assert feature.get_acl() == chain[4] and feature.get_acl().path == chain[4].path


def _partner_items(make_store):
    partner = make_store("partner-org/shared/embeddings", user=PARTNER)
    items = partner.create_feature_group("items", key_columns=["user_id"])
    items.create_feature("item_embedding", dtype="float32[2]")
    items.write({"user_id": [1, 2], "item_embedding": [[2.0, 0.0], [0.0, 3.0]]})
    return items


# CREATE FEATURE warns that an @org reference does not resolve; the grant resolves it at query time.
@pytest.mark.filterwarnings("ignore:.*RAISE-V040")
def test_cross_organization_access_as_written(make_store):
    fs = make_store()
    group = fs.create_feature_group("user-signals", key_columns=["user_id"])
    group.create_feature("user_embedding", dtype="float32[2]")
    group.create_feature("item_embedding", dtype="float32[2]")
    group.write({"user_id": [1, 2], "user_embedding": [[1.0, 0.0], [0.0, 1.0]],
                 "item_embedding": [[1.0, 1.0], [1.0, 1.0]]})

    # Grant read access to specific features
    grant = group.grant_external_access(
        org="partner-org",
        features=["user_embedding", "item_embedding"],
        permission="read",
        expires_at=datetime.now() + timedelta(days=365),
    )
    assert (grant.org, grant.organization, grant.features) == (
        "partner-org", "partner-org", ("user_embedding", "item_embedding"))
    # Grant access to all features
    everything = group.grant_external_access(org="partner-org", features=["*"], permission="read")
    assert (everything.org, everything.features, everything.expires_at) == ("partner-org", ("*",), None)

    items = _partner_items(make_store)
    items.grant_external_access(org="acme", features=["item_embedding"], permission="read")
    # Reference with @ prefix for absolute path
    affinity = group.create_feature(
        "cross_org_affinity",
        dtype="float32",
        derived_from="DOT(user_embedding, @partner-org/shared/embeddings/items.item_embedding)",
    )
    assert group.read(["cross_org_affinity"]).sort_by("user_id").column(1).to_pylist() == [2.0, 3.0]
    external = affinity.get_lineage().upstream[1]
    assert (external, external.org, external.group, external.external) == (
        "@partner-org/shared/embeddings/items.item_embedding", "partner-org", "items", True)
    assert external.qualified_name == "@partner-org/shared/embeddings/items/item_embedding"

    # List grants
    grants = group.list_external_grants()
    assert [(g.org, g.permission, g.status) for g in grants] == [("partner-org", "read", "active")]
    # Revoke access
    assert group.revoke_external_access(org="partner-org") is True
    assert [g.status for g in group.list_external_grants()] == ["revoked"]
    assert group.revoke_external_access(org="partner-org") is False


def test_audit_querying_as_written(make_store):
    fs = make_store()
    group = fs.create_feature_group("user-signals", key_columns=["user_id"])
    feature = group.create_feature("click_count", dtype="int64")
    group.write({"user_id": [1, 2], "click_count": [3, 4]})
    fs.sql('SELECT click_count FROM "user-signals"')
    fs.audit.create_alert(
        name="external-access-alert",
        query=AuditQuery(resource="user-signals/*", exclude_actor_orgs=["acme"]),
        notify=["security@acme.com"],
        channels=["email", "slack"],
    )

    # Query recent logs
    logs = fs.audit.query(
        resource="user-signals/*",
        actions=["READ", "WRITE", "CREATE"],
        since=datetime.now() - timedelta(days=7),
    )
    lines = [f"{entry.timestamp} | {entry.actor} | {entry.action}" for entry in logs]
    assert [line.split(" | ", 1)[1] for line in lines] == [  # the group, its feature, the write, the read
        f"alice@acme.com | {action}" for action in ("CREATE", "CREATE", "WRITE", "READ")]
    # Track external access: the store's own organization acts only so far
    external = fs.audit.query(resource="user-signals/*", exclude_actor_orgs=["acme"])
    assert external == [] and {e.actor_org for e in logs} == {"acme"}

    partner = make_store(QUALIFIED, user=PARTNER)
    with pytest.raises(PermissionDenied):
        partner.sql('SELECT click_count FROM "user-signals"')
    external = fs.audit.query(resource="user-signals/*", exclude_actor_orgs=["acme"])
    assert [(e.actor, e.actor_org, e.action, e.outcome) for e in external] == [
        (PARTNER, "partner-org", "READ", "DENIED")]

    # Feature-level logs
    logs = feature.audit_log(category="schema")
    assert [(e.action, e.actor) for e in logs] == [("CREATE", "alice@acme.com")]
