"""An incremental refresh's merge query in a small DataFusion context of its own
(``over_added``) and the live table written through its kept DeltaTable: the same rows, the
same authorization and the same audit entries as the engine's own statement over the added rows."""
from __future__ import annotations

import json

import pyarrow as pa
import pytest

from raise_.analytics import incremental, inside, over_added
from raise_.analytics.spec import Analysis
from raise_.engine import Engine, registry
from raise_.engine.security import log_for
from raise_.errors import PermissionDenied

ANALYSIS = '{"kind": "aggregation", "feature": "x", "metrics": ["sum", "count", "min", "max"], "group_by": ["k"], "window": "1d"}'
SETUP = f"""CREATE FEATURE GROUP g KEY (id INT64) TIMESTAMP ts; CREATE FEATURE g.x FLOAT64;
    CREATE FEATURE g.k STRING; CREATE FEATURE g.n INT32; CREATE FEATURE g.y FLOAT64 DERIVED AS x * 2;
    INSERT INTO g VALUES (1, TIMESTAMP '2026-01-01 10:00:00', 2.0, 'a', 1),
                         (2, TIMESTAMP '2026-01-02 10:00:00', 4.0, 'a', 2),
                         (3, TIMESTAMP '2026-01-01 11:00:00', 1.0, 'b', 3);
    CREATE LIVE TABLE t ON g AS ANALYZE '{ANALYSIS}';
    SET ACL ON FEATURE GROUP g READERS ('bob@acme.com')"""
ADDED = ("INSERT INTO g VALUES (4, TIMESTAMP '2026-01-02 12:00:00', 8.0, 'b', 4), "
         "(5, TIMESTAMP '2026-01-03 09:00:00', NULL, 'c', 5), (6, TIMESTAMP '2026-01-01 08:00:00', 0.5, 'a', 6)")


@pytest.fixture
def engine(tmp_path):
    engine = Engine(tmp_path / "store")
    engine.session(None, "acme/ml/rec").execute(SETUP)
    return engine


def _added(session, group, since: int) -> pa.Table:
    """The rows the last write added, as an incremental refresh reads them from the feed."""
    table = session.engine.storage.latest(group.uri)
    changes = pa.table(table.load_cdf(starting_version=since + 1, ending_version=table.version()))
    return changes.drop_columns(["_change_type", "_commit_version", "_commit_timestamp"])


def _audited(engine, run):
    log = log_for(engine.home)
    before = len(log.entries())
    result = run()
    return result, [(e.actor, e.action, e.resource, e.outcome, e.details) for e in log.entries()[before:]]


@pytest.mark.parametrize("analysis", [
    ANALYSIS,
    '{"kind": "aggregation", "feature": "n", "metrics": ["sum", "count", "max"]}',
    '{"kind": "aggregation", "feature": "x", "metrics": ["count", "avg", "null_rate"], "group_by": ["k"]}',
], ids=["windowed-by-tier", "int32-ungrouped", "partial-sums"])
def test_the_merge_query_over_added_rows_matches_the_engine_s_and_is_audited_alike(engine, analysis):
    bob = engine.session("bob@acme.com", "acme/ml/rec")
    group = registry.group(bob.catalog, ("acme", "ml", "rec"), "g")
    since = engine.storage.latest(group.uri).version()
    engine.session(None, "acme/ml/rec").execute(ADDED)
    added, spec = _added(bob, group, since), Analysis.from_dict(json.loads(analysis))
    query = inside.run(bob, ("acme", "ml", "rec"), "g", spec, "bob@acme.com").sql
    ours, our_audit = _audited(engine, lambda: over_added.run(bob, ("acme", "ml", "rec"), group, spec, added, query))
    theirs, their_audit = _audited(engine, lambda: inside.SessionConnection(
        bob, ("acme", "ml", "rec"), "bob@acme.com", {group.id: added}).execute(query))
    assert ours is not None and ours.num_rows >= 1
    assert ours.to_pylist() == theirs.to_pylist() and ours.schema == theirs.schema
    assert our_audit == their_audit and {a[1] for a in our_audit} == {"READ", "QUERY"}


def test_a_derived_feature_or_a_pinned_version_takes_the_engine_s_statement(engine):
    session = engine.session(None, "acme/ml/rec")
    group = registry.group(session.catalog, ("acme", "ml", "rec"), "g")
    since = engine.storage.latest(group.uri).version()
    session.execute(ADDED)
    added = _added(session, group, since)
    for text in ('{"kind": "aggregation", "feature": "y", "metrics": ["sum"]}',
                 '{"kind": "aggregation", "feature": "x@v1", "metrics": ["sum"]}'):
        assert over_added.projection(session, group, Analysis.from_dict(json.loads(text)), added) is None
    session.execute("""CREATE LIVE TABLE d ON g AS ANALYZE '{"kind": "aggregation", "feature": "y", "metrics": ["sum", "count"]}'""")
    session.execute("INSERT INTO g VALUES (7, TIMESTAMP '2026-01-04 10:00:00', 3.0, 'a', 7)")
    [event] = session.execute("REFRESH LIVE TABLE d IF STALE").to_pylist()
    assert (event["status"], event["mode"]) == ("completed", "incremental")
    assert session.execute("SELECT sum, count FROM d").to_pylist() == [{"sum": 2 * 18.5, "count": 6}]


def test_a_refresh_by_a_principal_who_lost_read_is_refused_and_changes_nothing(engine):
    admin, bob = engine.session(None, "acme/ml/rec"), engine.session("bob@acme.com", "acme/ml/rec")
    admin.execute(ADDED)
    assert bob.execute("REFRESH LIVE TABLE t IF STALE").to_pylist()[0]["mode"] == "incremental"
    record = admin.catalog.get("live table", "acme/ml/rec/t")
    rows = admin.execute("SELECT * FROM t ORDER BY k, date").to_pylist()
    version = engine.storage.local_version(record["uri"])
    admin.execute("SET ACL ON FEATURE GROUP g READERS ('carol@acme.com'); SET ACL ON FEATURE g.k READERS ('bob@acme.com')")
    admin.execute("INSERT INTO g VALUES (8, TIMESTAMP '2026-01-05 10:00:00', 9.0, 'a', 8)")
    with pytest.raises(PermissionDenied):
        bob.execute("REFRESH LIVE TABLE t IF STALE")
    denied = [e for e in log_for(engine.home).entries() if e.actor == "bob@acme.com"][-1]
    assert (denied.action, denied.resource, denied.outcome) == ("READ", "acme/ml/rec/g/x", "DENIED")
    assert admin.catalog.get("live table", "acme/ml/rec/t")["history"] == record["history"]
    assert engine.storage.local_version(record["uri"]) == version
    assert admin.execute("SELECT * FROM t ORDER BY k, date").to_pylist() == rows


def test_a_live_table_written_behind_its_kept_delta_table_is_reopened(engine):
    session = engine.session(None, "acme/ml/rec")
    uri = session.catalog.get("live table", "acme/ml/rec/t")["uri"]
    session.execute(ADDED)
    session.execute("REFRESH LIVE TABLE t IF STALE")
    # another writer (another process, say) commits to the live table past the kept DeltaTable
    engine.storage.write(uri, pa.table({"k": ["z"], "sum": [0.0]}), "overwrite", ())
    behind = engine.storage.local_version(uri)
    session.execute("INSERT INTO g VALUES (9, TIMESTAMP '2026-01-01 12:00:00', 1.5, 'b', 9)")
    [event] = session.execute("REFRESH LIVE TABLE t IF STALE").to_pylist()
    assert event["status"] == "completed"
    assert engine.storage.local_version(uri) == behind + 1
    assert session.execute("SELECT k, sum, count FROM t WHERE k = 'b' ORDER BY date").to_pylist() == [
        {"k": "b", "sum": 2.5, "count": 2}, {"k": "b", "sum": 8.0, "count": 1}]
    assert incremental.target(session, uri).version() == behind + 1
