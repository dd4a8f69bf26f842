"""Statement families: every statement class is declared completely, and nothing fails open.

The grammar side registers families in ``grammar.extensions``, the engine side in
``raise_.engine.families``. Every statement class the parser can produce must have a renderer
and, in the engine, a handler, a result schema, an authorization rule and a listing filter; a
class without them is refused at run time. An outsider lists every kind of catalog object and
sees nothing of another organization.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pytest

from grammar import analytics, ast, blobs, dashboards, extensions, jobs, models, vectors
from grammar import serving
from grammar import security as sec
from grammar.errors import PermissionDenied
from grammar.render import RENDERERS
from raise_.engine import Engine, families, results

OUTSIDER = "mallory@evil.com"


def parsed_statement_classes() -> set[type]:
    extensions.load()
    core = {cls for cls in ast.STATEMENTS if cls is not ast.Passthrough}
    return core | set(extensions.RENDERERS)


def test_every_statement_class_of_every_family_is_declared_completely():
    declared = families.registry().statements
    assert parsed_statement_classes() == set(declared)
    for cls, entry in declared.items():
        assert cls in RENDERERS or cls in extensions.RENDERERS, cls
        assert callable(entry.handler) and callable(entry.rule) and callable(entry.listing), cls
        assert isinstance(entry.result_schema(_example(cls)), pa.Schema), cls


def test_statements_that_return_rows_of_objects_filter_them():
    """Only acknowledgements (what a statement changed) may skip the listing filter."""
    for cls, entry in families.registry().statements.items():
        schema = entry.result_schema(_example(cls))
        if entry.listing is families.acknowledged:
            assert schema.equals(results.DDL_SCHEMA), f"{cls.__name__} returns rows but filters none"


def test_a_statement_without_a_rule_cannot_be_declared():
    with pytest.raises(TypeError, match="rule"):
        families.Statement(handler=lambda s, x: None, schema=results.DDL_SCHEMA, listing=families.acknowledged)
    with pytest.raises(TypeError, match="listing"):
        families.Statement(handler=lambda s, x: None, rule=lambda s, a, x: ([], []), schema=results.DDL_SCHEMA)
    with pytest.raises(families.FamilyError, match="callable"):
        families.Statement(handler=lambda s, x: None, rule=None, schema=results.DDL_SCHEMA,
                           listing=families.acknowledged)


def test_a_kind_inside_a_namespace_says_how_a_drop_removes_it():
    with pytest.raises(families.FamilyError, match="DROP"):
        families.Kind(name="dashboard", within="project")


def test_two_families_cannot_declare_the_same_class_or_kind():
    entry = families.statement(ast.Use)
    first = families.Family(name="a", statements={ast.Use: entry})
    with pytest.raises(families.FamilyError, match="two families"):
        families.build((first, families.Family(name="b", statements={ast.Use: entry})))
    with pytest.raises(families.FamilyError, match="two families"):
        families.build((families.Family(name="a", statements={}, kinds=(families.Kind(name="x"),)),
                        families.Family(name="b", statements={}, kinds=(families.Kind(name="x"),))))


@dataclass(frozen=True, slots=True, kw_only=True)
class Undeclared:
    """A statement class no family declares."""

    name: str = "x"


def test_an_undeclared_statement_is_refused_at_run_time(tmp_path):
    session = Engine(tmp_path / "store").session(None, "acme/ml/rec")
    with pytest.raises(PermissionDenied) as refused:
        session.run(Undeclared())
    assert refused.value.code == "RAISE-P010" and refused.value.name == "Undeclared"


# -- no listing leaks across organizations ------------------------------------------------------

SETUP = """
USE acme/ml/rec;
CREATE FEATURE GROUP "user-signals" KEY (user_id INT64) TIMESTAMP event_time DESCRIPTION 'acme private';
CREATE FEATURE "user-signals".clicks INT64;
CREATE FEATURE "user-signals".ctr FLOAT64 DERIVED AS clicks * 2;
CREATE MODEL ranker FROM 's3://acme-private-models/ranker.onnx' FRAMEWORK onnx;
CREATE PRINCIPAL GROUP 'analysts@acme.com' MEMBERS ('bob@acme.com');
GRANT READ ON FEATURE GROUP "user-signals" (clicks) TO ORGANIZATION partner;
CREATE AUDIT ALERT acme_watch ACTIONS ('READ') NOTIFY ('sec@acme.com');
SET AUDIT CONFIG ON ORGANIZATION acme RETENTION DAYS 30;
INSERT INTO "user-signals" (user_id, event_time, clicks) VALUES (1, TIMESTAMP '2026-01-01 00:00:00', 7);
MATERIALIZE "user-signals";
CREATE LIVE TABLE acme_daily ON "user-signals"
    AS ANALYZE '{"kind": "aggregation", "feature": "clicks", "metrics": ["sum"]}' DESCRIPTION 'acme private';
CREATE ALERT acme_clicks ON "user-signals"
    AS ANALYZE '{"kind": "aggregation", "feature": "clicks", "metrics": ["max"]}' WHEN GREATER_THAN(5)
    NOTIFY ('ops@acme.com');
CREATE BLOB REGISTRY "ranker-images" POLICY (mode = lazy) DESCRIPTION 'acme private';
REGISTER BLOB IN "ranker-images" 's3://acme-private-images/ranker.png' CHECKSUM 'abc' SIZE 3;
CREATE JOB acme_copy FROM feature_group (feature_group = 'user-signals')
    TRANSFORM copy AS SQL 'SELECT user_id, clicks FROM source' INTO "user-signals" DESCRIPTION 'acme private';
RUN JOB acme_copy;
CREATE FEATURE "user-signals".embedding FLOAT32[2];
CREATE VECTOR INDEX acme_vectors ON "user-signals" (embedding);
CREATE DASHBOARD acme_board DESCRIPTION 'acme private';
ALTER DASHBOARD acme_board ADD PARAMETER tier DROPDOWN OPTIONS ('all', 'acme') LABEL 'acme tier';
ALTER DASHBOARD acme_board ADD CHART 'acme clicks' AS METRIC ON "user-signals"
    ANALYZE '{"kind": "aggregation", "feature": "clicks", "metrics": ["sum"]}';
ALTER DASHBOARD acme_board ADD CHART 'acme daily' AS TABLE FROM LIVE TABLE acme_daily
"""

#: One statement per listing class (every class whose result is not an acknowledgement).
LISTINGS: dict[type, list[str]] = {
    ast.Show: ["SHOW ORGANIZATIONS", "SHOW DOMAINS IN acme", "SHOW PROJECTS IN acme/ml",
               "SHOW FEATURE GROUPS IN acme/ml/rec", 'SHOW FEATURES IN acme/ml/rec/"user-signals"',
               'SHOW VERSIONS OF acme/ml/rec/"user-signals".clicks'],
    ast.Describe: ['DESCRIBE FEATURE acme/ml/rec/"user-signals".ctr', "DESCRIBE PROJECT acme/ml/rec"],
    ast.ValidateFeature: ['VALIDATE CREATE FEATURE acme/ml/rec/"user-signals".x INT64 DERIVED AS clicks'],
    models.ShowModels: ["SHOW MODELS", "SHOW MODELS IN acme/ml/rec"],
    models.DescribeModel: ["DESCRIBE MODEL acme/ml/rec/ranker"],
    blobs.ShowBlobRegistries: ["SHOW BLOB REGISTRIES", "SHOW BLOB REGISTRIES IN acme/ml/rec"],
    blobs.DescribeBlobRegistry: ['DESCRIBE BLOB REGISTRY acme/ml/rec/"ranker-images"'],
    blobs.ShowBlobs: ['SHOW BLOBS IN acme/ml/rec/"ranker-images"', "SHOW BLOBS IN acme/ml/rec/\"ranker-images\" PREFIX 's3://'"],
    blobs.ValidateBlobs: ['VALIDATE BLOBS IN acme/ml/rec/"ranker-images" NO CHECKSUM'],
    sec.ShowAcl: ['SHOW EFFECTIVE ACL ON FEATURE GROUP acme/ml/rec/"user-signals"'],
    sec.ShowPrincipalGroups: ["SHOW PRINCIPAL GROUPS"],
    sec.ShowGrants: ["SHOW GRANTS"],
    sec.ShowAudit: ["SHOW AUDIT"],
    sec.ShowAuditConfig: ["SHOW AUDIT CONFIG", "SHOW AUDIT CONFIG ON ORGANIZATION acme"],
    sec.ShowAuditAlerts: ["SHOW AUDIT ALERTS"],
    sec.VerifyAudit: ["VERIFY AUDIT", "VERIFY AUDIT ON ORGANIZATION acme"],
    serving.ShowOnlineStatus: ["SHOW ONLINE STATUS", "SHOW ONLINE STATUS IN acme/ml/rec"],
    serving.Materialize: ['MATERIALIZE acme/ml/rec/"user-signals"'],
    serving.LookupOnline: ['LOOKUP ONLINE acme/ml/rec/"user-signals" (clicks) WHERE user_id IN (1)'],
    analytics.ShowLiveTables: ["SHOW LIVE TABLES", "SHOW LIVE TABLES IN acme/ml/rec"],
    analytics.DescribeLiveTable: ["DESCRIBE LIVE TABLE acme/ml/rec/acme_daily"],
    analytics.ShowRefreshes: ["SHOW REFRESHES OF LIVE TABLE acme/ml/rec/acme_daily"],
    analytics.RefreshLiveTable: ["REFRESH LIVE TABLE acme/ml/rec/acme_daily"],
    analytics.ShowAlerts: ["SHOW ALERTS", "SHOW ALERTS IN acme/ml/rec"],
    analytics.ShowFirings: ["SHOW FIRINGS OF ALERT acme/ml/rec/acme_clicks"],
    analytics.CheckAlerts: ["CHECK ALERTS", "CHECK ALERTS IN acme/ml/rec FORCE"],
    jobs.ShowJobs: ["SHOW JOBS", "SHOW JOBS IN acme/ml/rec"],
    jobs.DescribeJob: ["DESCRIBE JOB acme/ml/rec/acme_copy"],
    jobs.ShowJobRuns: ["SHOW JOB RUNS OF acme/ml/rec/acme_copy"],
    jobs.RunJob: ["RUN JOB acme/ml/rec/acme_copy"],
    jobs.RunDueJobs: ["RUN DUE JOBS", "RUN DUE JOBS IN acme/ml/rec"],
    vectors.ShowVectorIndexes: ["SHOW VECTOR INDEXES", 'SHOW VECTOR INDEXES IN acme/ml/rec/"user-signals"'],
    dashboards.ShowDashboards: ["SHOW DASHBOARDS", "SHOW DASHBOARDS IN acme/ml/rec"],
    dashboards.DescribeDashboard: ["DESCRIBE DASHBOARD acme/ml/rec/acme_board"],
    dashboards.RenderDashboard: ["RENDER DASHBOARD acme/ml/rec/acme_board FORMAT JSON"],
    dashboards.PublishDashboard: ["PUBLISH DASHBOARD acme/ml/rec/acme_board"],
}


def test_the_leak_test_covers_every_listing_class():
    listing = {cls for cls, entry in families.registry().statements.items()
               if entry.listing is not families.acknowledged}
    assert listing == set(LISTINGS)


@pytest.fixture(scope="module")
def acme(tmp_path_factory):
    engine = Engine(tmp_path_factory.mktemp("families") / "store")
    engine.session("alice@acme.com").execute(SETUP)
    engine.session(None).execute("ALTER PRINCIPAL 'alice@acme.com' SET ORGANIZATION acme")
    return engine


@pytest.mark.parametrize("sql", [s for group in LISTINGS.values() for s in group])
def test_an_outsider_sees_nothing_of_another_organization(acme, sql):
    for project in (None, "acme/ml/rec"):
        try:
            table = acme.session(OUTSIDER, project).execute(sql)
        except PermissionDenied:
            continue
        # its own audit entries (of these very attempts) are the outsider's to see
        rows = [r for r in table.to_pylist() if r.get("actor") != OUTSIDER]
        text = repr(rows).lower()
        assert "acme" not in text and "ranker" not in text, (sql, rows)


def test_an_insider_still_sees_what_the_outsider_does_not(acme):
    alice = acme.session("alice@acme.com", "acme/ml/rec")
    models_shown = alice.execute("SHOW MODELS").to_pylist()
    assert [m["name"] for m in models_shown] == ["ranker"]
    assert models_shown[0]["uri"] == "s3://acme-private-models/ranker.onnx"
    assert [g["name"] for g in alice.execute("SHOW PRINCIPAL GROUPS").to_pylist()] == ["analysts@acme.com"]
    assert [g["organization"] for g in alice.execute("SHOW GRANTS").to_pylist()] == ["partner"]
    assert [a["name"] for a in alice.execute("SHOW AUDIT ALERTS").to_pylist()] == ["acme_watch"]
    assert [t["name"] for t in alice.execute("SHOW LIVE TABLES").to_pylist()] == ["acme_daily"]
    assert [a["name"] for a in alice.execute("SHOW ALERTS").to_pylist()] == ["acme_clicks"]
    assert [r["name"] for r in alice.execute("SHOW BLOB REGISTRIES").to_pylist()] == ["ranker-images"]
    assert [d["name"] for d in alice.execute("SHOW DASHBOARDS").to_pylist()] == ["acme_board"]
    assert [b["uri"] for b in alice.execute('SHOW BLOBS IN "ranker-images"').to_pylist()] == \
        ["s3://acme-private-images/ranker.png"]
    assert [j["name"] for j in alice.execute("SHOW JOBS").to_pylist()] == ["acme_copy"]


def test_show_models_of_an_outsider_is_empty_and_its_describe_denied(acme):
    outsider = acme.session(OUTSIDER, "acme/ml/rec")
    assert outsider.execute("SHOW MODELS").num_rows == 0
    with pytest.raises(PermissionDenied):
        outsider.execute("DESCRIBE MODEL ranker")


def _example(cls: type):
    """An instance of ``cls`` for schemas that depend on the statement (SHOW kinds)."""
    if cls is ast.Show:
        return ast.Show(kind="features")
    if cls is ast.Describe:
        return ast.Describe(kind="feature group", target=ast.GroupRef(name="g"))
    if cls is serving.LookupOnline:
        return serving.LookupOnline(group=ast.GroupRef(name="g"), features=("f",), key="k", values=(1,))
    return None
