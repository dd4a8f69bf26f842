"""Principals, ACL resolution, grants and plan-based authorization, called directly.

These tests build the store with Raise SQL, set ACLs and grants through the security modules,
and authorize DataFusion plans made by ``QueryContext`` with ``authorize_query``.
"""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from grammar.errors import PermissionDenied
from grammar.expressions import parse_expression
from raise_.engine import Engine, registry
from raise_.engine.security import acl, audit, grants, plans, principals
from raise_.engine.security.acl import AccessControl, StoredAcl
from raise_.engine.security.authorize import authorize_query, authorize_write, upstream_paths, visible_groups

G = "acme/ml/rec/user-signals"

SETUP = """
CREATE ORGANIZATION acme;
USE acme/ml/rec;
CREATE FEATURE GROUP "user-signals" KEY (user_id INT64) TIMESTAMP event_time;
CREATE FEATURE "user-signals".clicks INT64;
CREATE FEATURE "user-signals".secret INT64;
CREATE FEATURE "user-signals".leak INT64 DERIVED AS secret + clicks;
CREATE FEATURE "user-signals".leak2 INT64 DERIVED AS leak * 2;
INSERT INTO "user-signals" (user_id, event_time, clicks, secret) VALUES (1, TIMESTAMP '2026-01-01 00:00:00', 3, 42)
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = Engine(tmp_path_factory.mktemp("access") / "store")
    engine.session("alice@acme.com").execute(SETUP)
    catalog = engine.catalog
    principals.save_group(catalog, "analysts@acme.com", ["bob@acme.com", "pii@acme.com"], None, "alice@acme.com")
    principals.save_group(catalog, "pii@acme.com", ["carol@acme.com"], None, "alice@acme.com")
    acl.save(catalog, "acme/ml/rec", StoredAcl(readers=("analysts@acme.com",)))
    acl.save(catalog, f"{G}/secret", StoredAcl(readers=("pii@acme.com",), inherit=False))
    return engine


def plan(engine: Engine, principal: str | None, sql: str):
    session = engine.session(principal, "acme/ml/rec")
    context = session.query_context(sql)
    return session, context.dataframe(sql), context


def allowed(engine: Engine, principal: str | None, sql: str) -> bool:
    session, frame, context = plan(engine, principal, sql)
    try:
        authorize_query(session, frame, context)
    except PermissionDenied:
        return False
    return True


# -- principals ------------------------------------------------------------------------------


@pytest.mark.parametrize("name, org", [
    ("alice@acme.com", "acme"), ("bob@partner-org.com", "partner-org"), ("eve@acme.evil.com", "acme.evil"),
    ("x@localhost", "localhost"), ("alice", None), ("a@B.Example.COM", "b.example"),
])
def test_email_domains_name_organizations(name, org):
    assert principals.email_organization(name) == org


def test_explicit_organization_wins(engine):
    principals.set_organization(engine.catalog, "zoe@gmail.com", "acme", "root")
    assert principals.organization_of(engine.catalog, "zoe@gmail.com") == "acme"
    assert principals.organization_of(engine.catalog, None) is None


def test_group_membership_is_transitive_and_survives_cycles(engine):
    assert principals.identities(engine.catalog, "carol@acme.com") == {
        "carol@acme.com", "pii@acme.com", "analysts@acme.com"}
    catalog = Engine(engine.home.parent / "cycle").catalog
    principals.save_group(catalog, "a@x.com", ["b@x.com", "u@x.com"], None, "root")
    principals.save_group(catalog, "b@x.com", ["a@x.com"], None, "root")
    assert principals.identities(catalog, "u@x.com") == {"u@x.com", "a@x.com", "b@x.com"}


# -- ACL resolution --------------------------------------------------------------------------


def test_effective_acl_cascades_and_stops_at_no_inherit(engine):
    ac = AccessControl(engine.catalog, "bob@acme.com")
    clicks, secret = ac.effective(f"{G}/clicks"), ac.effective(f"{G}/secret")
    assert clicks.readers == {"analysts@acme.com"}
    assert secret.readers == {"pii@acme.com"}
    # Creators and the organization's admins keep administering below NO INHERIT.
    assert "alice@acme.com" in secret.admins
    assert [link.path for link in ac.chain(f"{G}/secret")] == ["acme", "acme/ml", "acme/ml/rec", G, f"{G}/secret"]


@pytest.mark.parametrize("principal, permission, path, expected", [
    ("bob@acme.com", "read", f"{G}/clicks", True),
    ("bob@acme.com", "read", f"{G}/secret", False),
    ("carol@acme.com", "read", f"{G}/secret", True),
    ("bob@acme.com", "write", f"{G}/clicks", False),
    ("bob@acme.com", "admin", G, False),
    ("alice@acme.com", "admin", f"{G}/secret", True),
    ("mallory@evil.com", "read", G, False),
    (None, "admin", "acme", True),
    ("root", "admin", G, True),
])
def test_permissions(engine, principal, permission, path, expected):
    assert AccessControl(engine.catalog, principal).allows(permission, path) is expected


def test_writers_read_and_admins_write(tmp_path):
    engine = Engine(tmp_path / "store")
    engine.session("alice@acme.com").execute(SETUP)
    acl.save(engine.catalog, G, StoredAcl(writers=("w@acme.com",), admins=("a@acme.com",)))
    w, a = AccessControl(engine.catalog, "w@acme.com"), AccessControl(engine.catalog, "a@acme.com")
    assert w.allows("read", f"{G}/clicks") and w.allows("write", f"{G}/clicks") and not w.allows("admin", G)
    assert a.allows("write", G) and a.allows("admin", f"{G}/clicks")


def test_visibility_reaches_up_from_what_is_readable(engine):
    ac = AccessControl(engine.catalog, "dave@partner-org.com")
    assert not ac.visible("acme")
    acl.save(engine.catalog, f"{G}/clicks", StoredAcl(readers=("dave@partner-org.com",)))
    try:
        ac = AccessControl(engine.catalog, "dave@partner-org.com")
        assert ac.visible("acme") and ac.visible(G) and not ac.allows("read", G)
        assert [g["name"] for g in visible_groups(engine.session("dave@partner-org.com"),
                                                  registry.all_groups(engine.catalog))] == ["user-signals"]
    finally:
        engine.catalog.delete("acl", f"{G}/clicks")


# -- grants ----------------------------------------------------------------------------------


def _partner(tmp_path) -> Engine:
    engine = Engine(tmp_path / "store")
    engine.session("alice@acme.com").execute(SETUP)
    engine.session("dave@partner.com").execute(
        "USE partner/shared/emb; CREATE FEATURE GROUP items KEY (user_id INT64); "
        "CREATE FEATURE items.score FLOAT64; CREATE FEATURE items.hidden FLOAT64")
    return engine


def test_grants_cover_listed_features_until_revoked(tmp_path):
    engine = _partner(tmp_path)
    catalog, items = engine.catalog, registry.group_at(engine.catalog, "partner/shared/emb/items")
    grants.grant(catalog, items, "acme", ["score"], "read", None, "dave@partner.com")
    alice = AccessControl(catalog, "alice@acme.com")
    assert alice.allows("read", "partner/shared/emb/items/score") and alice.allows("read", items["key"])
    assert not alice.allows("read", "partner/shared/emb/items/hidden")
    assert not alice.allows("write", "partner/shared/emb/items/score")
    path = parse_expression("@partner/shared/emb/items.score").references[0]
    assert grants.resolve_external(catalog, path, "acme")["key"] == items["key"]
    assert len(grants.revoke(catalog, items["key"], "acme", None, "dave@partner.com")) == 1
    assert not AccessControl(catalog, "alice@acme.com").allows("read", "partner/shared/emb/items/score")
    with pytest.raises(PermissionDenied):
        grants.resolve_external(catalog, path, "acme")


def test_grant_expiry_and_checks(tmp_path):
    engine = _partner(tmp_path)
    catalog, items = engine.catalog, registry.group_at(engine.catalog, "partner/shared/emb/items")
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    record = grants.grant(catalog, items, "acme", ["*"], "read", later, "dave@partner.com")
    assert grants.status(record) == "active"
    assert grants.status(record, at=(dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)).isoformat()) == "expired"
    with pytest.raises(Exception, match="has passed"):
        grants.grant(catalog, items, "acme", ["*"], "read", "2000-01-01T00:00:00+00:00", "dave@partner.com")
    with pytest.raises(Exception, match="no feature 'nope'"):
        grants.grant(catalog, items, "acme", ["nope"], "read", None, "dave@partner.com")
    with pytest.raises(Exception, match="owns"):
        grants.grant(catalog, items, "partner", ["*"], "read", None, "dave@partner.com")


# -- plans -----------------------------------------------------------------------------------


def test_scans_list_read_and_filtered_columns(engine):
    _, frame, _ = plan(engine, None, 'SELECT user_id FROM "user-signals" WHERE secret = 42')
    (scan,) = plans.scans(frame)
    assert scan.group_id == registry.group_at(engine.catalog, G)["id"]
    assert scan.reads("secret@v1") and scan.reads("user_id") and not scan.reads("clicks@v1")


def test_scalar_subqueries_are_unresolvable(engine):
    _, frame, _ = plan(engine, None, 'SELECT (SELECT MAX(secret) FROM "user-signals") AS m')
    with pytest.raises(plans.UnresolvablePlan):
        plans.scans(frame)


def test_derived_names_are_found_in_the_unoptimized_plan(engine):
    _, frame, _ = plan(engine, None, 'WITH c AS (SELECT leak2 AS q FROM "user-signals") SELECT q FROM c')
    text = plans.unoptimized_text(frame)
    assert plans.names_column(text, "leak2") and not plans.names_column(text, "leak")


def test_upstream_follows_derived_features(engine):
    record = registry.feature(engine.catalog, G, "leak2", "v1")
    assert upstream_paths(engine.catalog, record) == {f"{G}/leak", f"{G}/secret", f"{G}/clicks"}


# -- authorize_query -------------------------------------------------------------------------


@pytest.mark.parametrize("sql", [
    'SELECT secret FROM "user-signals"', 'SELECT * FROM "user-signals"',
    'SELECT user_id FROM "user-signals" WHERE secret > 1', 'SELECT MAX(secret) FROM "user-signals"',
    'SELECT leak FROM "user-signals"', 'SELECT leak2 + 1 FROM "user-signals"',
    'SELECT a.user_id FROM "user-signals" a JOIN "user-signals" b ON a.user_id = b.secret',
])
def test_reads_of_secret_need_read_on_it(engine, sql):
    assert not allowed(engine, "bob@acme.com", sql)
    assert allowed(engine, "carol@acme.com", sql)


def test_unrestricted_reads_pass(engine):
    assert allowed(engine, "bob@acme.com", 'SELECT user_id, clicks FROM "user-signals"')
    assert allowed(engine, "bob@acme.com", 'SELECT COUNT(*) FROM "user-signals"')
    assert not allowed(engine, "mallory@evil.com", 'SELECT COUNT(*) FROM "user-signals"')


def test_denials_and_reads_are_audited(engine):
    session, frame, context = plan(engine, "bob@acme.com", 'SELECT secret FROM "user-signals"')
    with pytest.raises(PermissionDenied) as caught:
        authorize_query(session, frame, context)
    assert caught.value.status == "PERMISSION_DENIED" and f"{G}/secret" in caught.value.message
    entries = audit.log_for(engine.home).entries()
    last = [e for e in entries if e.actor == "bob@acme.com"][-1]
    assert (last.action, last.resource, last.outcome, last.actor_org) == ("READ", f"{G}/secret", "DENIED", "acme")
    session, frame, context = plan(engine, "bob@acme.com", 'SELECT clicks FROM "user-signals"')
    authorize_query(session, frame, context)
    written = [(e.action, e.resource, e.outcome) for e in audit.log_for(engine.home).entries()[-2:]]
    assert written == [("READ", f"{G}/clicks", "ALLOWED"), ("QUERY", G, "ALLOWED")]


def test_writes_need_write(engine):
    session = engine.session("bob@acme.com", "acme/ml/rec")
    group = registry.group_at(engine.catalog, G)
    with pytest.raises(PermissionDenied):
        authorize_write(session, group, ["user_id", "clicks"], "append", 1)
    authorize_write(engine.session("alice@acme.com"), group, ["user_id", "clicks"], "append", 1)
    with pytest.raises(PermissionDenied):
        authorize_write(engine.session("carol@acme.com"), group, pa.table({"user_id": [1]}).column_names)
