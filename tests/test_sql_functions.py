"""Raise's SQL functions through a DataFusion session after ``udfs.register_all``."""
from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
import sqlglot
from datafusion import SessionContext

import udfs
from udfs import constant_vectors
from udfs.errors import DimensionMismatch
from udfs.vector import FUNCTIONS, cosine_similarity_np, dot_np, l2_distance_np, norm_np

DIM = 8


@pytest.fixture(scope="module")
def embeddings():
    rng = np.random.default_rng(11)
    a = rng.standard_normal((50, DIM)).astype(np.float32)
    b = rng.standard_normal((50, DIM)).astype(np.float32)
    a[3] = 0.0
    return a, b


@pytest.fixture(scope="module")
def ctx(embeddings):
    a, b = embeddings
    context = SessionContext()
    udfs.register_all(context)
    fixed = pa.list_(pa.float32(), DIM)
    mask = pa.array([i == 5 for i in range(len(a))])
    table = pa.table({
        "id": pa.array(range(len(a)), pa.int64()),
        "a": pa.FixedSizeListArray.from_arrays(pa.array(a.ravel()), DIM, mask=mask),
        "b": pa.FixedSizeListArray.from_arrays(pa.array(b.ravel()), DIM),
        "a16": pa.FixedSizeListArray.from_arrays(pa.array(a.ravel().astype(np.float16)), DIM),
        "a64": pa.FixedSizeListArray.from_arrays(pa.array(a.ravel().astype(np.float64)), DIM),
        "la": pa.array([r.tolist() for r in a], pa.list_(pa.float32())),
    })
    assert table.schema.field("b").type == fixed
    context.register_record_batches("emb", [table.to_batches(max_chunksize=16)])
    context.sql("""CREATE TABLE sales AS VALUES
        (1, 'north', 10.0, 'Ada '), (2, 'north', 20.0, ' Bo'), (3, 'south', NULL, 'Cy'),
        (4, 'south', 40.0, 'Dee'), (5, 'north', 30.0, 'Eve')""").collect()
    return context


def _column(ctx, sql, **kwargs):
    table = pa.Table.from_batches(ctx.sql(sql, **kwargs).collect())
    return table.sort_by("id").column("r").to_pylist() if "id" in table.column_names \
        else table.column("r").to_pylist()


REFERENCES = {"dot": dot_np, "cosine_similarity": cosine_similarity_np,
              "l2_distance": l2_distance_np, "norm": norm_np}


def _expected(name, a, b, null_rows=(5,)):
    ref = REFERENCES[name]
    values = ref(a) if name == "norm" else ref(a, b)
    return [None if i in null_rows or np.isnan(v) else float(v) for i, v in enumerate(values)]


def _assert_close(got, want, rel=1e-6):
    assert [g is None for g in got] == [w is None for w in want]
    for g, w in zip(got, want):
        if w is not None:
            assert g == pytest.approx(w, rel=rel, abs=1e-9)


@pytest.mark.parametrize("name", ["dot", "cosine_similarity", "l2_distance"])
@pytest.mark.parametrize("column", ["a", "la"])
def test_row_against_row(ctx, embeddings, name, column):
    a, b = embeddings
    nulls = (5,) if column == "a" else ()
    got = _column(ctx, f"SELECT id, {name.upper()}({column}, b) AS r FROM emb")
    _assert_close(got, _expected(name, a, b, nulls))


def test_norm_and_names_are_case_insensitive(ctx, embeddings):
    a, _ = embeddings
    _assert_close(_column(ctx, "SELECT id, Norm(a) AS r FROM emb"), _expected("norm", a, None))


@pytest.mark.parametrize("column,element", [("a16", np.float16), ("a64", np.float64)])
def test_half_and_double_embeddings(ctx, embeddings, column, element):
    a, b = embeddings
    got = _column(ctx, f"SELECT id, cosine_similarity({column}, b) AS r FROM emb")
    _assert_close(got, _expected("cosine_similarity", a.astype(element), b, ()))


def _literal(vector):
    return "[" + ", ".join(repr(float(x)) for x in vector) + "]"


@pytest.mark.parametrize("name", ["dot", "cosine_similarity", "l2_distance"])
def test_row_against_array_literal_and_make_array(ctx, embeddings, name):
    a, b = embeddings
    query = b[0]
    want = _expected(name, a, np.broadcast_to(query, a.shape))
    literal = _column(ctx, f"SELECT id, {name}(a, {_literal(query)}) AS r FROM emb")
    made = _column(ctx, f"SELECT id, {name}(a, make_array({_literal(query)[1:-1]})) AS r FROM emb")
    _assert_close(literal, want)
    _assert_close(made, want)


def test_row_against_bound_parameter(ctx, embeddings):
    a, b = embeddings
    query = pa.scalar(b[1], pa.list_(pa.float32()))
    got = _column(ctx, "SELECT id, cosine_similarity(a, $1) AS r FROM emb",
                  param_values={"1": query})
    _assert_close(got, _expected("cosine_similarity", a, np.broadcast_to(b[1], a.shape)))


@pytest.mark.parametrize("function", [f for f in FUNCTIONS if f.arity == 2], ids=lambda f: f.name)
def test_constant_forms_equal_plain_calls(ctx, embeddings, function):
    a, b = embeddings
    sql = f"SELECT id, {function.name}({_literal(b[2])}, a) AS r FROM emb WHERE id < 20"
    rewritten = udfs.prefer_constant_vectors(sqlglot.parse_one(sql, read="duckdb"))
    assert f"{function.name.upper()}_CONST" in rewritten.sql("duckdb")
    assert _column(ctx, rewritten.sql("duckdb")) == _column(ctx, sql)
    param = udfs.prefer_constant_vectors(sqlglot.parse_one(
        f"SELECT id, {function.name}(a, $1) AS r FROM emb WHERE id < 20", read="postgres"))
    got = _column(ctx, param.sql("postgres"), param_values={"1": list(map(float, b[2]))})
    assert got == _column(ctx, sql)


def test_rewrite_leaves_row_dependent_arguments_alone():
    sql = ("SELECT dot(a, b), dot(a, (SELECT q FROM t)), norm(a), "
           "cosine_similarity(a, a + 1) FROM emb")
    tree = sqlglot.parse_one(sql, read="duckdb")
    assert udfs.prefer_constant_vectors(tree).sql("duckdb") == tree.sql("duckdb")


def test_vector_function_in_filter_and_order(ctx, embeddings):
    a, b = embeddings
    sql = (f"SELECT id AS r FROM emb WHERE cosine_similarity(a, {_literal(b[0])}) IS NOT NULL "
           f"ORDER BY cosine_similarity(a, {_literal(b[0])}) DESC LIMIT 3")
    scores = cosine_similarity_np(a, b[0])
    scores[[3, 5]] = -np.inf
    assert _column(ctx, sql) == list(np.argsort(-scores)[:3])


def test_dimension_mismatch_through_sql(ctx):
    with pytest.raises(Exception) as caught:
        ctx.sql("SELECT dot(a, [1.0, 2.0]) AS r FROM emb").collect()
    error = udfs.from_datafusion(caught.value)
    assert isinstance(error, DimensionMismatch) and f"{DIM} and 2" in error.message


def test_null_constant_gives_null(ctx):
    got = _column(ctx, "SELECT id, dot(a, CAST(NULL AS FLOAT[])) AS r FROM emb WHERE id < 3")
    assert got == [None, None, None]


def test_packed_constants_round_trip():
    vectors = pa.array([[1.0, 2.0], None, [3.0, 4.0, 5.0]], pa.list_(pa.float32()))
    packed = constant_vectors._pack(vectors)
    assert packed.type == pa.binary_view() and packed.null_count == 1
    rows = constant_vectors._unpack(packed)
    assert rows.valid.tolist() == [True, False, True] and not rows.repeated
    assert rows.values[rows.starts[2]:rows.stops[2]].tolist() == [3.0, 4.0, 5.0]


def test_repeated_packed_constant_reads_one_vector():
    one = constant_vectors._pack(pa.array([[0.5, 1.5]], pa.list_(pa.float32())))
    repeated = pa.concat_arrays([one] * 4)
    rows = constant_vectors._unpack(repeated)
    assert rows.repeated and rows.values.tolist() == [0.5, 1.5] and len(rows) == 4


# ---- The spec's function table --------------------------------------------------------------

def _one(ctx, sql):
    return ctx.sql(sql).to_pylist()[0]


def test_aggregations(ctx):
    row = _one(ctx, "SELECT AVG(c3) a, SUM(c3) s, MIN(c3) mn, MAX(c3) mx, COUNT(c3) n, "
                    "COUNT(*) rows, STDDEV(c3) sd, VARIANCE(c3) v FROM (SELECT column3 AS c3 FROM sales)")
    assert row == {"a": 25.0, "s": 100.0, "mn": 10.0, "mx": 40.0, "n": 4, "rows": 5,
                   "sd": pytest.approx(math.sqrt(500 / 3)), "v": pytest.approx(500 / 3)}


def test_variance_by_group_matches_var_samp(ctx):
    rows = ctx.sql("SELECT column2 g, VARIANCE(column3) v, VAR_SAMP(column3) w FROM sales "
                   "GROUP BY column2 ORDER BY column2").to_pylist()
    assert [r["g"] for r in rows] == ["north", "south"]
    assert rows[0]["v"] == pytest.approx(100.0) and rows[1]["v"] is None
    assert all(r["v"] == pytest.approx(r["w"]) if r["w"] is not None else r["v"] is None
               for r in rows)


def test_math(ctx):
    row = _one(ctx, "SELECT ABS(-2) ab, CEIL(1.2) ce, FLOOR(1.7) fl, ROUND(2.567, 2) ro, "
                    "LOG(100.0) lg, LOG(2.0, 8.0) lb, EXP(0) ex, POWER(2, 10) pw, SQRT(16) sq")
    assert row == {"ab": 2, "ce": 2.0, "fl": 1.0, "ro": 2.57, "lg": 2.0, "lb": 3.0, "ex": 1.0,
                   "pw": 1024, "sq": 4.0}


def test_strings(ctx):
    row = _one(ctx, "SELECT CONCAT('a', NULL, 'b') c, LOWER('AbC') lo, UPPER('abc') up, "
                    "TRIM('  x ') tr, SUBSTRING('feature', 2, 3) s1, "
                    "SUBSTRING('feature' FROM 4) s2, LENGTH('héllo') ln")
    assert row == {"c": "ab", "lo": "abc", "up": "ABC", "tr": "x", "s1": "eat", "s2": "ture",
                   "ln": 5}


def test_conditionals(ctx):
    rows = ctx.sql("""SELECT column1 AS id,
            CASE WHEN column3 > 25 THEN 'high' WHEN column3 > 15 THEN 'mid' ELSE 'low' END AS tier,
            COALESCE(column3, -1.0) AS filled, NULLIF(column2, 'south') AS north_only,
            IF(column3 >= 20, column1, NULL) AS big, IF(column1 = 1, 'one', 'other') AS label
        FROM sales ORDER BY column1""").to_pylist()
    assert [r["tier"] for r in rows] == ["low", "mid", "low", "high", "high"]
    assert [r["filled"] for r in rows] == [10.0, 20.0, -1.0, 40.0, 30.0]
    assert [r["north_only"] for r in rows] == ["north", "north", None, None, "north"]
    assert [r["big"] for r in rows] == [None, 2, None, 4, 5]
    assert [r["label"] for r in rows] == ["one", "other", "other", "other", "other"]


def test_window_clauses(ctx):
    rows = ctx.sql("""SELECT column1 AS id,
            SUM(column3) OVER (PARTITION BY column2 ORDER BY column1
                               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running,
            AVG(column3) OVER (ORDER BY column1 RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) AS pair,
            STDDEV(column3) OVER () AS sd_all,
            VARIANCE(column3) OVER () AS var_all,
            VARIANCE(column3) OVER (ORDER BY column1
                                    ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS v3,
            VAR_SAMP(column3) OVER (ORDER BY column1 ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS w3
        FROM sales ORDER BY column1""").to_pylist()
    assert [r["running"] for r in rows] == [10.0, 30.0, None, 40.0, 60.0]
    assert [r["pair"] for r in rows] == [10.0, 15.0, 20.0, 40.0, 35.0]
    assert all(r["sd_all"] == pytest.approx(math.sqrt(500 / 3)) for r in rows)
    assert all(r["var_all"] == pytest.approx(500 / 3) for r in rows)
    for r in rows:
        assert (r["v3"] is None and r["w3"] is None) or r["v3"] == pytest.approx(r["w3"])


def test_register_all_is_idempotent():
    context = SessionContext()
    udfs.register_all(context)
    udfs.register_all(context)
    assert {"dot", "cosine_similarity", "l2_distance", "norm", "if", "vector_constant"} \
        <= set(context.udfs())
    assert "variance" in context.udafs()
