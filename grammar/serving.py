"""The online store statements: MATERIALIZE, SHOW ONLINE STATUS and LOOKUP ONLINE.

>>> stmt = parse_serving_statement('LOOKUP ONLINE "user-signals" (clicks, ctr) WHERE user_id IN (1, ?)')
>>> stmt.values
(1, Parameter(index=None))
>>> render_serving_statement(stmt)
'LOOKUP ONLINE "user-signals" ("clicks", "ctr") WHERE "user_id" IN (1, ?)'
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from lark import Lark, v_args

from grammar import clauses
from grammar.ast import GroupRef
from grammar.errors import ValidationError
from grammar.render import quote_ident, quote_literal

_frozen = dict(frozen=True, slots=True, kw_only=True)


@dataclass(**_frozen)
class Parameter:
    """A bound value: ``?`` (the next parameter, ``index=None``) or ``$n`` (1-based)."""

    index: int | None = None


KeyValue = Union[int, float, str, None, Parameter]


@dataclass(**_frozen)
class Materialize:
    """``MATERIALIZE group [SINCE VERSION n]``: copy the newest row per key of the group's
    stored features into the online store, from the Delta change feed after the last run (or
    after table version ``since``)."""

    group: GroupRef
    since: int | None = None


@dataclass(**_frozen)
class ShowOnlineStatus:
    """``SHOW ONLINE STATUS [IN path]``: each materialized group of a project (the current one
    by default, every visible one without a project)."""

    within: tuple[str, ...] | None = None


@dataclass(**_frozen)
class LookupOnline:
    """``LOOKUP ONLINE group (feature, ...) WHERE key IN (value, ...)``: the online values of
    the features for each key, one row per key in the order given (NULLs for unknown keys).
    A group with several key columns is looked up by tuples: ``key`` is then a tuple of names
    and each of ``values`` a tuple of as many values (``WHERE (a, b) IN ((1, 'x'), (?, ?))``)."""

    group: GroupRef
    features: tuple[str, ...]
    key: str | tuple[str, ...]
    values: tuple[KeyValue | tuple[KeyValue, ...], ...]


SERVING_STATEMENTS: tuple[type, ...] = (Materialize, ShowOnlineStatus, LookupOnline)

_LEADING = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*(?:MATERIALIZE|SHOW\s+ONLINE|LOOKUP\s+ONLINE)\b",
                      re.IGNORECASE | re.DOTALL)
_FRIENDLY = {"NAME": "a name", "QUOTED": "a quoted name", "STRING": "a string literal", "INT": "a version number",
             "SIGNED_NUMBER": "a number", "LPAR": "'('", "RPAR": "')'", "COMMA": "','", "$END": "end of statement"}


def parse_serving_statement(text: str) -> Materialize | ShowOnlineStatus | LookupOnline | None:
    """Parse one statement if it is an online store statement, else return None."""
    if not _LEADING.match(text):
        return None
    return clauses.transform(_lark(), _ToServing(), text, lambda t: _FRIENDLY.get(t, t.strip('"').upper()),
                             "online store statement")


def _lark() -> Lark:
    return clauses.grammar("serving.lark")


@v_args(meta=True)
class _ToServing(clauses.CommonTransformer):
    def since(self, meta, children):
        return int(children[0])

    def materialize(self, meta, children) -> Materialize:
        return Materialize(group=children[0], since=children[1] if len(children) > 1 else None)

    def show_online(self, meta, children) -> ShowOnlineStatus:
        return ShowOnlineStatus(within=children[0] if children else None)

    def feature(self, meta, children) -> str:
        return "@".join(children)

    def number(self, meta, children):
        text = re.sub(r"\s+", "", str(children[0]))
        return float(text) if re.search(r"[.eE]", text) else int(text)

    def string(self, meta, children):
        return children[0]

    def null(self, meta, _):
        return None

    def parameter(self, meta, children):
        return Parameter(index=int(str(children[0])[1:]) if children else None)

    def features(self, meta, children) -> tuple[str, ...]:
        if len(set(children)) != len(children):
            raise ValidationError("LOOKUP ONLINE names a feature twice", code="RAISE-V179",
                                  line=meta.line, column=meta.column)
        return tuple(children)

    def values(self, meta, children) -> tuple[KeyValue, ...]:
        return tuple(children)

    def row(self, meta, children) -> tuple[KeyValue, ...]:
        return tuple(children)

    def lookup_key(self, meta, children) -> str:
        return children[0]

    def key_tuple(self, meta, children) -> tuple[str, ...]:
        return tuple(children)

    def lookup(self, meta, children) -> LookupOnline:
        group, features, key, keys = children
        width = len(key) if isinstance(key, tuple) else None
        if any((len(v) if isinstance(v, tuple) else None) != width for v in keys):
            wanted = f"tuples of {width} values" if width else "single values"
            raise ValidationError(f"LOOKUP ONLINE by {_key_text(key)} takes {wanted}", code="RAISE-V185",
                                  line=meta.line, column=meta.column)
        return LookupOnline(group=group, features=features, key=key, values=keys)


def _ref(ref: GroupRef) -> str:
    return "/".join(quote_ident(n) for n in (*(ref.project or ()), ref.name))


def _value(value: KeyValue) -> str:
    if isinstance(value, Parameter):
        return "?" if value.index is None else f"${value.index}"
    return quote_literal(value)


def _materialize(stmt: Materialize) -> str:
    return "MATERIALIZE " + _ref(stmt.group) + (f" SINCE VERSION {stmt.since}" if stmt.since is not None else "")


def _show(stmt: ShowOnlineStatus) -> str:
    return "SHOW ONLINE STATUS" + (" IN " + "/".join(quote_ident(n) for n in stmt.within) if stmt.within else "")


def _key_text(key: str | tuple[str, ...]) -> str:
    return f"({', '.join(quote_ident(k) for k in key)})" if isinstance(key, tuple) else quote_ident(key)


def _item(value: KeyValue | tuple[KeyValue, ...]) -> str:
    return f"({', '.join(_value(v) for v in value)})" if isinstance(value, tuple) else _value(value)


def _lookup(stmt: LookupOnline) -> str:
    features = ", ".join("@".join(quote_ident(p) for p in f.split("@", 1)) for f in stmt.features)
    return (f"LOOKUP ONLINE {_ref(stmt.group)} ({features}) WHERE {_key_text(stmt.key)} IN "
            f"({', '.join(_item(v) for v in stmt.values)})")


_RENDERERS = {Materialize: _materialize, ShowOnlineStatus: _show, LookupOnline: _lookup}


def render_serving_statement(stmt: Materialize | ShowOnlineStatus | LookupOnline) -> str:
    """Canonical Raise SQL for an online store statement."""
    return _RENDERERS[type(stmt)](stmt)


#: ``(parser, {class: renderer})`` for :mod:`grammar.extensions`.
EXTENSION = (parse_serving_statement, dict(_RENDERERS))
