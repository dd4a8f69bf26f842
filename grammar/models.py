"""The model registry statements: CREATE/SHOW/DESCRIBE/DROP MODEL.

A statement family of its own (grammar in ``models.lark``), registered with
:mod:`grammar.extensions` through :data:`EXTENSION`: ``grammar.parse`` asks
:func:`parse_model_statement` first, and ``grammar.render`` renders these classes with
:func:`render_model_statement`. ``parse_model_statement(render_model_statement(s)) == s`` holds
for every statement.

>>> s = parse_model_statement("create model minilm from 'hf://sentence-transformers/all-MiniLM-L6-v2' "
...                           "framework HuggingFace output (embedding FLOAT32[384])")
>>> render_model_statement(s)
'CREATE MODEL "minilm" FROM \\'hf://sentence-transformers/all-MiniLM-L6-v2\\' FRAMEWORK huggingface OUTPUT ("embedding" float32[384])'
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Union

from lark import Lark, Token, v_args

from grammar.dtypes import parse_dtype
from grammar import clauses
from grammar.errors import RaiseSyntaxError, ValidationError
from grammar.render import quote_ident, quote_literal

__all__ = [
    "FRAMEWORKS", "PRECISIONS", "BATCH_OPTIONS", "ModelRef", "ModelColumn", "CreateModel",
    "ShowModels", "DescribeModel", "DropModel", "MODEL_STATEMENTS", "parse_model_statement",
    "render_model_statement", "EXTENSION",
]

#: Framework names as written after FRAMEWORK (lower case), in the spec's order.
FRAMEWORKS = ("pytorch", "tensorflow", "onnx", "huggingface", "mlflow", "triton", "sklearn",
              "xgboost", "jax")
PRECISIONS = ("fp32", "fp16", "bf16", "int8", "int4")
#: BATCH (...) options and the Python type of each value (``None`` is allowed for the
#: optional ones: ``max_batch_size`` and ``timeout_seconds``).
BATCH_OPTIONS: dict[str, type] = {
    "batch_size": int, "max_batch_size": int, "dynamic_batching": bool,
    "prefetch_batches": int, "num_workers": int, "timeout_seconds": float,
    "retry_failed": bool, "max_retries": int,
}
_OPTIONAL_BATCH = {"max_batch_size", "timeout_seconds"}
_KINDS = {int: "an integer", float: "a number", bool: "TRUE or FALSE"}

Conflict = Literal["error", "skip", "update"]
BatchValue = Union[int, float, bool, None]
_frozen = dict(frozen=True, slots=True, kw_only=True)


@dataclass(**_frozen)
class ModelRef:
    """A model, optionally qualified by its project path (1 to 3 names)."""

    name: str
    project: tuple[str, ...] | None = None


@dataclass(**_frozen)
class ModelColumn:
    """One model input or output: a column name and its canonical dtype."""

    name: str
    dtype: str


@dataclass(**_frozen)
class CreateModel:
    """``CREATE [OR REPLACE] MODEL [IF NOT EXISTS] m FROM 'uri' FRAMEWORK f [options]``.

    ``conflict``: ``error`` (plain), ``skip`` (IF NOT EXISTS), ``update`` (OR REPLACE).
    ``batch``: ``(option, value)`` pairs in the order written; see :data:`BATCH_OPTIONS`.
    """

    model: ModelRef
    uri: str
    framework: str
    version: str | None = None
    task: str | None = None
    inputs: tuple[ModelColumn, ...] | None = None
    outputs: tuple[ModelColumn, ...] | None = None
    precision: str | None = None
    batch: tuple[tuple[str, BatchValue], ...] | None = None
    description: str | None = None
    conflict: Conflict = "error"


@dataclass(**_frozen)
class ShowModels:
    """``SHOW MODELS [IN path]``: the models of a project (the current one by default)."""

    within: tuple[str, ...] | None = None


@dataclass(**_frozen)
class DescribeModel:
    """``DESCRIBE MODEL m``."""

    model: ModelRef


@dataclass(**_frozen)
class DropModel:
    """``DROP MODEL [IF EXISTS] m``."""

    model: ModelRef
    if_exists: bool = False


MODEL_STATEMENTS: tuple[type, ...] = (CreateModel, ShowModels, DescribeModel, DropModel)

_LEADING = re.compile(
    r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*"
    r"(?:CREATE\s+(?:OR\s+REPLACE\s+)?MODEL|SHOW\s+MODELS|DESCRIBE\s+MODEL|DROP\s+MODEL)\b",
    re.IGNORECASE | re.DOTALL,
)
_FRIENDLY = {
    "NAME": "a name", "QUOTED": "a quoted name", "STRING": "a string literal", "DTYPE": "a dtype",
    "SIGNED_NUMBER": "a number", "LPAR": "'('", "RPAR": "')'", "COMMA": "','", "SLASH": "'/'",
    "EQUAL": "'='", "$END": "end of statement",
}


# ------------------------------------------------------------------ parsing


def parse_model_statement(text: str) -> CreateModel | ShowModels | DescribeModel | DropModel | None:
    """Parse one statement (no ``;``) if it is a model statement, else return None.

    Errors are ``RaiseSyntaxError``/``InvalidDType``/``ValidationError`` with a 1-based line
    and column relative to ``text``.
    """
    if not _LEADING.match(text):
        return None
    return clauses.transform(_lark(), _ToModel(), text, _friendly, "model statement")


def _lark() -> Lark:
    return clauses.grammar("models.lark")


def _friendly(terminal: str) -> str:
    return _FRIENDLY.get(terminal, terminal.strip('"').upper())


def _batch_value(key: Token, value: BatchValue) -> BatchValue:
    name = str(key).lower()
    if name not in BATCH_OPTIONS:
        raise ValidationError(f"unknown BATCH option {str(key)!r}; expected one of "
                              f"{', '.join(BATCH_OPTIONS)}", name=str(key), line=key.line,
                              column=key.column)
    wanted = BATCH_OPTIONS[name]
    if value is None and name in _OPTIONAL_BATCH:
        return None
    if wanted is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if type(value) is not wanted:
        raise ValidationError(f"BATCH option {name} takes {_KINDS[wanted]}, got {value!r}",
                              name=name, line=key.line, column=key.column)
    return value


@v_args(meta=True)
class _ToModel(clauses.CommonTransformer):
    """Map each rule of ``models.lark`` to a statement dataclass (stateless)."""

    def model_ref(self, meta, names) -> ModelRef:
        clauses.check_path(tuple(names), 4, "a model reference", meta)
        return ModelRef(name=names[-1], project=tuple(names[:-1]) or None)

    def column(self, meta, children) -> ModelColumn:
        return ModelColumn(name=children[0], dtype=children[1])

    def number(self, meta, children):
        text = re.sub(r"\s+", "", str(children[0]))
        return float(text) if re.search(r"[.eE]", text) else int(text)

    def true(self, meta, _):
        return True

    def false(self, meta, _):
        return False

    def null(self, meta, _):
        return None

    def batch_item(self, meta, children):
        key, value = children
        return str(key).lower(), _batch_value(key, value)

    def framework(self, meta, children):
        return clauses.option("framework", clauses.word(children[0], FRAMEWORKS, "framework"), meta)

    def precision(self, meta, children):
        return clauses.option("precision", clauses.word(children[0], PRECISIONS, "precision"), meta)

    def version(self, meta, children):
        return clauses.option("version", children[0], meta)

    def task(self, meta, children):
        return clauses.option("task", children[0], meta)

    def description(self, meta, children):
        return clauses.option("description", children[0], meta)

    def inputs(self, meta, children):
        return clauses.option("inputs", _unique(tuple(children), "INPUT", meta), meta)

    def outputs(self, meta, children):
        return clauses.option("outputs", _unique(tuple(children), "OUTPUT", meta), meta)

    def batch(self, meta, children):
        keys = [k for k, _ in children]
        twice = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
        if twice:
            raise RaiseSyntaxError(f"BATCH option {twice} given twice", name=twice,
                                   line=meta.line, column=meta.column)
        return clauses.option("batch", tuple(children), meta)

    def create_model(self, meta, children) -> CreateModel:
        model, uri = clauses.positional(children)
        options = clauses.options(children)
        if "framework" not in options:
            raise RaiseSyntaxError(f"CREATE MODEL needs FRAMEWORK <name>; one of {', '.join(FRAMEWORKS)}",
                                   line=meta.line, column=meta.column)
        if options.pop("if_not_exists", False):
            if options.get("conflict") == "update":
                raise RaiseSyntaxError("OR REPLACE and IF NOT EXISTS exclude each other",
                                       line=meta.line, column=meta.column)
            options["conflict"] = "skip"
        return CreateModel(model=model, uri=uri, **options)

    def show_models(self, meta, children) -> ShowModels:
        return ShowModels(within=children[0] if children else None)

    def describe_model(self, meta, children) -> DescribeModel:
        return DescribeModel(model=children[0])

    def drop_model(self, meta, children) -> DropModel:
        (model,) = clauses.positional(children)
        return DropModel(model=model, **clauses.options(children))


def _unique(columns: tuple[ModelColumn, ...], clause: str, meta) -> tuple[ModelColumn, ...]:
    seen: set[str] = set()
    for column in columns:
        if column.name in seen:
            raise ValidationError(f"{clause} names column {column.name!r} twice", name=column.name,
                                  line=meta.line, column=meta.column)
        seen.add(column.name)
    return columns


# ------------------------------------------------------------------ rendering


def _ref(ref: ModelRef) -> str:
    return "/".join(quote_ident(n) for n in (*(ref.project or ()), ref.name))


def _columns(columns: tuple[ModelColumn, ...]) -> str:
    return "(" + ", ".join(f"{quote_ident(c.name)} {parse_dtype(c.dtype)}" for c in columns) + ")"


def _create(stmt: CreateModel) -> str:
    head = "CREATE OR REPLACE MODEL " if stmt.conflict == "update" else "CREATE MODEL "
    if stmt.conflict == "skip":
        head += "IF NOT EXISTS "
    parts = [head + _ref(stmt.model), "FROM", quote_literal(stmt.uri), "FRAMEWORK", stmt.framework]
    if stmt.version is not None:
        parts += ["VERSION", quote_literal(stmt.version)]
    if stmt.task is not None:
        parts += ["TASK", quote_literal(stmt.task)]
    if stmt.inputs is not None:
        parts += ["INPUT", _columns(stmt.inputs)]
    if stmt.outputs is not None:
        parts += ["OUTPUT", _columns(stmt.outputs)]
    if stmt.precision is not None:
        parts += ["PRECISION", stmt.precision]
    if stmt.batch is not None:
        parts += ["BATCH", "(" + ", ".join(f"{k} = {quote_literal(v)}" for k, v in stmt.batch) + ")"]
    if stmt.description is not None:
        parts += ["DESCRIPTION", quote_literal(stmt.description)]
    return " ".join(parts)


def _show(stmt: ShowModels) -> str:
    if stmt.within is None:
        return "SHOW MODELS"
    return "SHOW MODELS IN " + "/".join(quote_ident(n) for n in stmt.within)


def _describe(stmt: DescribeModel) -> str:
    return "DESCRIBE MODEL " + _ref(stmt.model)


def _drop(stmt: DropModel) -> str:
    return "DROP MODEL " + ("IF EXISTS " if stmt.if_exists else "") + _ref(stmt.model)


_RENDERERS = {CreateModel: _create, ShowModels: _show, DescribeModel: _describe, DropModel: _drop}


def render_model_statement(stmt: CreateModel | ShowModels | DescribeModel | DropModel) -> str:
    """Canonical Raise SQL for a model statement (quoted names, escaped literals)."""
    renderer = _RENDERERS.get(type(stmt))
    if renderer is None:
        raise ValidationError(f"not a model statement: {type(stmt).__name__}")
    return renderer(stmt)


#: ``(parser, {class: renderer})`` for :mod:`grammar.extensions`.
EXTENSION = (parse_model_statement, dict(_RENDERERS))
