"""The vector index statements: CREATE VECTOR INDEX, DROP VECTOR INDEX, SHOW VECTOR INDEXES.

A statement family of its own (grammar in ``vectors.lark``), registered with
:mod:`grammar.extensions` through :data:`EXTENSION`. ``parse_vector_statement(render_vector_statement(s))
== s`` holds for every statement.

>>> s = parse_vector_statement('create vector index on "item-signals" (item_embedding) using hnsw with (m = 16)')
>>> render_vector_statement(s)
'CREATE VECTOR INDEX ON "item-signals" ("item_embedding") USING HNSW WITH (m = 16)'
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from lark import v_args

from grammar import clauses
from grammar.ast import GroupRef
from grammar.errors import RaiseSyntaxError
from grammar.render import quote_ident, quote_literal

__all__ = ["METHODS", "CreateVectorIndex", "DropVectorIndex", "ShowVectorIndexes", "VECTOR_STATEMENTS",
           "parse_vector_statement", "render_vector_statement", "EXTENSION"]

#: Index methods the engine builds.
METHODS = ("hnsw",)
OptionValue = Union[int, float, str]
_frozen = dict(frozen=True, slots=True, kw_only=True)


@dataclass(**_frozen)
class CreateVectorIndex:
    """``CREATE VECTOR INDEX [IF NOT EXISTS] [name] ON group (feature) [USING method] [WITH (...)]``:
    an approximate nearest-neighbour index of an embedding feature (``name`` defaults to
    ``<group>_<feature>_<method>``)."""

    group: GroupRef
    feature: str
    name: str | None = None
    method: str = "hnsw"
    options: tuple[tuple[str, OptionValue], ...] = ()
    if_not_exists: bool = False


@dataclass(**_frozen)
class DropVectorIndex:
    """``DROP VECTOR INDEX [IF EXISTS] [project/]name``: the index and its files."""

    index: GroupRef
    if_exists: bool = False


@dataclass(**_frozen)
class ShowVectorIndexes:
    """``SHOW VECTOR INDEXES [IN group]``: the indexes of one group, else of the current project
    (every visible one without a project)."""

    within: GroupRef | None = None


VECTOR_STATEMENTS: tuple[type, ...] = (CreateVectorIndex, DropVectorIndex, ShowVectorIndexes)

_LEADING = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*(?:CREATE|DROP|SHOW)\s+VECTOR\s+INDEX(?:ES)?\b",
                      re.IGNORECASE | re.DOTALL)
_FRIENDLY = {"NAME": "a name", "QUOTED": "a quoted name", "STRING": "a string literal", "SIGNED_NUMBER": "a number",
             "LPAR": "'('", "RPAR": "')'", "COMMA": "','", "EQUAL": "'='", "$END": "end of statement"}


def parse_vector_statement(text: str) -> CreateVectorIndex | DropVectorIndex | ShowVectorIndexes | None:
    """Parse one statement if it is a vector index statement, else return None."""
    if not _LEADING.match(text):
        return None
    return clauses.transform(clauses.grammar("vectors.lark"), _ToVectors(), text,
                             lambda t: _FRIENDLY.get(t, t.strip('"').upper()), "vector index statement")


@v_args(meta=True)
class _ToVectors(clauses.CommonTransformer):
    def index_name(self, meta, children):
        return clauses.option("name", children[0], meta)

    def using(self, meta, children):
        return clauses.option("method", clauses.word(children[0], METHODS, "vector index method"), meta)

    def with_options(self, meta, children):
        names = [n for n, _ in children]
        if len(set(names)) != len(names):
            raise RaiseSyntaxError("a vector index option is given twice", name=names[0],
                                   line=meta.line, column=meta.column)
        return clauses.option("options", tuple(children), meta)

    def index_option(self, meta, children):
        return str(children[0]).lower(), children[1]

    def number(self, meta, children):
        text = re.sub(r"\s+", "", str(children[0]))
        return float(text) if re.search(r"[.eE]", text) else int(text)

    def string(self, meta, children):
        return children[0]

    def word(self, meta, children):
        return str(children[0]).lower()

    def create_index(self, meta, children) -> CreateVectorIndex:
        group, feature = clauses.positional(children)
        return CreateVectorIndex(group=group, feature=feature, **clauses.options(children))

    def drop_index(self, meta, children) -> DropVectorIndex:
        return DropVectorIndex(index=clauses.positional(children)[0], **clauses.options(children))

    def show_indexes(self, meta, children) -> ShowVectorIndexes:
        return ShowVectorIndexes(within=children[0] if children else None)


def _ref(ref: GroupRef) -> str:
    return "/".join(quote_ident(n) for n in (*(ref.project or ()), ref.name))


def _value(value: OptionValue) -> str:
    return quote_literal(value)


def _create(stmt: CreateVectorIndex) -> str:
    parts = ["CREATE VECTOR INDEX"]
    if stmt.if_not_exists:
        parts.append("IF NOT EXISTS")
    if stmt.name is not None:
        parts.append(quote_ident(stmt.name))
    parts.append(f"ON {_ref(stmt.group)} ({quote_ident(stmt.feature)}) USING {stmt.method.upper()}")
    if stmt.options:
        parts.append("WITH (" + ", ".join(f"{k} = {_value(v)}" for k, v in stmt.options) + ")")
    return " ".join(parts)


def _drop(stmt: DropVectorIndex) -> str:
    return "DROP VECTOR INDEX " + ("IF EXISTS " if stmt.if_exists else "") + _ref(stmt.index)


def _show(stmt: ShowVectorIndexes) -> str:
    return "SHOW VECTOR INDEXES" + (" IN " + _ref(stmt.within) if stmt.within else "")


_RENDERERS = {CreateVectorIndex: _create, DropVectorIndex: _drop, ShowVectorIndexes: _show}


def render_vector_statement(stmt: CreateVectorIndex | DropVectorIndex | ShowVectorIndexes) -> str:
    """Canonical Raise SQL for a vector index statement."""
    return _RENDERERS[type(stmt)](stmt)


#: ``(parser, {class: renderer})`` for :mod:`grammar.extensions`.
EXTENSION = (parse_vector_statement, dict(_RENDERERS))
