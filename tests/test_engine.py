"""The embedded engine end to end: Raise SQL scripts, derived columns, writes, time travel."""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from grammar.errors import (
    AlreadyExists, ExecutionError, InvalidDType, NotFound, RaiseSyntaxError, TypeMismatch, ValidationError,
)
from issue_script import ISSUE_SCRIPT


def test_issue_script_runs_as_written(session):
    result = session.execute(ISSUE_SCRIPT)
    assert result.column_names == ["user_id", "ctr", "user_embedding@v1"]
    assert result.column("user_id").to_pylist() == [1]
    assert result.schema.field("ctr").type == pa.float64()
    assert result.column("ctr").to_pylist() == [pytest.approx(0.1)]
    assert result.schema.field("user_embedding@v1").type == pa.list_(pa.float32(), 512)
    assert result.column("user_embedding@v1").to_pylist() == [None]


def test_embedding_versions_have_their_declared_sizes(session):
    session.execute(ISSUE_SCRIPT)
    schema = session.execute('SELECT user_embedding, "user_embedding@v2", "user_embedding@v1" FROM "user-signals"').schema
    assert schema.field("user_embedding").type == pa.list_(pa.float32(), 768)
    assert schema.field("user_embedding@v2").type == pa.list_(pa.float32(), 768)
    assert schema.field("user_embedding@v1").type == pa.list_(pa.float32(), 512)


def _signals(session):
    session.execute(ISSUE_SCRIPT)
    return session


def test_ingest_append_upsert_overwrite(session):
    _signals(session)
    t0 = dt.datetime(2026, 1, 2)
    rows = pa.table({
        "user_id": [2, 3], "event_time": [t0, t0], "click_count": [5, 0], "impression_count": [50, 0],
    })
    assert session.ingest("user-signals", rows, "append") == 2
    got = session.execute('SELECT user_id, click_count, ctr FROM "user-signals" ORDER BY user_id').to_pydict()
    assert got == {"user_id": [1, 2, 3], "click_count": [1, 5, 0], "ctr": [pytest.approx(0.1), pytest.approx(0.1), None]}
    update = pa.table({"user_id": [3, 4], "click_count": [7, 8], "impression_count": [70, 16]})
    session.ingest("user-signals", update, "upsert")
    got = session.execute('SELECT user_id, click_count, ctr FROM "user-signals" ORDER BY user_id').to_pydict()
    assert got["user_id"] == [1, 2, 3, 4]
    assert got["click_count"] == [1, 5, 7, 8]
    assert got["ctr"] == [pytest.approx(0.1), pytest.approx(0.1), pytest.approx(0.1), pytest.approx(0.5)]
    session.ingest("user-signals", pa.table({"user_id": [9], "click_count": [1]}), "overwrite")
    got = session.execute('SELECT user_id, click_count FROM "user-signals"').to_pydict()
    assert got == {"user_id": [9], "click_count": [1]}


def test_time_travel_by_version(session):
    _signals(session)
    session.ingest("user-signals", pa.table({"user_id": [2], "click_count": [3]}), "append")
    now = session.execute('SELECT COUNT(*) AS n FROM "user-signals"').column("n").to_pylist()
    before = session.execute('SELECT COUNT(*) AS n FROM "user-signals" VERSION AS OF 1').column("n").to_pylist()
    empty = session.execute('SELECT COUNT(*) AS n FROM "user-signals" VERSION AS OF 0').column("n").to_pylist()
    assert (now, before, empty) == ([2], [1], [0])


def test_embeddings_round_trip_as_fixed_size_lists(session):
    _signals(session)
    emb = pa.array([[0.5] * 512], pa.list_(pa.float32(), 512))
    session.ingest("user-signals", pa.table({"user_id": [5], "user_embedding@v1": emb}), "append")
    out = session.execute('SELECT "user_embedding@v1" AS e FROM "user-signals" WHERE user_id = 5')
    assert out.schema.field("e").type == pa.list_(pa.float32(), 512)
    assert out.column("e").to_pylist() == [[0.5] * 512]


def test_wrong_embedding_size_is_refused_and_nothing_written(session):
    _signals(session)
    bad = pa.table({"user_id": [5], "user_embedding": pa.array([[1.0] * 3], pa.list_(pa.float32()))})
    with pytest.raises(TypeMismatch) as info:
        session.ingest("user-signals", bad, "append")
    assert info.value.code == "RAISE-V026" and info.value.name == "user_embedding"
    assert session.execute('SELECT COUNT(*) AS n FROM "user-signals"').column("n").to_pylist() == [1]


def test_type_mismatch_names_the_column(session):
    _signals(session)
    with pytest.raises(TypeMismatch) as info:
        session.ingest("user-signals", pa.table({"user_id": [5], "click_count": ["many"]}), "append")
    assert info.value.name == "click_count"


def test_unknown_column_and_group(session):
    _signals(session)
    with pytest.raises(ValidationError) as info:
        session.ingest("user-signals", pa.table({"user_id": [5], "clicks": [1]}), "append")
    assert info.value.code == "RAISE-V053" and info.value.name == "clicks"
    with pytest.raises(NotFound) as info:
        session.execute('SELECT * FROM "user-signal"')
    assert info.value.code == "RAISE-N003"
    with pytest.raises(NotFound) as info:
        session.execute('CREATE FEATURE "user-signal".x INT64')
    assert "user-signals" in info.value.message  # the close match is suggested


def test_duplicate_feature_and_conflict_modes(session):
    _signals(session)
    with pytest.raises(AlreadyExists) as info:
        session.execute('CREATE FEATURE "user-signals".click_count INT64')
    assert info.value.code == "RAISE-A001"
    skipped = session.execute('CREATE FEATURE IF NOT EXISTS "user-signals".click_count INT64')
    assert skipped.column("rows_affected").to_pylist() == [0]
    session.execute("CREATE OR REPLACE FEATURE \"user-signals\".click_count INT64 DESCRIPTION 'clicks'")
    described = session.execute('DESCRIBE FEATURE "user-signals".click_count')
    assert described.column("description").to_pylist() == ["clicks"]
    with pytest.raises(ValidationError) as info:
        session.execute('CREATE OR REPLACE FEATURE "user-signals".click_count FLOAT64')
    assert info.value.code == "RAISE-V023"


def test_invalid_dtype_and_syntax_errors_have_positions(session):
    _signals(session)
    with pytest.raises(InvalidDType):
        session.execute('CREATE FEATURE "user-signals".x FLOATY[3]')
    with pytest.raises(RaiseSyntaxError) as info:
        session.execute('CREATE FEATURE "user-signals".x INT64 DESCRIPTON \'x\'')
    assert info.value.line == 1 and info.value.column > 1


def test_failed_statement_in_script_leaves_earlier_ones_and_nothing_partial(session):
    _signals(session)
    before = session.execute("SHOW FEATURES").num_rows
    with pytest.raises(NotFound):
        session.execute('CREATE FEATURE "user-signals".a INT64; CREATE FEATURE "nope".b INT64')
    names = session.execute("SHOW FEATURES").column("name").to_pylist()
    assert "a" in names and len(names) == before + 1


def test_failed_group_creation_leaves_no_table(session, engine):
    session.execute("USE acme/ml/rec")
    with pytest.raises(ValidationError):
        session.execute('CREATE FEATURE GROUP g KEY (k FLOAT64)')
    assert session.execute("SHOW ORGANIZATIONS").num_rows == 0  # auto-created parents rolled back too
    assert not any((engine.home / "tables").iterdir())


def test_show_and_describe(session):
    _signals(session)
    orgs = session.execute("SHOW ORGANIZATIONS")
    assert orgs.column("name").to_pylist() == ["acme"]
    groups = session.execute("SHOW FEATURE GROUPS")
    assert groups.column("name").to_pylist() == ["user-signals"]
    assert groups.column("keys").to_pylist() == [["user_id"]]
    tagged = session.execute("SHOW FEATURES TAGS ('embedding')")
    assert tagged.column("name").to_pylist() == ["user_embedding"]
    assert tagged.column("version").to_pylist() == ["v2"]  # v2 keeps v1's tags
    versions = session.execute('SHOW VERSIONS OF "user-signals".user_embedding')
    assert versions.column("version").to_pylist() == ["v1", "v2"]
    assert versions.column("dtype").to_pylist() == ["float32[512]", "float32[768]"]
    ctr = session.execute('DESCRIBE FEATURE "user-signals".ctr').to_pylist()[0]
    assert ctr["derived_as"] == "click_count / NULLIF(impression_count, 0)"
    assert sorted(u.rsplit("/", 1)[-1] for u in ctr["upstream"]) == ["click_count", "impression_count"]


def test_derived_aggregate_over_whole_group(session):
    session.execute("""
        USE acme/ml/scores;
        CREATE FEATURE GROUP s KEY (id INT64);
        CREATE FEATURE s.raw_score FLOAT64;
        CREATE FEATURE s.normalized FLOAT64 DERIVED AS (raw_score - AVG(raw_score)) / STDDEV(raw_score);
    """)
    session.ingest("s", pa.table({"id": [1, 2, 3], "raw_score": [1.0, 2.0, 3.0]}))
    got = session.execute("SELECT id, normalized FROM s ORDER BY id").column("normalized").to_pylist()
    assert got == [pytest.approx(-1.0), pytest.approx(0.0), pytest.approx(1.0)]


def test_derived_case_and_cross_group_join(session):
    session.execute("""
        USE acme/ml/shop;
        CREATE FEATURE GROUP users KEY (user_id INT64);
        CREATE FEATURE users.revenue FLOAT64;
        CREATE FEATURE users.tier STRING DERIVED AS
            CASE WHEN revenue > 10000 THEN 'platinum' WHEN revenue > 1000 THEN 'gold'
                 WHEN revenue > 100 THEN 'silver' ELSE 'bronze' END;
        CREATE FEATURE GROUP "user-stats" KEY (user_id INT64);
        CREATE FEATURE "user-stats".visits INT64;
        CREATE FEATURE users.revenue_per_visit FLOAT64 DERIVED AS revenue / NULLIF(user-stats.visits, 0);
    """)
    session.ingest("users", pa.table({"user_id": [1, 2, 3], "revenue": [20000.0, 500.0, 50.0]}))
    session.ingest("user-stats", pa.table({"user_id": [1, 2], "visits": [4, 0]}))
    got = session.execute("SELECT user_id, tier, revenue_per_visit FROM users ORDER BY user_id").to_pydict()
    assert got["tier"] == ["platinum", "silver", "bronze"]
    assert got["revenue_per_visit"] == [5000.0, None, None]


def test_derived_on_missing_reference_warns_then_resolves(session):
    session.execute("USE acme/ml/rec; CREATE FEATURE GROUP g KEY (k INT64); CREATE FEATURE g.a INT64")
    created = session.execute("CREATE FEATURE g.r FLOAT64 DERIVED AS a / NULLIF(b, 0)")
    assert any(w.startswith("RAISE-V040") for w in created.column("warnings").to_pylist()[0])
    with pytest.raises(NotFound) as info:
        session.execute("SELECT r FROM g")
    assert "cannot be computed" in info.value.message and info.value.name == "r"
    session.execute("CREATE FEATURE g.b INT64")
    session.ingest("g", pa.table({"k": [1], "a": [1], "b": [4]}))
    assert session.execute("SELECT r FROM g").column("r").to_pylist() == [0.25]


def test_strict_validation_refuses_missing_reference(session):
    session.execute("USE acme/ml/rec; CREATE FEATURE GROUP g KEY (k INT64)")
    with pytest.raises(ValidationError) as info:
        session.execute("CREATE FEATURE g.r FLOAT64 DERIVED AS a + 1 VALIDATION STRICT")
    assert info.value.code == "RAISE-V040"
    assert session.execute("SHOW FEATURES").num_rows == 0


def test_circular_dependency_is_refused(session):
    session.execute("""
        USE acme/ml/rec; CREATE FEATURE GROUP g KEY (k INT64);
        CREATE FEATURE g.a FLOAT64 DERIVED AS b + 1;
    """)
    with pytest.raises(ValidationError) as info:
        session.execute("CREATE FEATURE g.b FLOAT64 DERIVED AS a * 2")
    assert info.value.code == "RAISE-V041"


def test_alter_deprecate_drop(session):
    _signals(session)
    session.execute("ALTER FEATURE \"user-signals\".click_count SET DESCRIPTION 'n clicks' TAGS ('core')")
    row = session.execute('DESCRIBE FEATURE "user-signals".click_count').to_pylist()[0]
    assert (row["description"], row["tags"]) == ("n clicks", ["core"])
    session.execute("DEPRECATE FEATURE \"user-signals\".impression_count MESSAGE 'use views'")
    row = session.execute('DESCRIBE FEATURE "user-signals".impression_count').to_pylist()[0]
    assert (row["status"], row["message"]) == ("deprecated", "use views")
    with pytest.raises(ValidationError) as info:
        session.execute('DROP FEATURE "user-signals".click_count RESTRICT')
    assert info.value.code == "RAISE-V060" and "ctr" in info.value.message
    session.execute('DROP FEATURE "user-signals".ctr')
    session.execute('DROP FEATURE "user-signals".click_count')
    names = session.execute("SHOW FEATURES").column("name").to_pylist()
    assert "click_count" not in names and "ctr" not in names


def test_dropped_feature_recreated_does_not_resurrect_values(session):
    _signals(session)
    session.execute('DROP FEATURE "user-signals".ctr; DROP FEATURE "user-signals".click_count')
    session.execute('CREATE FEATURE "user-signals".click_count INT64')
    assert session.execute('SELECT click_count FROM "user-signals"').column(0).to_pylist() == [None]


def test_ddl_through_datafusion_is_refused_with_guidance(session):
    session.execute("USE acme/ml/rec")
    with pytest.raises(Exception) as info:
        session.execute("CREATE TABLE t (a INT)")
    assert getattr(info.value, "code", "").startswith("RAISE-")


def test_query_parameters(session):
    _signals(session)
    got = session.execute('SELECT user_id FROM "user-signals" WHERE click_count = $1', params=[1])
    assert got.column("user_id").to_pylist() == [1]


def test_storage_failure_mid_statement_rolls_back_the_catalog(session, engine):
    """CREATE FEATURE GROUP writes the catalog, then fails creating its Delta table."""
    tables = engine.home / "tables"
    tables.rmdir()
    tables.write_text("not a folder")  # the table can no longer be created under it
    with pytest.raises(ExecutionError):
        session.execute("USE acme/ml/rec; CREATE FEATURE GROUP g KEY (k INT64)")
    assert session.execute("SHOW ORGANIZATIONS").num_rows == 0
    assert engine.catalog.list("group") == []


def test_validate_reports_without_creating(session):
    _signals(session)
    from grammar import ast

    stmt = ast.ValidateFeature(statement=ast.CreateFeature(
        feature=ast.FeatureRef(group=ast.GroupRef(name="user-signals"), name="r"),
        dtype="float64", derived_as="click_count / missing_one",
    ))
    row = session.run(stmt).to_pylist()[0]
    assert row["valid"] is True
    assert [r["name"] for r in row["references"]] == ["click_count", "missing_one"]
    assert [w["code"] for w in row["warnings"]] == ["RAISE-V040"]
    assert "r" not in session.execute("SHOW FEATURES").column("name").to_pylist()


def test_groups_by_qualified_name_from_any_project(session, engine):
    _signals(session)
    other = engine.session(project="acme/ads/ctr")
    got = other.execute('SELECT user_id, ctr FROM acme."mlplatform/recommendation"."user-signals"')
    assert got.to_pydict() == {"user_id": [1], "ctr": [pytest.approx(0.1)]}
    with pytest.raises(NotFound):
        other.execute('SELECT * FROM "user-signals"')  # not in acme/ads/ctr


def test_session_tables_lists_views_for_sql_clients(session):
    _signals(session)
    (info,) = session.tables()
    assert (info.org, info.schema, info.name, info.keys) == ("acme", "mlplatform/recommendation", "user-signals", ["user_id"])
    assert info.arrow_schema.field("ctr").type == pa.float64()


def test_concurrent_writers_and_readers(engine):
    from concurrent.futures import ThreadPoolExecutor

    engine.execute("CREATE FEATURE GROUP g KEY (k INT64); CREATE FEATURE g.v INT64", project="acme/ml/rec")

    def work(i: int) -> int:
        session = engine.session(project="acme/ml/rec")
        session.ingest("g", pa.table({"k": [i * 10 + j for j in range(10)], "v": [i] * 10}))
        return session.execute("SELECT COUNT(*) AS n FROM g").column("n")[0].as_py()

    with ThreadPoolExecutor(8) as pool:
        seen = list(pool.map(work, range(8)))
    assert all(10 <= n <= 80 for n in seen)
    total = engine.execute("SELECT COUNT(DISTINCT k) AS n, SUM(v) AS s FROM g", project="acme/ml/rec").to_pylist()
    assert total == [{"n": 80, "s": 10 * sum(range(8))}]


def test_derived_window_over_key_and_time_columns(session):
    session.execute("""
        USE acme/ml/rec;
        CREATE FEATURE GROUP ev KEY (user_id INT64, n INT64) TIMESTAMP ts;
        CREATE FEATURE ev.amount FLOAT64;
        CREATE FEATURE ev.running FLOAT64 DERIVED AS SUM(amount) OVER (PARTITION BY user_id ORDER BY ts);
    """)
    t = [dt.datetime(2026, 1, d) for d in (1, 2, 3)]
    session.ingest("ev", pa.table({"user_id": [1, 1, 2], "n": [1, 2, 3], "ts": t, "amount": [1.0, 2.0, 5.0]}))
    got = session.execute("SELECT user_id, running FROM ev ORDER BY ts").to_pydict()
    assert got == {"user_id": [1, 1, 2], "running": [1.0, 3.0, 5.0]}
    upstream = session.execute("DESCRIBE FEATURE ev.running").column("upstream").to_pylist()[0]
    assert [u.rsplit("/", 1)[-1] for u in upstream] == ["amount"]


def test_script_transaction_is_all_or_nothing(session):
    session.execute("USE acme/ml/rec; CREATE FEATURE GROUP g KEY (k INT64)")
    with pytest.raises(AlreadyExists):
        session.execute("BEGIN; CREATE FEATURE g.a INT64; CREATE FEATURE g.b INT64; CREATE FEATURE g.a INT64; COMMIT")
    assert session.execute("SHOW FEATURES").num_rows == 0
    session.execute("BEGIN; CREATE FEATURE g.a INT64; CREATE FEATURE g.b INT64; COMMIT")
    assert session.execute("SHOW FEATURES").column("name").to_pylist() == ["a", "b"]
    checked = session.execute("BEGIN; CREATE FEATURE g.c INT64; SHOW FEATURES; ROLLBACK")
    assert checked.column("name").to_pylist() == ["a", "b", "c"]  # seen inside, kept nowhere
    assert session.execute("SHOW FEATURES").num_rows == 2


def test_group_without_columns_gets_its_table_on_first_write(session):
    session.execute("USE acme/ml/rec; CREATE FEATURE GROUP bare; CREATE FEATURE bare.x INT64")
    assert session.execute("SELECT x FROM bare").num_rows == 0
    session.ingest("bare", pa.table({"x": [1, 2]}))
    assert session.execute("SELECT SUM(x) AS s FROM bare").column("s").to_pylist() == [3]


def test_vector_functions_against_a_constant(session):
    _signals(session)
    emb = pa.array([[1.0] + [0.0] * 511], pa.list_(pa.float32(), 512))
    session.ingest("user-signals", pa.table({"user_id": [7], "user_embedding@v1": emb}))
    query = "[" + ", ".join(["1.0"] + ["0.0"] * 511) + "]"
    got = session.execute(
        f'SELECT COSINE_SIMILARITY("user_embedding@v1", {query}) AS c FROM "user-signals" WHERE user_id = 7')
    assert got.column("c").to_pylist() == [pytest.approx(1.0)]
    with pytest.raises(TypeMismatch) as info:
        session.execute('SELECT DOT("user_embedding@v1", [1.0, 2.0]) FROM "user-signals" WHERE user_id = 7')
    assert "512" in info.value.message and "2" in info.value.message


def test_decoded_table_cache_follows_commits(tmp_path):
    from raise_.engine import Engine

    engine = Engine(tmp_path / "cached", cache_bytes=1 << 20)
    session = engine.session(project="acme/ml/rec")
    session.execute("CREATE FEATURE GROUP g KEY (k INT64); CREATE FEATURE g.e FLOAT32[2]")
    session.ingest("g", pa.table({"k": [1], "e": pa.array([[1.0, 0.0]], pa.list_(pa.float32(), 2))}))
    assert session.execute("SELECT COUNT(*) AS n FROM g").column("n").to_pylist() == [1]
    first = engine.cache.used
    assert first > 0  # the decoded table is kept, embeddings as FixedSizeList
    (partitions,) = [e[0] for e in engine.cache._entries.values()]
    assert partitions[0][0].schema.field("e@v1").type == pa.list_(pa.float32(), 2)
    session.ingest("g", pa.table({"k": [2], "e": pa.array([[0.0, 1.0]], pa.list_(pa.float32(), 2))}))
    got = session.execute("SELECT k, DOT(e, [0.0, 1.0]) AS d FROM g ORDER BY k").to_pydict()
    assert got == {"k": [1, 2], "d": [0.0, 1.0]}  # the new version, not the cached old one
    assert len(engine.cache._entries) == 1
    uncached = Engine(tmp_path / "cached", cache_bytes=0).session(project="acme/ml/rec")
    assert uncached.execute("SELECT COUNT(*) AS n FROM g").column("n").to_pylist() == [2]


def test_recreating_an_archived_feature_makes_a_new_version(session):
    session.execute("USE acme/ml/rec; CREATE FEATURE GROUP g KEY (id INT64); CREATE FEATURE g.f INT64")
    session.execute("ALTER FEATURE g.f SET STATUS 'archived'")
    assert session.execute("DESCRIBE FEATURE g.f@v1").column("is_latest").to_pylist() == [False]
    created = session.execute("CREATE FEATURE g.f INT64")
    assert created.column("object").to_pylist() == ["acme/ml/rec/g/f@v2"]
    assert session.execute('SELECT "f@v2" FROM g').column_names == ["f@v2"]


@pytest.mark.parametrize("definition", [
    "INT64 DEFAULT 2.5", "INT8 DEFAULT 1000", "FLOAT32[2] DEFAULT 1", "TIMESTAMP DEFAULT 'not a date'",
    "INT64 DEFAULT TRUE", "STRING DEFAULT 5", "INT64 DEFAULT 99999999999999999999999",
])
def test_defaults_must_fit_the_type(session, definition):
    session.execute("USE acme/ml/rec; CREATE FEATURE GROUP g KEY (id INT64)")
    with pytest.raises(TypeMismatch) as info:
        session.execute(f"CREATE FEATURE g.f {definition}")
    assert info.value.code == "RAISE-V022"


def test_defaults_fill_and_not_null_is_enforced_when_left_out(session):
    session.execute("""USE acme/ml/rec; CREATE FEATURE GROUP g KEY (id INT64);
        CREATE FEATURE g.d DATE DEFAULT DATE '2026-01-01'; CREATE FEATURE g.n INT64 NOT NULL""")
    with pytest.raises(TypeMismatch) as info:
        session.ingest("g", pa.table({"id": [1]}))
    assert info.value.name == "n"
    with pytest.raises(TypeMismatch):
        session.ingest("g", pa.table({"id": [1]}), "upsert")
    session.ingest("g", pa.table({"id": [1], "n": [7]}))
    assert session.execute("SELECT d, n FROM g").to_pylist() == [{"d": dt.date(2026, 1, 1), "n": 7}]


def test_group_names_with_dots_and_capitals(session):
    session.execute('USE acme/ml/rec; CREATE FEATURE GROUP "a.b" KEY (id INT64); CREATE FEATURE GROUP "Users" KEY (id INT64)')
    session.ingest("Users", pa.table({"id": [1]}))
    assert session.execute('SELECT COUNT(*) AS n FROM "Users"').column("n").to_pylist() == [1]
    assert session.execute('SELECT COUNT(*) AS n FROM "a.b"').column("n").to_pylist() == [0]
    with pytest.raises(ValidationError):
        session.execute('CREATE FEATURE GROUP "__raise_g1"')


def test_as_of_text_in_strings_and_comments_is_left_alone(session):
    _signals(session)
    got = session.execute("""SELECT 'see "user-signals" VERSION AS OF 0' AS s FROM "user-signals" -- VERSION AS OF 9""")
    assert got.column("s").to_pylist() == ['see "user-signals" VERSION AS OF 0']


def test_cross_group_reference_reads_the_latest_written_row_per_key(engine):
    session = engine.session(project="acme/ml/rec")
    session.execute("""CREATE FEATURE GROUP users KEY (uid INT64); CREATE FEATURE users.x INT64;
        CREATE FEATURE GROUP stats KEY (uid INT64); CREATE FEATURE stats.v INT64;
        CREATE FEATURE users.v_now INT64 DERIVED AS stats.v""")
    session.ingest("users", pa.table({"uid": list(range(20)), "x": [0] * 20}))
    for i in range(4):  # no event-time column: write order decides
        session.ingest("stats", pa.table({"uid": list(range(20)), "v": [i] * 20}))
    assert set(session.execute("SELECT v_now FROM users").column(0).to_pylist()) == {3}


def test_select_star_shows_each_feature_once_and_pinned_versions_by_name(session):
    session.execute("USE acme/ml/rec; CREATE FEATURE GROUP g KEY (id INT64) TIMESTAMP ts; "
                    "CREATE FEATURE g.clicks INT64; CREATE FEATURE g.emb FLOAT32[2]; "
                    "CREATE FEATURE g.emb FLOAT32[3] VERSION v2; "
                    "CREATE FEATURE g.half FLOAT64 DERIVED AS clicks / 2")
    session.ingest("g", pa.table({"id": [1], "ts": [dt.datetime(2026, 1, 1)], "clicks": [4],
                                  "emb": [[1.0, 2.0, 3.0]], "emb@v1": [[5.0, 6.0]]}))
    star = session.execute("SELECT * FROM g")
    assert star.column_names == ["id", "ts", "clicks", "emb", "half"]
    assert star.schema.field("emb").type == pa.list_(pa.float32(), 3)
    pinned = session.execute('SELECT "emb@v1", "clicks@v1", "half@v1", emb FROM g')
    assert pinned.to_pylist() == [{"emb@v1": [5.0, 6.0], "clicks@v1": 4, "half@v1": 2.0, "emb": [1.0, 2.0, 3.0]}]
    assert session.execute('SELECT * FROM g WHERE "emb@v1" IS NOT NULL').column_names == [
        "id", "ts", "clicks", "emb@v1", "emb", "half"]  # a named pinned column joins the view
    with pytest.raises(NotFound) as missing:
        session.execute('SELECT "emb@v7" FROM g')
    assert missing.value.code == "RAISE-N002"


def test_pinned_versions_by_name_in_time_travel_and_dropped_groups_break_readers(session):
    session.execute("USE acme/ml/rec; CREATE FEATURE GROUP g KEY (id INT64); CREATE FEATURE g.x INT64; "
                    "CREATE FEATURE g.x INT64 VERSION v2; CREATE FEATURE GROUP h KEY (id INT64); "
                    "CREATE FEATURE h.y INT64 DERIVED AS g.x * 2")
    session.ingest("g", pa.table({"id": [1], "x@v1": [3], "x": [4]}))
    then = session.execute('SELECT * FROM g VERSION AS OF 1')
    assert then.column_names == ["id", "x"]
    assert session.execute('SELECT "x@v1", x FROM g VERSION AS OF 1').to_pylist() == [{"x@v1": 3, "x": 4}]
    with pytest.raises(ValidationError):
        session.execute("DROP FEATURE GROUP g RESTRICT")
    session.execute("DROP FEATURE GROUP g CASCADE")
    row = session.execute("DESCRIBE FEATURE h.y").to_pylist()[0]
    assert row["status"] == "broken" and "'acme/ml/rec/g/x'" in row["message"]
    breaks = session.execute("SHOW AUDIT ACTIONS ('LINEAGE_BREAK')").column("resource").to_pylist()
    assert breaks == ["acme/ml/rec/h/y"]
