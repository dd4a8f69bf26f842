"""The per-statement shortcuts give the results of the long way: the constant-vector rewrite
with its literals set aside, one lexeme per numeric array, plans optimized once."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import sqlglot

import udfs
from grammar import parse
from grammar.ast import Passthrough
from grammar.errors import LimitExceeded
from grammar.limits import check
from grammar.parser import split_statements
from raise_.engine import Engine
from raise_.engine.vector_sql import constant_vectors

ROOT = Path(__file__).resolve().parent.parent
VECTOR = "[" + ", ".join(f"{x:.6g}" for x in np.linspace(-1, 1, 64)) + "]"


def _long_way(sql: str) -> str:
    return udfs.prefer_constant_vectors(sqlglot.parse_one(sql, read="duckdb")).sql("duckdb")


@pytest.mark.parametrize("sql", [
    f"SELECT cosine_similarity(emb, {VECTOR}) AS s FROM items",
    f"SELECT id FROM items WHERE dot({VECTOR}, emb) > 0.5 ORDER BY l2_distance(emb, {VECTOR})",
    "SELECT cosine_similarity(emb, [1, 2, 3]) FROM items",
    f"SELECT cosine_similarity(emb, emb2), '{VECTOR}' AS text FROM items",
])
def test_the_rewrite_with_literals_set_aside_matches_sqlglot_on_the_whole_text(sql):
    assert sqlglot.parse_one(constant_vectors(sql), read="duckdb") == sqlglot.parse_one(_long_way(sql), read="duckdb")


def test_literals_come_back_as_written_even_inside_strings():
    sql = f"SELECT cosine_similarity(emb, {VECTOR}) AS s, '{VECTOR}' AS t FROM items"
    out = constant_vectors(sql)
    assert out.count(VECTOR) == 2 and "__raise_vector" not in out
    assert f"VECTOR_CONSTANT({VECTOR})" in out
    odd = "SELECT cosine_similarity(emb, $__raise_vector_0) FROM items"  # the client's own spelling
    assert constant_vectors(odd) == _long_way(odd)
    assert constant_vectors("SELECT 1 + 1") == "SELECT 1 + 1"


def test_a_numeric_array_is_one_lexeme_and_statements_still_split():
    script = f"USE acme/ml/rec; SELECT cosine_similarity(emb, {VECTOR}) FROM t; SELECT '[1; 2]'"
    pieces = split_statements(script)
    assert [p.text for p in pieces][1:] == [f"SELECT cosine_similarity(emb, {VECTOR}) FROM t", "SELECT '[1; 2]'"]
    assert [t.kind for t in pieces[1].tokens if t.kind == "numbers"] == ["numbers"]
    assert parse(script)[1] == Passthrough(sql=f"SELECT cosine_similarity(emb, {VECTOR}) FROM t")


def test_a_query_planned_once_runs_and_streams_like_the_plain_frame(tmp_path):
    session = Engine(tmp_path).session(project=("acme", "ml", "rec"))
    session.execute("CREATE ORGANIZATION acme; CREATE DOMAIN acme/ml; CREATE PROJECT acme/ml/rec; USE acme/ml/rec; "
                    "CREATE FEATURE GROUP items KEY (id INT64); CREATE FEATURE items.emb FLOAT32[3]")
    emb = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(12, dtype=np.float32)), 3)
    session.ingest("items", pa.table({"id": pa.array([1, 2, 3, 4], pa.int64()), "emb": emb}))
    sql = "SELECT id, cosine_similarity(emb, [1, 0, 0]) AS s FROM items WHERE id > $1 ORDER BY id"
    ran = session.execute(sql, params=[1])
    streamed = session.stream(sql, params=[1]).table()
    matrix = np.arange(12, dtype=np.float64).reshape(4, 3)[1:]
    assert ran.equals(streamed) and ran.column("id").to_pylist() == [2, 3, 4]
    np.testing.assert_allclose(ran.column("s").to_numpy(), matrix[:, 0] / np.linalg.norm(matrix, axis=1), rtol=1e-6)


@pytest.mark.parametrize(("sql", "shape"), [
    (f"SELECT cosine_similarity(emb, {VECTOR}) AS s FROM t", (2, 3, 171)),
    ("SELECT [1.5e-3, +2, -3] AS a, x * ([1,2] ) FROM t WHERE a = [ 1 ]", (2, 3, 30)),
    ("SELECT ((([-1])))", (4, 5, 11)),
    (f"SELECT a + b * f(g({VECTOR}, 2))", (3, 6, 174)),
    ("SELECT [1, 2] || [3]", (1, 3, 10)),
])
def test_a_flat_numeric_array_measures_as_its_tokens_would(sql, shape):
    """Values the token-by-token scan gives for the same statements."""
    measured = check(sql)
    assert (measured.nesting, measured.depth, measured.nodes) == shape


def test_an_array_past_a_limit_is_refused_at_the_token_that_passes_it():
    with pytest.raises(LimitExceeded) as refused:
        check("SELECT " + "+".join(["[1, -2]"] * 300))
    assert refused.value.column == 2036


_PARSE = ("from grammar import parse; "
          "print(repr(parse('CREATE FEATURE users.clicks INT64 DESCRIPTION \\'n\\'; SHOW ORGANIZATIONS')))")


def test_parser_tables_saved_by_one_process_serve_the_next(tmp_path):
    env = {**os.environ, "RAISE_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    first = subprocess.run([sys.executable, "-c", _PARSE], env=env, capture_output=True, text=True, check=True)
    saved = sorted(p.name for p in (tmp_path / "cache" / "grammar").iterdir())
    second = subprocess.run([sys.executable, "-c", _PARSE], env=env, capture_output=True, text=True, check=True)
    assert saved and first.stdout == second.stdout and "CreateFeature(" in first.stdout
    assert sorted(p.name for p in (tmp_path / "cache" / "grammar").iterdir()) == saved


def test_without_a_writable_cache_folder_parsers_are_built_as_before(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    env = {**os.environ, "RAISE_CACHE_DIR": str(blocked), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _PARSE], env=env, capture_output=True, text=True, check=True)
    assert "CreateFeature(" in done.stdout and done.stderr == ""


def test_planning_threads_are_reused_and_keep_their_large_stack():
    from raise_.engine import limits

    deadline = limits.Deadline(None)

    def where() -> tuple[str, int]:
        return threading.current_thread().name, threading.get_ident()

    # A planner offers itself again just after its caller wakes, so a call can now and then
    # start one more thread: reuse shows as few threads over many calls, not as one.
    seen = [limits.planned(where, deadline=deadline) for _ in range(40)]
    assert {name for name, _ in seen} == {"raise-planner"}
    assert len({ident for _, ident in seen}) <= 10
    with pytest.raises(ZeroDivisionError):  # an error comes back to the caller; the thread stays
        limits.planned(lambda: 1 / 0, deadline=deadline)
    assert limits.planned(where, deadline=deadline)[0] == "raise-planner"


def test_short_sql_plans_on_the_calling_thread_unless_its_stack_is_small():
    from raise_.engine import limits

    deadline = limits.Deadline(None)

    def where() -> str:
        return threading.current_thread().name

    short, long = "SELECT 1", "SELECT " + "+".join(["1"] * (limits.SHALLOW_CHARS // 2 + 1))
    caller = threading.current_thread().name
    assert limits.planned(where, deadline=deadline, sql=short) == caller
    assert limits.planned(where, deadline=deadline, sql=long) == "raise-planner"
    assert limits.planned(where, deadline=deadline) == "raise-planner"  # no text: no knowing
    seen = []
    previous = threading.stack_size(1 << 20)  # below INLINE_STACK_BYTES
    try:
        small = threading.Thread(target=lambda: seen.append(limits.planned(where, deadline=deadline, sql=short)))
        small.start()
        small.join()
    finally:
        threading.stack_size(previous)
    assert seen == ["raise-planner"]


def test_a_deep_chain_in_short_text_still_plans_and_runs(tmp_path):
    from raise_.engine import limits

    session = Engine(tmp_path / "s").session()
    terms = 250  # within the grammar's depth limit; the text stays under SHALLOW_CHARS
    sql = "SELECT " + "+".join(["1"] * terms) + " AS n"
    assert len(sql) <= limits.SHALLOW_CHARS
    assert session.execute(sql).to_pylist() == [{"n": terms}]
