"""Start-up: a plain query loads only what it needs, and everything else still loads on demand.

``raise sql -e "SELECT 1"`` runs in a fresh process per call (CI scripts run it many times), so
the statement families, their grammars, Lark, sqlglot and the heavy runtimes load when a
statement first needs them. These tests check that in a new interpreter, and that the cheap
declarations that make it possible (first words, grammar modules, query families) agree with
what they stand for, so a family added or changed without them is caught here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grammar import clauses, extensions
from raise_.engine import families

ROOT = Path(__file__).resolve().parent.parent

#: Modules a plain ``SELECT 1`` must not import (pandas comes with DataFusion itself; ``sqlglot``
#: itself may be there, as the module object ``raise_.lazy.module`` leaves until its first use).
LAZY = ("sqlglot.expressions", "lark", "scipy", "numba", "flight_server", "udfs.infer.udf", "grammar.expressions",
        *extensions.FAMILIES, *(m for m in families.FAMILIES if m not in families.QUERY_FAMILIES),
        "raise_.analytics.live", "raise_.engine.vectors.runner")

#: One statement per family, run after the plain query in the same process.
EACH_FAMILY = {
    "SHOW ORGANIZATIONS": "grammar.ast", "SHOW MODELS": "grammar.models",
    "SHOW PRINCIPAL GROUPS": "grammar.security_ast", "SHOW ONLINE STATUS": "grammar.serving",
    "SHOW LIVE TABLES": "grammar.analytics", "SHOW BLOB REGISTRIES": "grammar.blobs",
    "SHOW JOBS": "grammar.jobs", "SHOW VECTOR INDEXES": "grammar.vectors",
    "SHOW DASHBOARDS": "grammar.dashboards",
}

SCRIPT = """
import json, sys
from raise_ import cli
status = cli.main(["sql", "-e", "SELECT 1", "--format", "csv"])
loaded = sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)
from raise_.engine import Engine, families
session = Engine(sys.argv[2]).session(None, "acme/ml/rec")
session.execute("CREATE ORGANIZATION acme; CREATE DOMAIN acme/ml; CREATE PROJECT acme/ml/rec")
results = {}
for sql in json.loads(sys.argv[3]):
    (statement,) = __import__("grammar").parse(sql)
    table = session.execute(sql)
    expected = families.statement(type(statement)).result_schema(statement)
    results[sql] = [type(statement).__module__, table.schema.names == expected.names, table.num_rows]
print(json.dumps({"status": status, "loaded": loaded, "results": results}))
"""


def test_a_plain_query_in_a_new_process_loads_no_family_and_each_family_still_runs(tmp_path):
    env = {**os.environ, "RAISE_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(LAZY), str(tmp_path / "store"),
                          json.dumps(list(EACH_FAMILY))], env=env, cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    assert run.stdout.startswith("Int64(1)\n1\n")
    report = json.loads(run.stdout.splitlines()[-1])
    assert report["status"] == 0
    assert report["loaded"] == []
    for sql, module in EACH_FAMILY.items():
        assert report["results"][sql][:2] == [module, True], sql
    assert report["results"]["SHOW ORGANIZATIONS"][2] == 1


def _first_words(filename: str) -> frozenset[str]:
    """The keywords a statement of ``filename``'s grammar can begin with (its LALR start state)."""
    parser = clauses.grammar(filename, ("start", "audit_filter") if filename == "security.lark" else "start")
    table = parser.parser.parser.parser.parse_table
    terminals = table.states[table.start_states["start"]]
    return frozenset(parser.get_terminal(t).pattern.value.upper() for t in terminals if t in parser._terminals_dict)


@pytest.mark.parametrize("module", list(extensions.FAMILIES))
def test_each_grammar_family_is_offered_the_statements_that_begin_with_its_words(module):
    assert extensions.FAMILIES[module] == _first_words(module.split(".")[1] + ".lark")


def test_no_family_grammar_claims_a_plain_query_word():
    plain = {"SELECT", "WITH", "INSERT", "VALUES", "EXPLAIN"}
    assert not plain & set().union(*extensions.FAMILIES.values())


def test_each_engine_family_names_the_grammar_modules_of_its_statements():
    loaded = families.registry()
    for module, family in zip(families.FAMILIES, loaded.families):
        assert {cls.__module__ for cls in family.statements} <= set(families.FAMILIES[module]), module


def test_the_query_families_are_exactly_those_with_query_hooks():
    with_hooks = tuple(module for module, family in zip(families.FAMILIES, families.registry().families)
                       if family.query_hooks or family.table_reads or family.query_runners
                       or family.query_preparers)
    assert with_hooks == families.QUERY_FAMILIES


def test_a_submodule_loaded_lazily_is_an_attribute_of_its_package_as_an_import_makes_it():
    # Ray Data reads ``pyarrow.fs.PyFileSystem`` after ``import pyarrow`` alone: a lazily loaded
    # submodule must be bound on its package, or that fails once Raise made it lazy first
    code = ("from raise_ import lazy; fs = lazy.module('pyarrow.fs'); import pyarrow; "
            "assert pyarrow.fs is fs; print(pyarrow.fs.LocalFileSystem.__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "LocalFileSystem"
