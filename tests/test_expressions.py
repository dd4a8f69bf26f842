"""Derived expressions: path forms, analysis, compilation into DataFusion SQL, type inference."""
from __future__ import annotations

import math

import datafusion
import pyarrow as pa
import pytest
from sqlglot import exp

from grammar import (
    FeaturePath, check_compatible, compile_expression, infer_type, parse_expression,
)
from grammar.errors import RaiseSyntaxError, ValidationError
from grammar.functions import AGGREGATES, FUNCTIONS

SPEC_FUNCTIONS = ("AVG SUM MIN MAX COUNT STDDEV VARIANCE ABS CEIL FLOOR ROUND LOG EXP POWER SQRT "
                  "DOT COSINE_SIMILARITY L2_DISTANCE NORM CONCAT LOWER UPPER TRIM SUBSTRING "
                  "LENGTH COALESCE NULLIF IF").split()


@pytest.mark.parametrize("text, path", [
    ("click_count", FeaturePath(feature="click_count")),
    ("user-signals.click_count", FeaturePath(feature="click_count", group="user-signals")),
    ("rec/user-signals.click_count",
     FeaturePath(feature="click_count", group="user-signals", project="rec")),
    ("ml/rec/user-signals.click_count",
     FeaturePath(feature="click_count", group="user-signals", project="rec", domain="ml")),
    ("@partner/ml/rec/items.embedding",
     FeaturePath(feature="embedding", group="items", project="rec", domain="ml",
                 org="partner", external=True)),
    ("@partner-org/shared/embeddings/items.item_embedding",
     FeaturePath(feature="item_embedding", group="items", project="embeddings",
                 domain="shared", org="partner-org", external=True)),
    ("click_count@v1", FeaturePath(feature="click_count", version="v1")),
    ("rec/g.emb@v2", FeaturePath(feature="emb", group="g", project="rec", version="v2")),
    ('"user_embedding@v1"', FeaturePath(feature="user_embedding", version="v1")),
    ('"user-signals"."click count"', FeaturePath(feature="click count", group="user-signals")),
    ('"a/b"."c.d"', FeaturePath(feature="c.d", group="a/b")),
])
def test_path_resolution_forms(text, path):
    expression = parse_expression(text)
    assert expression.references == (path,)
    assert path.name == path.feature
    assert parse_expression(path.text).references == (path,)


def test_canonical_path_text():
    assert FeaturePath(feature="x", group="user-signals", project="rec").text == \
        "rec/user-signals.x"
    assert FeaturePath(feature="click count", group="a b").text == '"a b"."click count"'
    assert FeaturePath(feature="case").text == '"case"'
    assert FeaturePath(feature="e", group="i", project="p", domain="d", org="o",
                       external=True, version="v1").text == "@o/d/p/i.e@v1"


@pytest.mark.parametrize("text, normalized, names", [
    ("a-b", "a - b", ["a", "b"]),
    ("a - b", "a - b", ["a", "b"]),
    ("a-b.c", "a-b.c", ["c"]),
    ("a/b", "a / b", ["a", "b"]),
    ("a/b.c", "a/b.c", ["c"]),
    ("a / b.c", "a / b.c", ["a", "c"]),
    ("item-signals.x-1", "item-signals.x - 1", ["x"]),
    ("x-1.5", "x - 1.5", ["x"]),
])
def test_hyphen_and_slash_rules(text, normalized, names):
    expression = parse_expression(text)
    assert expression.normalized == normalized
    assert [r.name for r in expression.references] == names


def test_references_functions_and_flags():
    expression = parse_expression(
        "(raw_score - avg(raw_score)) / STDDEV(raw_score) + COALESCE(g.b, raw_score)")
    assert [r.text for r in expression.references] == ["raw_score", "g.b"]
    assert expression.functions == ("AVG", "STDDEV", "COALESCE")
    assert expression.has_aggregate and not expression.has_window
    windowed = parse_expression("SUM(x) OVER (PARTITION BY user_id ORDER BY event_time "
                                "ROWS BETWEEN 6 PRECEDING AND CURRENT ROW)")
    assert windowed.has_window and windowed.has_aggregate
    assert [r.name for r in windowed.references] == ["x", "user_id", "event_time"]
    plain = parse_expression("DOT(user_embedding, item-signals.item_embedding)")
    assert plain.functions == ("DOT",) and not plain.has_aggregate


@pytest.mark.parametrize("text", [
    "click_count / NULLIF(impression_count, 0)",
    "(raw_score - AVG(raw_score)) / STDDEV(raw_score)",
    "CASE WHEN revenue > 10000 THEN 'platinum' WHEN revenue > 1000 THEN 'gold' "
    "WHEN revenue > 100 THEN 'silver' ELSE 'bronze' END",
    "DOT(user_embedding, @partner-org/shared/embeddings/items.item_embedding)",
    "IF(x > 1, 'a;b', 'it''s')",
    "COSINE_SIMILARITY(emb, [1.0, 2.0, 3.0])",
    "SUBSTRING(name, 1, 3) || LOWER(TRIM(name))",
    "x IN (1, 2, 3) AND y BETWEEN 0 AND 1 OR z IS NULL",
    "CAST(x AS DOUBLE) + x::int",
    "LAG(x, 1) OVER (PARTITION BY k ORDER BY t)",
    '"select" + "Mixed Case" + count',
    "-- leading comment\n x /* inline */ + 1",
])
def test_normalized_text_is_stable(text):
    first = parse_expression(text)
    again = parse_expression(first.normalized)
    assert again.normalized == first.normalized
    assert again.references == first.references
    assert again.functions == first.functions


def test_function_names_are_kept_as_written_in_upper_case():
    normalized = parse_expression(
        "if(a, variance(x), stddev(x)) + length(s) + power(x, 2) + log(x) + ceil(x)").normalized
    assert normalized == ("IF(a, VARIANCE(x), STDDEV(x)) + LENGTH(s) + POWER(x, 2) + LOG(x) "
                          "+ CEIL(x)")


@pytest.mark.parametrize("text, line, column, fragment", [
    ("a +\n  (b", 2, 4, "Expecting )"),
    ("x + 'open", 1, 5, "unterminated string"),
    ('x + "open', 1, 5, "unterminated quoted"),
    ("", 1, 1, "empty"),
    ("SELECT 1", 1, 1, "expression"),
    ("x + (SELECT 1)", 1, 1, "subqueries"),
    ("a; b", 1, 1, "one expression"),
    ("a/b/c/d.x", 1, 1, "bad feature path"),
    ("y + @o/d.x", 1, 5, "bad feature path"),
])
def test_expression_syntax_errors(text, line, column, fragment):
    with pytest.raises(RaiseSyntaxError) as caught:
        parse_expression(text)
    error = caught.value
    assert fragment in error.message
    assert (error.line, error.column) == (line, column)


def test_inconsistent_feature_path_is_rejected():
    with pytest.raises(ValidationError):
        FeaturePath(feature="x", project="p")
    with pytest.raises(ValidationError):
        FeaturePath(feature="x", group="g", org="o")


# ------------------------------------------------------------------ compiled in DataFusion


@pytest.fixture(scope="module")
def context() -> datafusion.SessionContext:
    ctx = datafusion.SessionContext()
    ctx.from_arrow(pa.table({
        "user_id": [1, 2, 3, 4],
        "click_count": [1, 2, 0, 5],
        "impression_count": [10, 0, 5, 20],
        "raw_score": [1.0, 2.0, 6.0, 3.0],
        "revenue": [20000.0, 5000.0, 50.0, 500.0],
        "name": ["  Ada ", "bob", "Cy", "dee"],
    }), "signals")
    ctx.from_arrow(pa.table({"user_id": [1, 2, 3, 4], "bonus": [1.5, 2.5, 3.5, 4.5]}), "extra")
    return ctx


def column_in(table: str):
    return lambda path: exp.column(path.name, table=path.group or table, quoted=True)


def run(ctx, text: str, dtype: str | None = None, table: str = "signals", source=None) -> list:
    sql = compile_expression(parse_expression(text), column_in(table), dtype=dtype)
    query = f"SELECT {sql} AS v FROM {source or table} ORDER BY {table}.user_id"
    return ctx.sql(query).to_arrow_table().column("v").to_pylist()


def test_ctr_is_a_float_when_declared_float64(context):
    assert run(context, "click_count / NULLIF(impression_count, 0)", "float64") == \
        [0.1, None, 0.0, 0.25]
    # Without the declared dtype DataFusion divides integers as integers.
    assert run(context, "click_count / NULLIF(impression_count, 0)") == [0, None, 0, 0]


def test_aggregates_without_over_span_the_whole_group(context):
    text = "(raw_score - AVG(raw_score)) / STDDEV(raw_score)"
    compiled = compile_expression(parse_expression(text), column_in("signals"))
    assert compiled == ('("signals"."raw_score" - AVG("signals"."raw_score") OVER ()) / '
                        'STDDEV("signals"."raw_score") OVER ()')
    scores = [1.0, 2.0, 6.0, 3.0]
    mean = sum(scores) / 4
    stddev = math.sqrt(sum((s - mean) ** 2 for s in scores) / 3)
    assert run(context, text, "float64") == pytest.approx([(s - mean) / stddev for s in scores])


def test_case_tiers_from_the_spec(context):
    text = ("CASE WHEN revenue > 10000 THEN 'platinum' WHEN revenue > 1000 THEN 'gold' "
            "WHEN revenue > 100 THEN 'silver' ELSE 'bronze' END")
    assert run(context, text, "string") == ["platinum", "gold", "bronze", "silver"]


def test_explicit_window_is_kept(context):
    text = "SUM(click_count) OVER (ORDER BY user_id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)"
    assert run(context, text) == [1, 3, 2, 5]


@pytest.mark.parametrize("text, expected", [
    ("UPPER(TRIM(name))", ["ADA", "BOB", "CY", "DEE"]),
    ("LENGTH(name)", [6, 3, 2, 3]),
    ("SUBSTRING(name, 1, 2)", ["  ", "bo", "Cy", "de"]),
    ("CONCAT(LOWER(name), '!')", ["  ada !", "bob!", "cy!", "dee!"]),
    ("POWER(click_count, 2) + ABS(-1)", [2.0, 5.0, 1.0, 26.0]),
    ("CEIL(raw_score / 4) + FLOOR(raw_score / 4)", [1.0, 1.0, 3.0, 1.0]),
    ("ROUND(LOG(impression_count + 0.0), 3)", [1.0, -math.inf, 0.699, 1.301]),
    ("SQRT(raw_score * 4) + EXP(0)", [3.0, pytest.approx(1 + math.sqrt(8)),
                                      pytest.approx(1 + math.sqrt(24)),
                                      pytest.approx(1 + math.sqrt(12))]),
    ("COALESCE(NULLIF(click_count, 0), -1)", [1, 2, -1, 5]),
    ("MAX(click_count) - MIN(click_count) + COUNT(*)", [9, 9, 9, 9]),
    ("SUM(click_count)", [8, 8, 8, 8]),
    ("click_count IN (1, 5) AND raw_score BETWEEN 1 AND 3", [True, False, False, True]),
    ("CAST(click_count AS DOUBLE) / 2", [0.5, 1.0, 0.0, 2.5]),
])
def test_compiled_functions_run_in_datafusion(context, text, expected):
    assert run(context, text) == expected


def test_cross_group_reference_compiles_to_the_other_table(context):
    values = run(context, "raw_score * extra.bonus", source="signals JOIN extra USING (user_id)")
    assert values == [1.5, 5.0, 21.0, 13.5]


def test_compile_does_not_change_the_parsed_expression():
    expression = parse_expression("x + AVG(x)")
    compile_expression(expression, column_in("t"), dtype="float64")
    assert expression.normalized == "x + AVG(x)"
    assert compile_expression(expression, column_in("t")) == '"t"."x" + AVG("t"."x") OVER ()'


# ------------------------------------------------------------------ validation and types

TYPES = {
    "click_count": "int64", "impression_count": "int64", "raw_score": "float64",
    "revenue": "float64", "name": "string", "user_embedding": "float32[512]",
    "item_embedding": "float32[512]", "score32": "float32", "active": "bool",
}


def infer(text: str):
    return infer_type(parse_expression(text), lambda path: TYPES.get(path.name))


@pytest.mark.parametrize("text, dtype", [
    ("click_count / NULLIF(impression_count, 0)", "float64"),
    ("click_count + impression_count", "int64"),
    ("(raw_score - AVG(raw_score)) / STDDEV(raw_score)", "float64"),
    ("CASE WHEN revenue > 100 THEN 'gold' ELSE 'bronze' END", "string"),
    ("CASE WHEN revenue > 100 THEN click_count ELSE raw_score END", "float64"),
    ("DOT(user_embedding, item-signals.item_embedding)", "float32"),
    ("COSINE_SIMILARITY(user_embedding, [1.0, 2.0])", "float64"),
    ("COUNT(*)", "int64"),
    ("LENGTH(UPPER(name))", "int64"),
    ("SUM(click_count)", "int64"),
    ("score32 * score32", "float32"),
    ("revenue > 10 AND active", "bool"),
    ("IF(active, 1, 2.5)", "float64"),
    ("CAST(click_count AS DOUBLE)", "float64"),
    ("name || '!'", "string"),
    ("[1.0, 2.0, 3.0]", "float64[3]"),
])
def test_inferred_types(text, dtype):
    result = infer(text)
    assert result.dtype == dtype
    assert result.issues == ()


@pytest.mark.parametrize("text, code, severity, fragment", [
    ("AVGG(raw_score)", "RAISE-V030", "error", "did you mean AVG"),
    ("COSINE_SIM(user_embedding, user_embedding)", "RAISE-V030", "error", "COSINE_SIMILARITY"),
    ("ABS(raw_score, 2)", "RAISE-V031", "error", "ABS takes 1 argument(s), got 2"),
    ("LOWER(click_count)", "RAISE-V031", "error", "must be string"),
    ("DOT(name, user_embedding)", "RAISE-V031", "error", "must be vector"),
    ("ROW_NUMBER()", "RAISE-V031", "error", "OVER"),
    ("name * 2", "RAISE-V020", "error", "non-numeric"),
    ("CASE WHEN active THEN 'a' ELSE 1 END", "RAISE-V020", "error", "incompatible"),
    ("missing_feature + 1", "RAISE-V040", "warning", "missing_feature"),
    ("other-group.thing * 2", "RAISE-V040", "warning", "other-group.thing"),
])
def test_validation_issues(text, code, severity, fragment):
    result = infer(text)
    issue = next(i for i in result.issues if i.code == code)
    assert issue.severity == severity
    assert fragment in issue.message
    assert (issue in result.errors) == (severity == "error")
    assert (issue in result.warnings) == (severity == "warning")


@pytest.mark.parametrize("inferred, declared, ok", [
    ("int64", "float64", True), ("float64", "float32", True), ("int64", "int64", True),
    ("float64", "string", False), ("string", "string[128]", True), ("bool", "int64", False),
    ("float32[512]", "float32[512]", True), ("float32[512]", "float32[768]", False),
    ("float64[3]", "float32[]", True), ("date", "timestamp", True), ("nonsense", "int64", False),
])
def test_check_compatible(inferred, declared, ok):
    assert check_compatible(inferred, declared) is ok


def test_function_table_covers_the_spec():
    assert set(SPEC_FUNCTIONS) <= set(FUNCTIONS)
    assert {"AVG", "SUM", "MIN", "MAX", "COUNT", "STDDEV", "VARIANCE"} <= AGGREGATES
    assert FUNCTIONS["DOT"].category == "vector"
