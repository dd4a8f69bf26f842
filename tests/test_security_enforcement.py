"""Access control end to end through ``Session.execute`` / ``ingest`` / ``tables``.

The store: ``acme/ml/rec`` with ``user-signals`` (``secret`` readable only by ``pii@acme.com``,
``leak`` derived from it) and ``items`` (``x`` derived from ``user-signals.secret``);
``partner-org/shared/embeddings/items`` shares ``item_score`` with ``acme``. ``bob`` reads
``user-signals`` but not ``secret``; ``carol`` reads both; ``mallory@evil.com`` reads nothing.
Every refused attempt must raise PERMISSION_DENIED, leave a DENIED audit entry and change
nothing; the same requests succeed for principals who hold the right.
"""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from grammar.errors import PermissionDenied, ValidationError
from raise_.engine import Engine, families

BOB, CAROL, MALLORY, ALICE, DAVE = (
    "bob@acme.com", "carol@acme.com", "mallory@evil.com", "alice@acme.com", "dave@partner-org.com")

SETUP = """
USE acme/ml/rec;
CREATE FEATURE GROUP "user-signals" KEY (user_id INT64) TIMESTAMP event_time;
CREATE FEATURE "user-signals".click_count INT64;
CREATE FEATURE "user-signals".impression_count INT64;
CREATE FEATURE "user-signals".secret INT64 DESCRIPTION 'personal data';
CREATE FEATURE "user-signals".ctr FLOAT64 DERIVED AS click_count / NULLIF(impression_count, 0);
CREATE FEATURE "user-signals".leak INT64 DERIVED AS secret * 2;
CREATE FEATURE GROUP items KEY (user_id INT64);
CREATE FEATURE items.score FLOAT64;
CREATE FEATURE items.x FLOAT64 DERIVED AS score + "user-signals".secret;
INSERT INTO "user-signals" (user_id, event_time, click_count, impression_count, secret) VALUES
  (1, TIMESTAMP '2026-01-01 00:00:00', 1, 10, 42), (2, TIMESTAMP '2026-01-01 00:00:00', 3, 30, 7);
INSERT INTO items (user_id, score) VALUES (1, 0.5), (2, 1.5);
CREATE PRINCIPAL GROUP 'analysts@acme.com' MEMBERS ('bob@acme.com', 'pii@acme.com');
CREATE PRINCIPAL GROUP 'pii@acme.com' MEMBERS ('carol@acme.com');
SET ACL ON PROJECT acme/ml/rec READERS ('analysts@acme.com');
SET ACL ON FEATURE "user-signals".secret READERS ('pii@acme.com') NO INHERIT;
CREATE MODEL ranker FROM 's3://acme-models/ranker.onnx' FRAMEWORK onnx DESCRIPTION 'private ranking model'
"""

PARTNER = """
USE "partner-org"/shared/embeddings;
CREATE FEATURE GROUP items KEY (user_id INT64);
CREATE FEATURE items.item_score FLOAT64;
CREATE FEATURE items.item_secret FLOAT64;
INSERT INTO items (user_id, item_score, item_secret) VALUES (1, 10.0, 99.0), (2, 20.0, 98.0);
GRANT READ ON FEATURE GROUP items (item_score) TO ORGANIZATION acme
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    engine = Engine(tmp_path_factory.mktemp("security") / "store")
    engine.session(ALICE).execute(SETUP)
    engine.session(DAVE).execute(PARTNER)
    return engine


def session(engine: Engine, principal: str | None):
    return engine.session(principal, "acme/ml/rec")


def denied_entries(engine: Engine, actor: str) -> list[dict]:
    return engine.session(None).execute(f"SHOW AUDIT OUTCOMES ('DENIED') ACTORS ('{actor}')").to_pylist()


def assert_denied(engine: Engine, principal: str, attempt) -> PermissionDenied:
    """``attempt(session)`` raises PERMISSION_DENIED and adds a DENIED audit entry."""
    before = len(denied_entries(engine, principal))
    with pytest.raises(PermissionDenied) as caught:
        attempt(session(engine, principal))
    assert caught.value.status == "PERMISSION_DENIED"
    assert len(denied_entries(engine, principal)) > before
    return caught.value


def snapshot(engine: Engine) -> tuple:
    """What a refused attempt must leave unchanged: the data and the catalog objects."""
    root = session(engine, None)
    data = root.execute('SELECT user_id, click_count, secret FROM "user-signals" ORDER BY user_id').to_pydict()
    items = root.execute("SELECT user_id, score FROM items ORDER BY user_id").to_pydict()
    objects = [(k.name, r["key"], r.get("description")) for k in families.kinds() for r in engine.catalog.list(k.name)]
    return data, items, objects


# -- reads: every way of touching `secret` ---------------------------------------------------

SECRET_READS = {
    "direct": 'SELECT secret FROM "user-signals"',
    "star": 'SELECT * FROM "user-signals"',
    "qualified view": 'SELECT user_id, secret FROM acme."ml/rec"."user-signals"',
    "time travel view": 'SELECT secret FROM "user-signals" VERSION AS OF 1',
    "hidden table": 'SELECT "secret@v1" FROM __raise_g1 -- opened because "user-signals" is named',
    "cte": 'WITH c AS (SELECT * FROM "user-signals") SELECT user_id FROM c WHERE secret > 3',
    "in subquery": 'SELECT user_id FROM "user-signals" WHERE user_id IN (SELECT user_id FROM "user-signals" WHERE secret > 5)',
    "from subquery": 'SELECT s FROM (SELECT secret AS s FROM "user-signals") t',
    "exists": 'SELECT user_id FROM items i WHERE EXISTS (SELECT 1 FROM "user-signals" u WHERE u.user_id = i.user_id AND u.secret = 42)',
    "join": 'SELECT i.score, u.secret FROM items i JOIN "user-signals" u ON i.user_id = u.user_id',
    "join condition": 'SELECT i.score FROM items i JOIN "user-signals" u ON i.user_id = u.user_id AND u.secret = 42',
    "filter only": 'SELECT user_id FROM "user-signals" WHERE secret = 42',
    "order only": 'SELECT user_id FROM "user-signals" ORDER BY secret',
    "aggregate": 'SELECT SUM(secret) AS s FROM "user-signals"',
    "group by": 'SELECT COUNT(*) AS n FROM "user-signals" GROUP BY secret',
    "window": 'SELECT user_id, RANK() OVER (ORDER BY secret) AS r FROM "user-signals"',
    "union": 'SELECT click_count FROM "user-signals" UNION ALL SELECT secret FROM "user-signals"',
    "case": "SELECT CASE WHEN secret > 10 THEN 1 ELSE 0 END AS flag FROM \"user-signals\"",
    "derived": 'SELECT leak FROM "user-signals"',
    "derived via cte": 'WITH c AS (SELECT leak + 1 AS q FROM "user-signals") SELECT q FROM c',
    "derived in other group": "SELECT x FROM items",
    "versioned name": 'SELECT "secret@v1" FROM "user-signals"',
    "having": 'SELECT user_id FROM "user-signals" GROUP BY user_id HAVING MAX(secret) > 10',
    "recursive cte": 'WITH RECURSIVE r(n) AS (SELECT secret FROM "user-signals" UNION ALL '
                     'SELECT n + 1 FROM r WHERE n < 50) SELECT COUNT(*) FROM r',
    "explain": 'EXPLAIN SELECT secret FROM "user-signals"',
    "describe table": 'DESCRIBE "user-signals"',
    "scalar subquery": 'SELECT user_id, (SELECT MAX(secret) FROM "user-signals") AS m FROM items',
}


@pytest.mark.parametrize("sql", SECRET_READS.values(), ids=SECRET_READS.keys())
def test_reading_secret_is_denied_without_the_right(store, sql):
    before = snapshot(store)
    error = assert_denied(store, BOB, lambda s: s.execute(sql))
    assert error.code.startswith("RAISE-P")
    assert snapshot(store) == before


@pytest.mark.parametrize("sql", [q for k, q in SECRET_READS.items() if k not in ("scalar subquery", "hidden table")],
                         ids=[k for k in SECRET_READS if k not in ("scalar subquery", "hidden table")])
def test_reading_secret_is_allowed_with_the_right(store, sql):
    result = session(store, CAROL).execute(sql)
    assert result.num_rows >= 1


def test_allowed_values_are_the_stored_ones(store):
    carol = session(store, CAROL)
    got = carol.execute('SELECT user_id, secret, leak FROM "user-signals" ORDER BY user_id').to_pydict()
    assert got == {"user_id": [1, 2], "secret": [42, 7], "leak": [84, 14]}
    assert carol.execute("SELECT x FROM items ORDER BY user_id").column("x").to_pylist() == [42.5, 8.5]
    assert carol.execute('SELECT user_id FROM "user-signals" WHERE secret = 42').to_pydict() == {"user_id": [1]}


def test_scalar_subquery_is_refused_as_unresolvable(store):
    error = assert_denied(store, CAROL, lambda s: s.execute(SECRET_READS["scalar subquery"]))
    assert error.code == "RAISE-P004"


def test_features_without_restriction_stay_readable(store):
    bob = session(store, BOB)
    got = bob.execute('SELECT user_id, click_count, ctr FROM "user-signals" ORDER BY user_id').to_pydict()
    assert got == {"user_id": [1, 2], "click_count": [1, 3], "ctr": [pytest.approx(0.1), pytest.approx(0.1)]}
    assert bob.execute('SELECT COUNT(*) AS n FROM "user-signals"').column("n").to_pylist() == [2]
    assert bob.execute("SELECT 1 AS one").column("one").to_pylist() == [1]


def test_outsider_reads_nothing(store):
    for sql in ('SELECT click_count FROM "user-signals"', 'SELECT COUNT(*) FROM "user-signals"',
                "SELECT user_id FROM items"):
        assert_denied(store, MALLORY, lambda s: s.execute(sql))


def test_allowed_reads_are_audited(store):
    session(store, CAROL).execute('SELECT secret FROM "user-signals"')
    reads = store.session(None).execute(
        "SHOW AUDIT ACTIONS ('READ') ACTORS ('carol@acme.com') RESOURCE 'user-signals/secret'").to_pylist()
    assert reads and reads[-1]["outcome"] == "ALLOWED" and reads[-1]["actor_org"] == "acme"


def test_prepared_statement_is_denied(store):
    assert_denied(store, BOB, lambda s: s.schema('SELECT secret FROM "user-signals"'))
    assert_denied(store, BOB, lambda s: s.execute('SELECT user_id FROM "user-signals" WHERE secret = $1', [42]))
    assert session(store, CAROL).schema('SELECT secret FROM "user-signals"').names == ["secret"]
    got = session(store, CAROL).execute('SELECT user_id FROM "user-signals" WHERE secret = $1', [42])
    assert got.column("user_id").to_pylist() == [1]


# -- writes and DDL ------------------------------------------------------------------------------


def test_ingest_needs_write(store):
    rows = pa.table({"user_id": [9], "click_count": [5]})
    before = snapshot(store)
    assert_denied(store, BOB, lambda s: s.ingest("user-signals", rows))
    assert_denied(store, MALLORY, lambda s: s.ingest("user-signals", rows, "overwrite"))
    assert_denied(store, BOB, lambda s: s.execute('INSERT INTO "user-signals" (user_id, click_count) VALUES (9, 5)'))
    assert snapshot(store) == before


def test_writer_may_write_only_what_it_was_given(tmp_path):
    engine = Engine(tmp_path / "store")
    engine.session(ALICE).execute(SETUP + ";\nSET ACL ON FEATURE GROUP items WRITERS ('etl@acme.com')")
    etl = session(engine, "etl@acme.com")
    assert etl.ingest("items", pa.table({"user_id": [3], "score": [2.5]})) == 1
    assert_denied(engine, "etl@acme.com", lambda s: s.ingest("user-signals", pa.table({"user_id": [3], "secret": [1]})))
    writes = engine.session(None).execute("SHOW AUDIT ACTIONS ('WRITE') ACTORS ('etl@acme.com')").to_pylist()
    assert [(w["resource"], w["outcome"]) for w in writes] == [
        ("acme/ml/rec/items/score", "ALLOWED"), ("acme/ml/rec/user-signals/secret", "DENIED")]


DDL = {
    "create feature": 'CREATE FEATURE "user-signals".z INT64',
    "alter feature": "ALTER FEATURE \"user-signals\".click_count SET DESCRIPTION 'changed'",
    "deprecate": 'DEPRECATE FEATURE "user-signals".click_count',
    "drop feature": 'DROP FEATURE "user-signals".click_count',
    "drop group": "DROP FEATURE GROUP items CASCADE",
    "drop project": "DROP PROJECT acme/ml/rec CASCADE",
    "create group": "CREATE FEATURE GROUP more KEY (user_id INT64)",
    "set acl": "SET ACL ON FEATURE \"user-signals\".secret READERS ('bob@acme.com')",
    "acl on org": "SET ACL ON ORGANIZATION acme ADMINS ('bob@acme.com')",
    "principal group": "ALTER PRINCIPAL GROUP 'pii@acme.com' ADD MEMBER 'bob@acme.com'",
    "new principal group": "CREATE PRINCIPAL GROUP 'admins@acme.com' MEMBERS ('bob@acme.com')",
    "grant": "GRANT READ ON FEATURE GROUP \"user-signals\" (*) TO ORGANIZATION evil",
    "audit config": "SET AUDIT CONFIG ON ORGANIZATION acme RETENTION DAYS 1",
}


@pytest.mark.parametrize("sql", DDL.values(), ids=DDL.keys())
def test_ddl_and_acl_changes_need_admin(store, sql):
    before = snapshot(store)
    assert_denied(store, BOB, lambda s: s.execute(sql))
    assert snapshot(store) == before


def test_admin_may_change_acls(tmp_path):
    engine = Engine(tmp_path / "store")
    engine.session(ALICE).execute(SETUP)
    with pytest.raises(PermissionDenied):
        session(engine, BOB).execute('SELECT secret FROM "user-signals"')
    session(engine, ALICE).execute("ALTER PRINCIPAL GROUP 'pii@acme.com' ADD MEMBER 'bob@acme.com'")
    assert session(engine, BOB).execute('SELECT secret FROM "user-signals"').num_rows == 2
    session(engine, ALICE).execute("SET ACL ON ORGANIZATION acme ADMINS ('lead@acme.com')")
    session(engine, "lead@acme.com").execute("DROP FEATURE items.x")
    changes = engine.session(None).execute("SHOW AUDIT CATEGORY 'acl' OUTCOMES ('ALLOWED')").to_pylist()
    assert {c["action"] for c in changes} == {"UPDATE_ACL"}


# -- listings ------------------------------------------------------------------------------------


def test_listings_show_only_what_may_be_seen(store):
    bob_tables = {(t.org, t.name): t.arrow_schema.names for t in session(store, BOB).tables()}
    # The partner's grant to acme makes its shared column visible to acme's members.
    assert set(bob_tables) == {("acme", "user-signals"), ("acme", "items"), ("partner-org", "items")}
    assert "secret" not in bob_tables["acme", "user-signals"] and "leak" not in bob_tables["acme", "user-signals"]
    assert "click_count" in bob_tables["acme", "user-signals"] and "x" not in bob_tables["acme", "items"]
    assert bob_tables["partner-org", "items"] == ["user_id", "item_score"]
    carol_tables = {(t.org, t.name): t.arrow_schema.names for t in session(store, CAROL).tables()}
    assert "secret" in carol_tables["acme", "user-signals"] and "x" in carol_tables["acme", "items"]
    assert session(store, MALLORY).tables() == []
    features = session(store, BOB).execute('SHOW FEATURES IN "user-signals"').column("name").to_pylist()
    assert sorted(features) == ["click_count", "ctr", "impression_count"]
    described = session(store, BOB).execute('DESCRIBE FEATURE GROUP "user-signals"').column("feature_columns")
    assert sorted(c["feature"] for c in described.to_pylist()[0]) == [
        "click_count@v1", "ctr@v1", "impression_count@v1"]
    assert session(store, MALLORY).execute("SHOW ORGANIZATIONS").num_rows == 0
    assert session(store, MALLORY).execute("SHOW FEATURES").num_rows == 0
    orgs = session(store, BOB).execute("SHOW ORGANIZATIONS").column("name").to_pylist()
    assert orgs == ["acme", "partner-org"]


def test_describe_of_hidden_things_is_denied(store):
    assert_denied(store, BOB, lambda s: s.execute('DESCRIBE FEATURE "user-signals".secret'))
    assert_denied(store, MALLORY, lambda s: s.execute('DESCRIBE FEATURE GROUP "user-signals"'))
    assert_denied(store, MALLORY, lambda s: s.execute('DESCRIBE FEATURE GROUP "no-such-group"'))
    row = session(store, CAROL).execute('DESCRIBE FEATURE "user-signals".secret').to_pylist()[0]
    assert row["description"] == "personal data"


def test_information_schema_needs_every_column_readable(store):
    sql = "SELECT column_name FROM information_schema.columns WHERE table_name = 'user-signals'"
    assert_denied(store, BOB, lambda s: s.execute(sql))
    assert "secret" in session(store, CAROL).execute(sql).column("column_name").to_pylist()


# -- cross-organization access -------------------------------------------------------------------


def _cross_org_store(tmp_path) -> Engine:
    engine = Engine(tmp_path / "store")
    engine.session(ALICE).execute(SETUP)
    engine.session(DAVE).execute(PARTNER)
    session(engine, ALICE).execute(
        "CREATE FEATURE items.cross FLOAT64 DERIVED AS score * @partner-org/shared/embeddings/items.item_score")
    return engine


def test_granted_features_are_readable_by_the_grantee(tmp_path):
    engine = _cross_org_store(tmp_path)
    alice = session(engine, ALICE)
    assert alice.execute("SELECT cross FROM items ORDER BY user_id").column("cross").to_pylist() == [5.0, 30.0]
    direct = alice.execute('SELECT item_score FROM "partner-org"."shared/embeddings".items ORDER BY user_id')
    assert direct.column("item_score").to_pylist() == [10.0, 20.0]
    assert_denied(engine, ALICE, lambda s: s.execute('SELECT item_secret FROM "partner-org"."shared/embeddings".items'))
    external = engine.session(DAVE).execute(
        "SHOW AUDIT RESOURCE 'partner-org/*' EXCLUDE ACTOR ORGS ('partner-org')").to_pylist()
    assert {e["actor"] for e in external} == {ALICE}


def test_revoked_grant_takes_effect_on_the_next_query(tmp_path):
    engine = _cross_org_store(tmp_path)
    engine.session(DAVE, "partner-org/shared/embeddings").execute("REVOKE ON FEATURE GROUP items FROM ORGANIZATION acme")
    assert_denied(engine, ALICE, lambda s: s.execute("SELECT cross FROM items"))
    assert_denied(engine, ALICE, lambda s: s.execute('SELECT item_score FROM "partner-org"."shared/embeddings".items'))
    assert session(engine, ALICE).execute("SELECT score FROM items").num_rows == 2
    breaks = engine.session(None).execute("SHOW AUDIT ACTIONS ('LINEAGE_BREAK')").column("resource").to_pylist()
    assert breaks == ["acme/ml/rec/items/cross"]


def test_expired_grant_is_dead(tmp_path):
    engine = _cross_org_store(tmp_path)
    partner = engine.session(DAVE, "partner-org/shared/embeddings")
    soon = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).isoformat()
    partner.execute(f"GRANT READ ON FEATURE GROUP items (item_score) TO ORGANIZATION acme EXPIRES '{soon}'")
    assert session(engine, ALICE).execute("SELECT cross FROM items").num_rows == 2
    # Let the day pass: move the grant's expiry into the past, as time would.
    key = "partner-org/shared/embeddings/items|acme|read"
    record = {k: v for k, v in engine.catalog.get("grant", key).items() if k not in ("key", "created_at", "updated_at")}
    record["expires"] = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)).isoformat()
    engine.catalog.put("grant", key, record, parent="partner-org/shared/embeddings/items")
    assert_denied(engine, ALICE, lambda s: s.execute("SELECT cross FROM items"))
    statuses = partner.execute("SHOW GRANTS").column("status").to_pylist()
    assert statuses == ["expired"]


FORGED = {
    "ungranted feature": "@partner-org/shared/embeddings/items.item_secret",
    "other group": "@partner-org/shared/embeddings/nothing.item_score",
    "unknown org": "@nobody/shared/embeddings/items.item_score",
    "own org as external": "@acme/ml/rec/\"user-signals\".secret",
}


@pytest.mark.parametrize("reference", FORGED.values(), ids=FORGED.keys())
def test_forged_org_paths_are_denied(tmp_path, reference):
    engine = _cross_org_store(tmp_path)
    before = snapshot(engine)
    error = assert_denied(engine, ALICE, lambda s: s.execute(f"CREATE FEATURE items.forged FLOAT64 DERIVED AS {reference}"))
    assert error.code == "RAISE-P003"
    assert snapshot(engine) == before


def test_grants_are_administered_by_the_owner_only(tmp_path):
    engine = _cross_org_store(tmp_path)
    assert_denied(engine, ALICE, lambda s: s.execute(
        "GRANT READ ON FEATURE GROUP \"partner-org\"/shared/embeddings/items (*) TO ORGANIZATION acme"))
    listed = session(engine, ALICE).execute("SHOW GRANTS").to_pylist()
    assert [(g["organization"], g["features"], g["status"]) for g in listed] == [("acme", ["item_score"], "active")]
    assert session(engine, MALLORY).execute("SHOW GRANTS").num_rows == 0


# -- SQL injection through names, descriptions and tags -----------------------------------------


INJECTIONS = {
    "statement after a query": 'SELECT user_id FROM "user-signals"; DROP FEATURE GROUP items CASCADE',
    "description": "ALTER FEATURE \"user-signals\".click_count SET DESCRIPTION 'x''; DROP FEATURE GROUP items; --'",
    "tags": "ALTER FEATURE \"user-signals\".click_count SET TAGS ('a'', ''b'); SET ACL ON PROJECT acme/ml/rec ADMINS ('bob@acme.com')",
    "comment": 'SELECT user_id FROM "user-signals" -- ; SELECT secret FROM "user-signals"\n WHERE secret > 0',
}
#: Injections through a quoted name: the name rule refuses them before authorization.
NAME_INJECTIONS = {
    "quoted name": 'DROP FEATURE "user-signals"."click_count"" CASCADE; DROP FEATURE GROUP items; --"',
    "acl target name": "SET ACL ON FEATURE GROUP \"items\"\" READERS ('bob@acme.com'); --\" READERS ('x')",
    "grant target": "GRANT READ ON FEATURE GROUP \"items\"\" (*) TO ORGANIZATION evil; --\" (*) TO ORGANIZATION evil",
}


@pytest.mark.parametrize("sql", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_injection_attempts_are_denied_and_change_nothing(store, sql):
    before = snapshot(store)
    assert_denied(store, BOB, lambda s: s.execute(sql))
    assert snapshot(store) == before


@pytest.mark.parametrize("sql", NAME_INJECTIONS.values(), ids=NAME_INJECTIONS.keys())
def test_injection_through_names_is_refused_by_the_name_rule(store, sql):
    before = snapshot(store)
    with pytest.raises(ValidationError) as refused:
        session(store, BOB).execute(sql)
    assert refused.value.code == "RAISE-V002" and '"' in refused.value.name
    assert snapshot(store) == before


def test_hostile_text_is_stored_as_text(tmp_path):
    engine = Engine(tmp_path / "store")
    alice = session(engine, ALICE)
    alice.execute(SETUP)
    text = "x'); DROP FEATURE GROUP items; --"
    alice.execute("CREATE FEATURE items.note STRING DESCRIPTION 'x''); DROP FEATURE GROUP items; --' "
                  "TAGS ('a''; DROP', '\"b\"')")
    row = alice.execute("DESCRIBE FEATURE items.note").to_pylist()[0]
    assert row["description"] == text and row["tags"] == ["a'; DROP", '"b"']
    assert alice.execute("SELECT COUNT(*) AS n FROM items").column("n").to_pylist() == [2]
    with pytest.raises(ValidationError):
        alice.execute('CREATE FEATURE items."n""; DROP FEATURE GROUP items; --" INT64')
    assert {g["name"] for g in engine.catalog.list("group")} == {"user-signals", "items"}


# -- the embedded superuser -----------------------------------------------------------------------


def test_no_principal_is_root_acting_for_the_organization_it_opened(store):
    root = store.session(None, "acme/ml/rec")
    assert root.execute('SELECT secret FROM "user-signals" ORDER BY user_id').column("secret").to_pylist() == [42, 7]
    entries = root.execute("SHOW AUDIT ACTORS ('root') ACTIONS ('READ')").to_pylist()
    assert entries and entries[-1]["actor_org"] == "acme"
    root.execute("USE partner/ml/rec")  # the organization it opened stays the one it acts for
    root.execute('SELECT secret FROM acme."ml/rec"."user-signals"')
    assert root.execute("SHOW AUDIT ACTORS ('root') ACTIONS ('READ')").to_pylist()[-1]["actor_org"] == "acme"
    unopened = store.session(None)
    unopened.execute('SELECT secret FROM acme."ml/rec"."user-signals"')
    assert unopened.execute("SHOW AUDIT ACTORS ('root') ACTIONS ('READ')").to_pylist()[-1]["actor_org"] is None


def test_describe_hides_lineage_to_unreadable_features(tmp_path):
    from raise_.engine import Engine, families

    engine = Engine(tmp_path / "lineage")
    admin = engine.session(principal="alice@acme.com", project="acme/ml/rec")
    admin.execute("""
        CREATE FEATURE GROUP g KEY (k INT64);
        CREATE FEATURE g.public_x INT64;
        CREATE FEATURE g.secret INT64;
        CREATE FEATURE g.mix FLOAT64 DERIVED AS public_x + secret;
        SET ACL ON FEATURE GROUP acme/ml/rec/g READERS ('bob@acme.com');
        SET ACL ON FEATURE acme/ml/rec/g.secret READERS ('alice@acme.com') NO INHERIT;
    """)
    seen = admin.execute("DESCRIBE FEATURE g.public_x").column("downstream").to_pylist()[0]
    assert [k.rsplit("/", 1)[-1] for k in seen] == ["mix@v1"]
    bob = engine.session(principal="bob@acme.com", project="acme/ml/rec")
    assert bob.execute("DESCRIBE FEATURE g.public_x").column("downstream").to_pylist() == [[]]


def test_show_feature_groups_counts_only_readable_features(tmp_path):
    from raise_.engine import Engine, families

    engine = Engine(tmp_path / "counts")
    admin = engine.session(principal="alice@acme.com", project="acme/ml/rec")
    admin.execute("""
        CREATE FEATURE GROUP g KEY (k INT64);
        CREATE FEATURE g.public_x INT64;
        CREATE FEATURE g.secret INT64;
        SET ACL ON FEATURE GROUP acme/ml/rec/g READERS ('bob@acme.com');
        SET ACL ON FEATURE acme/ml/rec/g.secret READERS ('alice@acme.com') NO INHERIT;
    """)
    assert admin.execute("SHOW FEATURE GROUPS").column("features").to_pylist() == [2]
    bob = engine.session(principal="bob@acme.com", project="acme/ml/rec")
    assert bob.execute("SHOW FEATURE GROUPS").column("features").to_pylist() == [1]
