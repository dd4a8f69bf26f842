"""CREATE/SHOW/DESCRIBE/DROP MODEL: parsing, canonical rendering, round trips, error positions."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grammar import parse, render
from grammar.errors import InvalidDType, RaiseSyntaxError, ValidationError
from grammar.models import (
    BATCH_OPTIONS, FRAMEWORKS, PRECISIONS, CreateModel, DescribeModel, DropModel, ModelColumn,
    ModelRef, ShowModels, parse_model_statement, render_model_statement,
)


def test_create_model_full():
    stmt = parse_model_statement(
        "create or replace model acme/ml/rec/\"my-model\" from 'file:///m.onnx' framework ONNX "
        "version 'v2' task 'embedding' input (text STRING) output (embedding FLOAT32[384], n int64) "
        "precision INT8 batch (batch_size = 64, dynamic_batching = true, timeout_seconds = 30, "
        "max_batch_size = null) description 'it''s small'")
    assert stmt == CreateModel(
        model=ModelRef(name="my-model", project=("acme", "ml", "rec")), uri="file:///m.onnx",
        framework="onnx", version="v2", task="embedding",
        inputs=(ModelColumn(name="text", dtype="string"),),
        outputs=(ModelColumn(name="embedding", dtype="float32[384]"), ModelColumn(name="n", dtype="int64")),
        precision="int8",
        batch=(("batch_size", 64), ("dynamic_batching", True), ("timeout_seconds", 30.0), ("max_batch_size", None)),
        description="it's small", conflict="update")
    assert render_model_statement(stmt) == (
        "CREATE OR REPLACE MODEL \"acme\"/\"ml\"/\"rec\"/\"my-model\" FROM 'file:///m.onnx' FRAMEWORK onnx "
        "VERSION 'v2' TASK 'embedding' INPUT (\"text\" string) OUTPUT (\"embedding\" float32[384], \"n\" int64) "
        "PRECISION int8 BATCH (batch_size = 64, dynamic_batching = TRUE, timeout_seconds = 30.0, "
        "max_batch_size = NULL) DESCRIPTION 'it''s small'")


@pytest.mark.parametrize("text, expected", [
    ("SHOW MODELS", ShowModels()),
    ("show models in acme/ml/rec", ShowModels(within=("acme", "ml", "rec"))),
    ("DESCRIBE MODEL minilm", DescribeModel(model=ModelRef(name="minilm"))),
    ("drop model if exists rec/minilm", DropModel(model=ModelRef(name="minilm", project=("rec",)), if_exists=True)),
    ("CREATE MODEL IF NOT EXISTS m FROM 'x.onnx' FRAMEWORK onnx",
     CreateModel(model=ModelRef(name="m"), uri="x.onnx", framework="onnx", conflict="skip")),
    ("-- comment first\nDROP MODEL m", DropModel(model=ModelRef(name="m"))),
])
def test_statements(text, expected):
    assert parse_model_statement(text) == expected
    assert parse_model_statement(render_model_statement(expected)) == expected


@pytest.mark.parametrize("text", ["SELECT 1", "CREATE FEATURE GROUP g", "SHOW FEATURES", "DROP MODELS",
                                  "CREATE MODELS x", "DESCRIBE FEATURE g.f"])
def test_other_statements_are_not_model_statements(text):
    assert parse_model_statement(text) is None


def test_grammar_parse_hands_model_statements_to_this_family():
    statements = parse("USE acme/ml/rec; CREATE MODEL m FROM 'm.onnx' FRAMEWORK onnx; SHOW MODELS; SELECT 1")
    assert statements[1] == CreateModel(model=ModelRef(name="m"), uri="m.onnx", framework="onnx")
    assert statements[2] == ShowModels()
    assert render(statements[1]) == "CREATE MODEL \"m\" FROM 'm.onnx' FRAMEWORK onnx"


@pytest.mark.parametrize("text, error, code, line, column, fragment", [
    ("CREATE MODEL m FROM 'x'", RaiseSyntaxError, "RAISE-S001", 1, 1, "needs FRAMEWORK"),
    ("CREATE MODEL m FROM 'x' FRAMEWORK keras", ValidationError, "RAISE-V001", 1, 35, "unknown framework 'keras'"),
    ("CREATE MODEL m FROM 'x' FRAMEWORK onnx\n  PRECISION fp8", ValidationError, "RAISE-V001", 2, 13,
     "expected one of fp32, fp16, bf16, int8, int4"),
    ("CREATE MODEL m FROM 'x' FRAMEWORK onnx BATCH (size = 1)", ValidationError, "RAISE-V001", 1, 47,
     "unknown BATCH option 'size'"),
    ("CREATE MODEL m FROM 'x' FRAMEWORK onnx BATCH (batch_size = TRUE)", ValidationError, "RAISE-V001", 1, 47,
     "takes an integer"),
    ("CREATE MODEL m FROM 'x' FRAMEWORK onnx INPUT (a floatx)", InvalidDType, "RAISE-V010", 1, 49, "floatx"),
    ("CREATE MODEL m FROM 'x' FRAMEWORK onnx TASK 'a' TASK 'b'", RaiseSyntaxError, "RAISE-S001", 1, 49,
     "TASK given twice"),
    ("CREATE MODEL m FROM 'x' FRAMEWORK onnx INPUT (a int64, a int64)", ValidationError, "RAISE-V001", 1, 40,
     "names column 'a' twice"),
    ("DROP MODEL", RaiseSyntaxError, "RAISE-S001", 1, 11, "unexpected end of statement"),
    ("CREATE MODEL m FROM x FRAMEWORK onnx", RaiseSyntaxError, "RAISE-S001", 1, 21, "expected a string literal"),
])
def test_errors_name_the_problem_and_its_position(text, error, code, line, column, fragment):
    with pytest.raises(error) as raised:
        parse_model_statement(text)
    assert (raised.value.code, raised.value.line, raised.value.column) == (code, line, column)
    assert fragment in raised.value.message


def test_error_positions_are_relative_to_the_script():
    with pytest.raises(ValidationError) as raised:
        parse("SELECT 1;\nCREATE MODEL m FROM 'x' FRAMEWORK keras")
    assert (raised.value.line, raised.value.column) == (2, 35)


_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-]{0,8}", fullmatch=True).filter(lambda s: not s.endswith("-"))
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)
_dtypes = st.sampled_from(["string", "int64", "float32", "float32[384]", "float64[]", "bool"])
_columns = st.lists(st.builds(ModelColumn, name=_names, dtype=_dtypes), min_size=1, max_size=3,
                    unique_by=lambda c: c.name).map(tuple)
_batch_value = {int: st.integers(1, 512), float: st.floats(0.5, 600, allow_nan=False), bool: st.booleans()}
_batch = st.lists(st.sampled_from(sorted(BATCH_OPTIONS)), unique=True, max_size=4).flatmap(
    lambda keys: st.tuples(*[st.tuples(st.just(k), _batch_value[BATCH_OPTIONS[k]]) for k in keys]))
_refs = st.builds(ModelRef, name=_names, project=st.none() | st.lists(_names, min_size=1, max_size=3).map(tuple))
_create = st.builds(
    CreateModel, model=_refs, uri=_text, framework=st.sampled_from(FRAMEWORKS),
    version=st.none() | _text, task=st.none() | _text, inputs=st.none() | _columns, outputs=st.none() | _columns,
    precision=st.none() | st.sampled_from(PRECISIONS), batch=st.none() | _batch.filter(bool),
    description=st.none() | _text, conflict=st.sampled_from(["error", "skip", "update"]))
_statements = st.one_of(
    _create, st.builds(ShowModels, within=st.none() | st.lists(_names, min_size=1, max_size=3).map(tuple)),
    st.builds(DescribeModel, model=_refs), st.builds(DropModel, model=_refs, if_exists=st.booleans()))


@settings(max_examples=150, deadline=None)
@given(_statements)
def test_round_trip(statement):
    assert parse_model_statement(render_model_statement(statement)) == statement
