"""Raise SQL statements: every form parses to the documented ast, errors carry positions."""
from __future__ import annotations

import pytest

from grammar import ast, parse, render
from grammar.errors import InvalidDType, RaiseSyntaxError, ValidationError
from issue_script import ISSUE_SCRIPT


SIGNALS = ast.GroupRef(name="user-signals")


def feature(name: str, version: str | None = None) -> ast.FeatureRef:
    return ast.FeatureRef(group=SIGNALS, name=name, version=version)


def one(text: str) -> ast.Statement:
    statements = parse(text)
    assert len(statements) == 1
    return statements[0]


def test_issue_script_parses_as_documented():
    statements = parse(ISSUE_SCRIPT)
    assert statements == [
        ast.Use(path=("acme", "mlplatform", "recommendation")),
        ast.CreateFeatureGroup(
            group=SIGNALS, keys=(ast.ColumnDef(name="user_id", dtype="int64"),),
            timestamp="event_time", description="per-user engagement", tags=("ml",),
        ),
        ast.CreateFeature(feature=feature("click_count"), dtype="int64"),
        ast.CreateFeature(feature=feature("impression_count"), dtype="int64"),
        ast.CreateFeature(
            feature=feature("user_embedding"), dtype="float32[512]",
            description="profile embedding", tags=("embedding", "prod"),
            owner="ml-team@acme.com",
        ),
        ast.CreateFeature(feature=feature("ctr"), dtype="float64",
                          derived_as="click_count / NULLIF(impression_count, 0)"),
        ast.CreateFeature(feature=feature("user_embedding"), dtype="float32[768]",
                          version="v2"),
        ast.Passthrough(sql='INSERT INTO "user-signals" (user_id, event_time, click_count, '
                            "impression_count)\n  VALUES (1, TIMESTAMP '2026-01-01 00:00:00', "
                            "1, 10)"),
        ast.Passthrough(sql='SELECT user_id, ctr, "user_embedding@v1" FROM "user-signals"'),
    ]
    assert [parse(render(s)) for s in statements] == [[s] for s in statements]


@pytest.mark.parametrize("text, expected", [
    ("CREATE ORGANIZATION acme", ast.CreateNamespace(kind="organization", path=("acme",))),
    ("create domain if not exists acme/ml description 'ML' tags ('a', 'b') owner 'me'",
     ast.CreateNamespace(kind="domain", path=("acme", "ml"), if_not_exists=True,
                         description="ML", tags=("a", "b"), owner="me")),
    ("CREATE PROJECT fraud-detection TAGS ()",
     ast.CreateNamespace(kind="project", path=("fraud-detection",), tags=())),
    ("USE acme/mlplatform/fraud-detection", ast.Use(path=("acme", "mlplatform", "fraud-detection"))),
    ('USE "a""b"/"c d"', ast.Use(path=('a"b', "c d"))),
    ("CREATE FEATURE GROUP user-signals", ast.CreateFeatureGroup(group=SIGNALS)),
    ("CREATE FEATURE GROUP IF NOT EXISTS acme/ml/rec/items OWNER 'o' KEY (item_id string, "
     "shop INT32) TIMESTAMP ts",
     ast.CreateFeatureGroup(group=ast.GroupRef(name="items", project=("acme", "ml", "rec")),
                            if_not_exists=True, owner="o", timestamp="ts",
                            keys=(ast.ColumnDef(name="item_id", dtype="string"),
                                  ast.ColumnDef(name="shop", dtype="int32")))),
])
def test_namespace_and_group_statements(text, expected):
    assert one(text) == expected


@pytest.mark.parametrize("text, fields", [
    ("CREATE FEATURE IF NOT EXISTS g.f int64", {"conflict": "skip"}),
    ("CREATE OR REPLACE FEATURE g.f int64", {"conflict": "update"}),
    ("CREATE FEATURE g.f int64 NULLABLE DEFAULT 0", {"nullable": True, "default": "0"}),
    ("CREATE FEATURE g.f int64 NOT NULL DEFAULT -12", {"nullable": False, "default": "-12"}),
    ("CREATE FEATURE g.f int64 DEFAULT NULL", {"default": "NULL"}),
    ("CREATE FEATURE g.f int64 DEFAULT 'it''s'", {"default": "'it''s'"}),
    ("CREATE FEATURE g.f int64 default true", {"default": "TRUE"}),
    ("CREATE FEATURE g.f int64 DEFAULT date '2020-01-02'", {"default": "DATE '2020-01-02'"}),
    ("CREATE FEATURE g.f int64 VALIDATION permissive", {"validation": "permissive"}),
    ("CREATE FEATURE g.f int64 OWNER 'o' VERSION v3 DESCRIPTION 'd' TAGS ('t')",
     {"owner": "o", "version": "v3", "description": "d", "tags": ("t",)}),
    ("CREATE FEATURE g.f bool DERIVED AS x IS NOT NULL NOT NULL",
     {"derived_as": "x IS NOT NULL", "nullable": False}),
    ("CREATE FEATURE g.f float64 DERIVED AS (a + b) * 2 DESCRIPTION 'sum' VALIDATION strict",
     {"derived_as": "(a + b) * 2", "description": "sum", "validation": "strict"}),
])
def test_create_feature_options(text, fields):
    statement = one(text)
    assert statement.feature == ast.FeatureRef(group=ast.GroupRef(name="g"), name="f")
    for name, value in fields.items():
        assert getattr(statement, name) == value


@pytest.mark.parametrize("written, canonical", [
    ("FLOAT32[512]", "float32[512]"), ("int64[]", "int64[]"), ("float64[:100]", "float64[:100]"),
    ("string[128]", "string[128]"), ("BLOB_REF", "blob_ref"),
    ("blob_ref<image/png|image/jpeg>", "blob_ref<image/png|image/jpeg>"),
    ("struct<lat: float64, lon: FLOAT64>", "struct<lat: float64, lon: float64>"),
    ("struct<p: struct<x: int64>>", "struct<p: struct<x: int64>>"),
    ("Timestamp", "timestamp"), ("DATE", "date"),
])
def test_dtypes_are_stored_canonical(written, canonical):
    assert one(f"CREATE FEATURE g.f {written}").dtype == canonical


def test_feature_references_with_projects_and_versions():
    statement = one('DESCRIBE FEATURE acme/ml/rec/"user-signals".user_embedding@v1')
    assert statement == ast.Describe(kind="feature", target=ast.FeatureRef(
        group=ast.GroupRef(name="user-signals", project=("acme", "ml", "rec")),
        name="user_embedding", version="v1"))
    assert one('DESCRIBE FEATURE "g"."f"@"v2"').target.version == "v2"
    assert one("DESCRIBE FEATURE GROUP rec/items").target == ast.GroupRef(
        name="items", project=("rec",))
    assert one("DESCRIBE PROJECT acme/ml/rec") == ast.Describe(kind="project",
                                                              target=("acme", "ml", "rec"))


def test_alter_deprecate_drop():
    assert one("ALTER FEATURE g.f SET DESCRIPTION 'd' STATUS 'archived' NOT NULL") == \
        ast.AlterFeature(feature=ast.FeatureRef(group=ast.GroupRef(name="g"), name="f"),
                         description="d", status="archived", nullable=False)
    assert one("DEPRECATE FEATURE g.f@v1 MESSAGE 'use v2'").message == "use v2"
    assert one("DROP FEATURE IF EXISTS g.f CASCADE") == ast.Drop(
        kind="feature", target=ast.FeatureRef(group=ast.GroupRef(name="g"), name="f"),
        if_exists=True, cascade=True)
    assert one("DROP FEATURE GROUP rec/g").target == ast.GroupRef(name="g", project=("rec",))
    assert one("drop domain acme/ml") == ast.Drop(kind="domain", target=("acme", "ml"))
    assert one("DROP FEATURE g.f RESTRICT") == ast.Drop(
        kind="feature", target=ast.FeatureRef(group=ast.GroupRef(name="g"), name="f"), restrict=True)
    assert one("DROP FEATURE GROUP g restrict").restrict is True
    with pytest.raises(ValidationError) as both:
        ast.Drop(kind="feature group", target=ast.GroupRef(name="g"), cascade=True, restrict=True)
    assert both.value.code == "RAISE-V062"


@pytest.mark.parametrize("text, expected", [
    ("SHOW ORGANIZATIONS", ast.Show(kind="organizations")),
    ("SHOW DOMAINS IN acme", ast.Show(kind="domains", within=("acme",))),
    ("show feature groups in acme/ml/rec tags ('prod', 'ml')",
     ast.Show(kind="feature groups", within=("acme", "ml", "rec"), tags=("prod", "ml"))),
    ('SHOW FEATURES IN rec/"user-signals"',
     ast.Show(kind="features", within=ast.GroupRef(name="user-signals", project=("rec",)))),
    ("SHOW FEATURES TAGS ('embedding')", ast.Show(kind="features", tags=("embedding",))),
    ("SHOW VERSIONS OF g.f", ast.Show(kind="versions", within=ast.FeatureRef(
        group=ast.GroupRef(name="g"), name="f"))),
    ("SHOW VERSIONS IN g.f", ast.Show(kind="versions", within=ast.FeatureRef(
        group=ast.GroupRef(name="g"), name="f"))),
])
def test_show(text, expected):
    assert one(text) == expected


def test_validate_feature_wraps_a_create():
    statement = one("VALIDATE CREATE FEATURE g.ctr float64 DERIVED AS a/b")
    assert statement == ast.ValidateFeature(statement=ast.CreateFeature(
        feature=ast.FeatureRef(group=ast.GroupRef(name="g"), name="f".replace("f", "ctr")),
        dtype="float64", derived_as="a / b"))


def test_keywords_are_case_insensitive():
    assert parse("create feature group g key (k Int64) timestamp ts") == parse(
        "CREATE FEATURE GROUP g KEY (k INT64) TIMESTAMP ts")
    assert one("cReAtE oR rEpLaCe FeAtUrE g.f InT64 NuLlAbLe").conflict == "update"


def test_names_keep_case_and_may_be_keywords_when_quoted():
    assert one('CREATE FEATURE "group".MyFeature int64').feature == ast.FeatureRef(
        group=ast.GroupRef(name="group"), name="MyFeature")
    assert one("CREATE FEATURE g.version int64").feature.name == "version"


@pytest.mark.parametrize("sql", [
    "SELECT 1",
    "SELECT ';' AS semi, \"a;b\" FROM t -- trailing; comment",
    "INSERT INTO t VALUES ('x;y')",
    "CREATE TABLE t (a INT)",
    "CREATE OR REPLACE VIEW v AS SELECT 1",
    "SHOW TABLES",
    "DESCRIBE t",
    "EXPLAIN SELECT * FROM \"user-signals\"",
    "DROP TABLE t",
    "/* lead; comment */ SELECT 2",
])
def test_non_raise_sql_passes_through_unchanged(sql):
    assert parse(sql + "\n;") == [ast.Passthrough(sql=sql)]


def test_script_splitting_respects_literals_and_comments():
    script = ("SELECT 'a;b'; -- only a comment; here\n"
              "/* block ; */ USE acme;\n\n;  SELECT \"x;\" FROM t")
    assert parse(script) == [
        ast.Passthrough(sql="SELECT 'a;b'"),
        ast.Use(path=("acme",)),
        ast.Passthrough(sql='SELECT "x;" FROM t'),
    ]
    assert parse("  ;\n-- nothing\n") == []


def error_of(text: str, kind=RaiseSyntaxError):
    with pytest.raises(kind) as caught:
        parse(text)
    return caught.value


def test_syntax_error_names_token_expected_and_position():
    error = error_of("SELECT 1;\nCREATE FEATURE g.f int64\n  DESCRIPTION 'x' TAGZ ('a')")
    assert (error.line, error.column) == (3, 19)
    assert "'TAGZ'" in error.message and "TAGS" in error.message
    assert error.code == "RAISE-S001"
    assert error.excerpt.splitlines()[1].index("^") == 2 + 18


def test_error_at_end_of_statement():
    error = error_of("CREATE FEATURE GROUP g KEY (a int64")
    assert (error.line, error.column) == (1, 36)
    assert "end of statement" in error.message and "')'" in error.message


def test_error_inside_derived_expression_is_positioned_in_the_script():
    error = error_of("USE a;\nCREATE FEATURE g.f int64 DERIVED AS\n  (a + b")
    assert error.line == 3
    assert error.column >= 6


def test_invalid_dtype_has_position():
    error = error_of("USE a; CREATE FEATURE g.f floaty DESCRIPTION 'x'", InvalidDType)
    assert (error.line, error.column) == (1, 27)
    assert error.code == "RAISE-V010"
    assert "floaty" in error.message


@pytest.mark.parametrize("text, fragment", [
    ("USE a/b/c/d", "at most 3"),
    ("CREATE ORGANIZATION a/b", "at most 1"),
    ("CREATE FEATURE g.f int64 DESCRIPTION 'a' DESCRIPTION 'b'", "given twice"),
    ("CREATE OR REPLACE FEATURE IF NOT EXISTS g.f int64", "exclude each other"),
    ("ALTER FEATURE g.f SET STATUS 'gone'", "unknown status"),
    ("ALTER FEATURE g.f SET", "end of statement"),
    ("CREATE FEATURE g.f int64 DERIVED AS DESCRIPTION 'x'", "needs an expression"),
    ("CREATE FEATURE g int64", "unexpected"),
    ("CREATE FEATURE g.f int64 DERIVED AS SELECT 1", "expression"),
    ("USE 'acme'", "unexpected"),
])
def test_malformed_statements(text, fragment):
    assert fragment in error_of(text).message
