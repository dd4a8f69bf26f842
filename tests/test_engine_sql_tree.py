"""INSERT targets and time travel found on sqlglot trees, and what the engine does with them."""
from __future__ import annotations

import pytest

from grammar.errors import RaiseSyntaxError
from raise_.engine import Engine
from raise_.engine.sql_tree import InsertTarget, insert_target, time_travel


@pytest.mark.parametrize("sql, expected", [
    ('INSERT INTO "user-signals" (user_id, "clicks@v1") VALUES (1, 2)',
     InsertTarget("user-signals", ["user_id", "clicks@v1"], "VALUES (1, 2)")),
    ('insert into acme."ml/rec"."g" select 1 as user_id',
     InsertTarget("acme/ml/rec/g", None, "select 1 as user_id")),
    # a parenthesized source is no column list
    ("INSERT INTO g (SELECT 1 AS user_id)", InsertTarget("g", None, "(SELECT 1 AS user_id)")),
    # a quoted column name may hold commas and parentheses
    ('INSERT INTO g ("a,b", "c)") VALUES (1, 2)', InsertTarget("g", ["a,b", "c)"], "VALUES (1, 2)")),
    ("/* load */ INSERT INTO g VALUES ('x;y', 'VERSION AS OF 3') -- done",
     InsertTarget("g", None, "VALUES ('x;y', 'VERSION AS OF 3') -- done")),
])
def test_insert_targets(sql, expected):
    assert insert_target(sql) == expected


@pytest.mark.parametrize("sql", ["SELECT 1", "WITH x AS (SELECT 1) SELECT * FROM x", "-- INSERT INTO g\nSELECT 1"])
def test_other_statements_are_no_inserts(sql):
    assert insert_target(sql) is None


def test_a_malformed_insert_is_a_syntax_error_with_a_position():
    with pytest.raises(RaiseSyntaxError) as error:
        insert_target("INSERT INTO g (a, VALUES (1)")
    assert error.value.line == 1 and error.value.column > 1


def test_time_travel_reads_are_found_outside_literals_and_comments():
    sql = ("SELECT 'g VERSION AS OF 9' AS s /* h VERSION AS OF 8 */ FROM \"user-signals\" VERSION AS OF 3 u "
           "JOIN acme.\"ml/rec\".items TIMESTAMP AS OF '2026-01-01 00:00:00' i ON u.user_id = i.user_id")
    reads = time_travel(sql)
    assert [(r.group, r.kind, r.value) for r in reads] == [
        ("user-signals", "VERSION", 3), ("acme/ml/rec/items", "TIMESTAMP", "2026-01-01 00:00:00")]
    assert sql[reads[0].start:reads[0].end] == '"user-signals" VERSION AS OF 3'
    assert sql[reads[1].start:reads[1].end] == "acme.\"ml/rec\".items TIMESTAMP AS OF '2026-01-01 00:00:00'"


def test_version_as_of_needs_a_number():
    with pytest.raises(RaiseSyntaxError, match="version number"):
        time_travel("SELECT * FROM g VERSION AS OF 'x'")


def test_qualified_time_travel_and_parenthesized_insert_run(tmp_path):
    session = Engine(tmp_path / "store").session(None, "acme/ml/rec")
    session.execute('CREATE FEATURE GROUP "user-signals" KEY (user_id INT64); '
                    'CREATE FEATURE "user-signals".clicks INT64')
    session.execute('INSERT INTO "user-signals" (SELECT 1 AS user_id, 10 AS clicks)')
    session.execute('INSERT INTO "user-signals" (user_id, clicks) VALUES (2, 20)')
    old = session.execute('SELECT COUNT(*) AS n FROM acme."ml/rec"."user-signals" VERSION AS OF 1')
    assert old.column("n").to_pylist() == [1]
    text = session.execute("SELECT 'x VERSION AS OF 1' AS s, COUNT(*) AS n FROM \"user-signals\"")
    assert text.to_pylist() == [{"s": "x VERSION AS OF 1", "n": 2}]
