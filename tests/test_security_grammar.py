"""The security statements' grammar: ``parse(render(s)) == s``, examples and errors."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grammar import ast, parse, render
from grammar import security as sec
from grammar.errors import RaiseSyntaxError, ValidationError
from raise_.engine.security.handlers import FAMILY

names = st.one_of(
    st.sampled_from(["user-signals", "group", "acl", "audit", 'say "hi"', "a/b", "x.y", "it's", "名前",
                     "semi;colon", "-- not a comment", "line\nbreak"]),
    st.from_regex(r"[a-z][a-z0-9_]{0,8}(-[a-z][a-z0-9]{0,5})?", fullmatch=True),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8),
)
texts = st.one_of(st.sampled_from(["", "it's", "a;b", "-- x", "'); DROP FEATURE GROUP g; --"]),
                  st.text(st.characters(blacklist_categories=("Cs",)), max_size=16))
text_lists = st.lists(texts, max_size=3).map(tuple)
paths = {kind: st.lists(names, min_size=1, max_size=n).map(tuple)
         for kind, n in (("organization", 1), ("domain", 2), ("project", 3))}
groups = st.builds(lambda project, name: ast.GroupRef(name=name, project=project),
                   st.none() | st.lists(names, min_size=1, max_size=3).map(tuple), names)
features = st.builds(lambda g, n, v: ast.FeatureRef(group=g, name=n, version=v), groups, names, st.none() | names)
targets = st.one_of(
    *(paths[k].map(lambda p, k=k: sec.Target(kind=k, path=p)) for k in paths),
    groups.map(lambda g: sec.Target(kind="feature group", path=g)),
    features.map(lambda f: sec.Target(kind="feature", path=f)),
)
instants = st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(9999, 1, 1),
                        timezones=st.just(dt.timezone.utc)).map(lambda d: sec.canonical_instant(d.isoformat()))
maybe = st.none
filters = st.builds(
    sec.AuditFilter, resource=maybe() | texts, actions=maybe() | st.lists(st.sampled_from(sec.ACTIONS), max_size=3).map(tuple),
    category=maybe() | st.sampled_from(list(sec.CATEGORIES)), since=maybe() | instants, until=maybe() | instants,
    actors=maybe() | text_lists, actor_orgs=maybe() | text_lists, exclude_actor_orgs=maybe() | text_lists,
    outcomes=maybe() | st.lists(st.sampled_from(sec.OUTCOMES), max_size=2).map(tuple),
)
counts = st.integers(1, 10**6)
STRATEGIES = {
    sec.SetAcl: st.builds(sec.SetAcl, target=targets, readers=text_lists, writers=text_lists, admins=text_lists,
                          inherit=st.booleans()),
    sec.ShowAcl: st.builds(sec.ShowAcl, target=targets, mode=st.sampled_from(["stored", "effective", "chain"])),
    sec.CreatePrincipalGroup: st.builds(sec.CreatePrincipalGroup, name=texts, members=text_lists,
                                        description=maybe() | texts, if_not_exists=st.booleans()),
    sec.AlterPrincipalGroup: st.builds(sec.AlterPrincipalGroup, name=texts, change=st.sampled_from(["add", "remove"]),
                                       members=text_lists),
    sec.DropPrincipalGroup: st.builds(sec.DropPrincipalGroup, name=texts, if_exists=st.booleans()),
    sec.ShowPrincipalGroups: st.just(sec.ShowPrincipalGroups()),
    sec.AlterPrincipal: st.builds(sec.AlterPrincipal, principal=texts, organization=names),
    sec.GrantAccess: st.builds(sec.GrantAccess, group=groups, organization=names,
                               features=st.just(("*",)) | st.lists(names, min_size=1, max_size=3).map(tuple),
                               permission=st.sampled_from(sec.PERMISSIONS), expires=maybe() | instants),
    sec.RevokeAccess: st.builds(sec.RevokeAccess, group=groups, organization=names,
                                permission=maybe() | st.sampled_from(sec.PERMISSIONS)),
    sec.ShowGrants: st.builds(sec.ShowGrants, group=maybe() | groups, organization=maybe() | names),
    sec.ShowAudit: st.builds(sec.ShowAudit, filter=filters, after=maybe() | st.integers(0, 10**6), limit=maybe() | counts),
    sec.SetAuditConfig: st.builds(sec.SetAuditConfig, organization=maybe() | names, retention_days=maybe() | counts,
                                  immutable=st.sampled_from([None, True]), export_destination=maybe() | texts
                                  ).filter(lambda s: s.retention_days or s.immutable or s.export_destination is not None),
    sec.ShowAuditConfig: st.builds(sec.ShowAuditConfig, organization=maybe() | names),
    sec.CreateAuditAlert: st.builds(sec.CreateAuditAlert, name=names, filter=filters,
                                    notify=st.lists(texts, min_size=1, max_size=3).map(tuple),
                                    channels=st.lists(st.sampled_from(sec.CHANNELS), min_size=1, max_size=2).map(tuple)),
    sec.DropAuditAlert: st.builds(sec.DropAuditAlert, name=names, if_exists=st.booleans()),
    sec.ShowAuditAlerts: st.just(sec.ShowAuditAlerts()),
    sec.ExportAudit: st.builds(sec.ExportAudit, destination=texts, filter=filters,
                               format=st.sampled_from(sec.EXPORT_FORMATS)),
    sec.VerifyAudit: st.builds(sec.VerifyAudit, organization=maybe() | names),
}


def test_every_statement_has_a_strategy_and_is_declared_by_the_security_family():
    assert set(STRATEGIES) == set(sec.SECURITY_STATEMENTS) == set(FAMILY.statements)


@pytest.mark.parametrize("cls", sec.SECURITY_STATEMENTS, ids=lambda cls: cls.__name__)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip(cls, data):
    statement = data.draw(STRATEGIES[cls])
    text = sec.render_security_statement(statement)
    assert sec.parse_security_statement(text) == statement
    assert parse(text) == [statement] and render(statement) == text


EXAMPLES = {
    "SET ACL ON FEATURE GROUP g READERS ('a@x.com') NO INHERIT":
        sec.SetAcl(target=sec.Target(kind="feature group", path=ast.GroupRef(name="g")), readers=("a@x.com",),
                   inherit=False),
    'set acl on feature acme/ml/rec/"user-signals".ctr admins (\'l@acme.com\') inherit':
        sec.SetAcl(target=sec.Target(kind="feature", path=ast.FeatureRef(
            group=ast.GroupRef(name="user-signals", project=("acme", "ml", "rec")), name="ctr")), admins=("l@acme.com",)),
    "SHOW EFFECTIVE ACL ON PROJECT ml/rec":
        sec.ShowAcl(target=sec.Target(kind="project", path=("ml", "rec")), mode="effective"),
    "ALTER PRINCIPAL GROUP 'ml@acme.com' ADD MEMBER 'c@acme.com'":
        sec.AlterPrincipalGroup(name="ml@acme.com", change="add", members=("c@acme.com",)),
    "GRANT READ ON FEATURE GROUP items TO ORGANIZATION \"partner-org\" EXPIRES '2027-01-01'":
        sec.GrantAccess(group=ast.GroupRef(name="items"), organization="partner-org",
                        expires="2027-01-01T00:00:00+00:00"),
    "REVOKE ON FEATURE GROUP items FROM ORGANIZATION partner":
        sec.RevokeAccess(group=ast.GroupRef(name="items"), organization="partner"),
    "SHOW AUDIT LIMIT 5 RESOURCE 'user-signals/*' ACTIONS ('read', 'Write') EXCLUDE ACTOR ORGS ('acme')":
        sec.ShowAudit(filter=sec.AuditFilter(resource="user-signals/*", actions=("READ", "WRITE"),
                                             exclude_actor_orgs=("acme",)), limit=5),
    "SHOW AUDIT SINCE '2026-01-01T02:00:00+02:00'":
        sec.ShowAudit(filter=sec.AuditFilter(since="2026-01-01T00:00:00+00:00")),
    "SET AUDIT CONFIG ON ORGANIZATION acme RETENTION DAYS 365 IMMUTABLE EXPORT DESTINATION 's3://a/'":
        sec.SetAuditConfig(organization="acme", retention_days=365, immutable=True, export_destination="s3://a/"),
    "CREATE AUDIT ALERT \"external-access\" RESOURCE 'g/*' NOTIFY ('sec@acme.com')":
        sec.CreateAuditAlert(name="external-access", filter=sec.AuditFilter(resource="g/*"), notify=("sec@acme.com",)),
    "EXPORT AUDIT CATEGORY 'schema' TO '/tmp/a.csv' FORMAT csv":
        sec.ExportAudit(destination="/tmp/a.csv", filter=sec.AuditFilter(category="schema"), format="csv"),
    "/* check */ VERIFY AUDIT": sec.VerifyAudit(),
}


@pytest.mark.parametrize("text", EXAMPLES)
def test_examples_parse(text):
    assert sec.parse_security_statement(text) == EXAMPLES[text]


@pytest.mark.parametrize("text", ["SELECT 1", "SET datafusion.execution.batch_size = 10", "SHOW TABLES",
                                  "SHOW FEATURES", "CREATE FEATURE g.f INT64", "GRANTS", "-- only a comment"])
def test_other_text_is_not_a_security_statement(text):
    assert sec.parse_security_statement(text) is None


ERRORS = {
    "SET ACL ON FEATURE GROUP g READERS ('a') READERS ('b')": ("READERS given twice", 1, 42),
    "SHOW AUDIT ACTIONS ('NOPE')": ("unknown audit action 'NOPE'", 1, 12),
    "SHOW AUDIT\n  SINCE 'yesterday'": ("is not an ISO-8601", 2, 3),
    "GRANT READ ON g TO ORGANIZATION x": ("expected FEATURE", 1, 15),
    "CREATE AUDIT ALERT a RESOURCE 'x'": ("needs NOTIFY", 1, 1),
    "SET ACL ON ORGANIZATION a/b": ("at most 1 names", 1, 12),
    "EXPORT AUDIT TO 'x' FORMAT xml": ("unknown export format 'xml'", 1, 21),
    "SET AUDIT CONFIG RETENTION DAYS 0": ("at least 1", 1, 18),
    "SHOW ACL ON FEATURE GROUP g READERS": ("unexpected 'READERS'", 1, 29),
}


@pytest.mark.parametrize("text", ERRORS)
def test_errors_name_what_is_wrong_and_where(text):
    message, line, column = ERRORS[text]
    with pytest.raises(RaiseSyntaxError) as caught:
        sec.parse_security_statement(text)
    assert message in caught.value.message
    assert (caught.value.line, caught.value.column) == (line, column)


def test_an_empty_audit_config_does_not_render():
    with pytest.raises(ValidationError):
        sec.render_security_statement(sec.SetAuditConfig(organization="acme"))


def test_errors_in_scripts_point_into_the_script():
    with pytest.raises(RaiseSyntaxError) as caught:
        parse("SELECT 1;\nSHOW AUDIT LIMIT x")
    assert (caught.value.line, caught.value.column) == (2, 18)
    assert "SHOW AUDIT LIMIT x" in caught.value.excerpt


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chosen=filters)
def test_an_audit_filter_parses_back_from_its_clause_text(chosen):
    clauses = sec.render_security_statement(sec.ShowAudit(filter=chosen)).removeprefix("SHOW AUDIT").strip()
    assert sec.parse_audit_filter(clauses) == chosen


def test_a_malformed_audit_filter_is_a_syntax_error():
    with pytest.raises(RaiseSyntaxError):
        sec.parse_audit_filter("ACTIONS ('READ'")
