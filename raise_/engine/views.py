"""Feature groups as DataFusion views.

Each group's Delta table is registered under a hidden name and exposed as a view named after
the group: key columns, the event-time column, one column per feature (its current version,
under its plain name) and derived features computed from their expressions. So ``SELECT *``
shows each feature once. A pinned version (``"name@v1"``) is a column of the view only when
the query names it (``pinned``): it stays addressable without repeating every feature in ``*``.

Derived expressions are compiled per group: references to the same group read its columns,
references to another group read that group's newest row per shared key (a LEFT JOIN on the
key columns both declare), aggregates without OVER mean "over the whole group", and the
declared dtype decides the result type (integer operands of a float feature are widened first,
so ``click_count / NULLIF(impression_count, 0)`` is a true ratio).

A derived feature that cannot be computed (a missing reference, no shared key, a cycle) is left
out of the view; ``ViewSet.unavailable`` keeps the reason so a query that names it gets that
error instead of "no such column".
"""
from __future__ import annotations

import dataclasses
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from grammar import limits
from grammar.dtypes import FLOATS, INTEGERS, DType, parse_dtype
from grammar.errors import ExecutionError, NotFound, RaiseError, ValidationError
from raise_.engine import names, registry
from raise_.engine.catalog import Catalog
from raise_.engine.ingest import SEQUENCE_COLUMN
from raise_.engine.security.grants import resolve_external
from raise_.lazy import Attributes

if TYPE_CHECKING:
    from grammar.expressions import FeaturePath

#: sqlglot (and ``grammar.expressions``) load with the first view a query builds.
exp = Attributes("sqlglot.expressions")

_DIALECT = "postgres"
_ARROW_NAMES = {
    "int8": "Int8", "int16": "Int16", "int32": "Int32", "int64": "Int64",
    "float16": "Float16", "float32": "Float32", "float64": "Float64",
    "bool": "Boolean", "string": "Utf8", "bytes": "Binary",
    "timestamp": "Timestamp(Microsecond, None)", "date": "Date32",
}


def arrow_cast_name(dtype: DType) -> str | None:
    """The type string DataFusion's ``arrow_cast`` takes for a dtype (None: leave as stored)."""
    if dtype.kind == "primitive":
        return _ARROW_NAMES[dtype.element]
    if dtype.kind == "string":
        return "Utf8"
    if dtype.kind == "embedding":
        return f"FixedSizeList({dtype.size}, {_ARROW_NAMES[dtype.element]})"
    if dtype.kind == "array":
        return f"List({_ARROW_NAMES[dtype.element]})"
    return None


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def column(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=ident(name), table=ident(table) if table else None)


def cast_to(expression: exp.Expression, dtype: DType) -> exp.Expression:
    target = arrow_cast_name(dtype)
    if target is None:
        return expression
    return exp.Anonymous(this="arrow_cast", expressions=[expression, exp.Literal.string(target)])


def hidden_table(group: dict[str, Any]) -> str:
    return f"__raise_g{group['id']}"


@dataclass
class GroupView:
    """The SELECT that defines one group's view, and what it could not include."""

    group: dict[str, Any]
    sql: str
    columns: list[str]
    unavailable: dict[str, RaiseError] = field(default_factory=dict)
    external: bool = False  # it references another organization's features (under grants)
    frame: Any = None  # the planned DataFusion DataFrame, once registered


class _Compiler:
    """Builds the view query of one group; joins other groups as derived features need them."""

    def __init__(self, catalog: Catalog, group: dict[str, Any], stored: Callable[[dict], set[str]],
                 derived: bool = True, table: str | None = None, pinned: frozenset[str] = frozenset()) -> None:
        self.catalog = catalog
        self.table = table or hidden_table(group)  # what the group's own rows are read from
        self.derived = derived
        self.pinned = pinned
        self.group = group
        self.stored = stored  # group record -> physical columns present in its Delta table
        self.joins: dict[str, tuple[str, dict[str, Any], list[str]]] = {}
        self.stack: list[str] = []
        self.external = False  # whether a derived expression names another organization's feature

    # -- references ------------------------------------------------------------------------

    def resolve_group(self, path: FeaturePath, home: dict[str, Any]) -> dict[str, Any]:
        if path.external:
            self.external = True  # even if the grant is refused: it may be granted or expire
            return resolve_external(self.catalog, path, home["project"][0])
        if path.group is None:
            return home
        project = tuple(home["project"])
        given = tuple(p for p in (path.org, path.domain, path.project) if p is not None)
        project = names.complete_path(given, project, 3) if given else project
        return registry.group(self.catalog, project, path.group)

    def reference(self, path: FeaturePath, home: dict[str, Any], alias: str, widen: bool) -> exp.Expression:
        try:
            target = self.resolve_group(path, home)
            if target["key"] != home["key"]:
                alias = self.join_alias(home, target)
            if path.version is None and path.feature in target["columns"][: len(target["keys"]) + bool(target.get("timestamp"))]:
                return column(path.feature, alias)
            record = registry.feature(self.catalog, target["key"], path.feature, path.version)
        except NotFound as error:
            raise broken_reference(path, error) from None
        value = self.feature_value(record, target, alias)
        dtype = parse_dtype(record["dtype"])
        if widen and dtype.kind == "primitive" and dtype.element in INTEGERS:
            value = exp.Cast(this=value, to=exp.DataType.build("DOUBLE"))
        return value

    def join_alias(self, home: dict[str, Any], target: dict[str, Any]) -> str:
        if target["key"] in self.joins:
            return self.joins[target["key"]][0]
        if home["key"] != self.group["key"]:
            raise ValidationError(
                f"{target['key']!r} is reached through another group's derived feature; "
                "reference it directly", code="RAISE-V044", name=target["key"],
            )
        shared = [k["name"] for k in target["keys"] if k["name"] in {h["name"] for h in home["keys"]}]
        if not shared:
            raise ValidationError(
                f"groups {home['name']!r} and {target['name']!r} share no key column; the feature "
                f"needs rows carrying the keys of {target['name']!r} "
                f"({', '.join(k['name'] for k in target['keys']) or 'none declared'})",
                code="RAISE-V045", name=target["name"],
            )
        alias = f"j{len(self.joins) + 1}"
        self.joins[target["key"]] = (alias, target, shared)
        return alias

    def feature_value(self, record: dict[str, Any], group: dict[str, Any], alias: str) -> exp.Expression:
        dtype = parse_dtype(record["dtype"])
        if record.get("derived_as") is None:
            if record["column"] in self.stored(group):
                return cast_to(column(record["column"], alias), dtype)
            return cast_to(exp.Null(), dtype)
        if not self.derived:
            raise ExecutionError(f"derived feature {record['name']!r} could not be planned", name=record["name"])
        return self.derived_value(record, group, alias)

    def derived_value(self, record: dict[str, Any], group: dict[str, Any], alias: str) -> exp.Expression:
        key = record["key"]
        if key in self.stack:
            cycle = " -> ".join(k.rsplit("/", 1)[-1] for k in self.stack + [key])
            raise ValidationError(f"circular derived features: {cycle}", code="RAISE-V041", name=record["name"])
        self.stack.append(key)
        try:
            import sqlglot

            from grammar.expressions import compile_expression, parse_expression

            dtype = parse_dtype(record["dtype"])
            widen = dtype.kind == "primitive" and dtype.element in FLOATS
            parsed = parse_expression(record["derived_as"])
            text = compile_expression(parsed, lambda p: self.reference(p, group, alias, widen))
            # derived features inline the features they name: the sum may pass the limits
            limits.check(text, f"expression of {record['name']!r} with the features it names inlined")
            return cast_to(exp.Paren(this=sqlglot.parse_one(text, read=_DIALECT)), dtype)
        except RecursionError:
            raise limits.too_deep(f"expression of {record['name']!r}") from None
        finally:
            self.stack.pop()

    # -- the view --------------------------------------------------------------------------

    def build(self) -> GroupView:
        g = self.group
        select: list[exp.Expression] = []
        names_out: list[str] = []
        unavailable: dict[str, RaiseError] = {}
        for key in g["keys"]:
            select.append(column(key["name"], "t"))
            names_out.append(key["name"])
        if g.get("timestamp"):
            select.append(column(g["timestamp"], "t"))
            names_out.append(g["timestamp"])
        current = registry.current_features(self.catalog, g["key"])
        for record in registry.versions(self.catalog, g["key"]):
            if record["status"] == "archived":
                continue
            labels = [record["name"]] if current[record["name"]]["key"] == record["key"] else []
            if f"{record['name']}@{record['version']}" in self.pinned:
                labels.append(f"{record['name']}@{record['version']}")
            if not labels:
                continue
            try:
                value = self.feature_value(record, g, "t")
            except RaiseError as error:
                for label in labels:
                    unavailable[label] = error
                continue
            for label in labels:
                select.append(exp.alias_(value.copy(), ident(label)))
                names_out.append(label)
        query = exp.select(*select).from_(exp.Table(this=ident(self.table), alias=exp.TableAlias(this=ident("t"))))
        for alias, target, shared in self.joins.values():
            on = exp.and_(*[exp.EQ(this=column(k, "t"), expression=column(k, alias)) for k in shared])
            has_sequence = SEQUENCE_COLUMN in self.stored(target)
            query = query.join(latest_per_key(target, shared, has_sequence), join_type="left",
                               join_alias=alias, on=on)
        return GroupView(g, query.sql(dialect=_DIALECT), names_out, unavailable, external=self.external)


def broken_reference(path: FeaturePath, error: NotFound) -> NotFound:
    """What reading a ``broken`` derived feature says: which upstream is missing."""
    return NotFound(f"its upstream feature {path.text!r} is missing ({error.message}): it was deleted "
                    "or is not created yet; create it and this feature computes again",
                    code="RAISE-N005", name=path.text)


def latest_per_key(group: dict[str, Any], keys: list[str], has_sequence: bool) -> exp.Expression:
    """``group``'s newest row per ``keys``: latest event time, then latest written."""
    order = []
    if group.get("timestamp"):
        order.append(exp.Ordered(this=column(group["timestamp"]), desc=True, nulls_first=False))
    if has_sequence:
        order.append(exp.Ordered(this=column(SEQUENCE_COLUMN), desc=True, nulls_first=False))
    window = exp.Window(
        this=exp.Anonymous(this="row_number", expressions=[]),
        partition_by=[column(k) for k in keys],
        order=exp.Order(expressions=order) if order else None,
    )
    ranked = exp.select(exp.Star(), exp.alias_(window, ident("__rank"))).from_(ident(hidden_table(group)))
    return exp.select(exp.Star()).from_(ranked.subquery()).where(
        exp.EQ(this=column("__rank"), expression=exp.Literal.number(1))
    ).subquery()


def group_view(catalog: Catalog, group: dict[str, Any], stored: Callable[[dict], set[str]],
               derived: bool = True, table: str | None = None, pinned: frozenset[str] = frozenset()) -> GroupView:
    """The view of ``group``; ``derived=False`` leaves derived features out (a fallback);
    ``table`` names the registered table its rows are read from (a snapshot for time travel);
    ``pinned``: the ``"name@vN"`` labels to include as well (see ``pinned_labels``)."""
    return _Compiler(catalog, group, stored, derived, table, pinned).build()


_QUOTED_PINNED = re.compile(r'"((?:[^"]|"")*@(?:[^"]|"")*)"')


def pinned_labels(sql: str | None) -> frozenset[str]:
    """The pinned-version columns a query names: quoted identifiers with an ``@``
    (``"clicks@v1"``; they must be quoted in SQL). Naming one that is no feature version is
    harmless: the view includes only the versions that exist."""
    return frozenset(m.group(1).replace('""', '"') for m in _QUOTED_PINNED.finditer(sql or ""))


class ViewCache:
    """Built views, so a query does not recompile every derived expression of the groups it
    names (milliseconds of parsing per group).

    An entry is keyed by the catalog's generation (any committed catalog change makes new
    keys) and remembers the stored columns of every table it was built against; it is used
    only while those are unchanged, since a write can add a feature's first column. Views that
    reference another organization's features are not kept: a grant can expire without any
    catalog change.
    """

    def __init__(self, catalog: Catalog, capacity: int = 512) -> None:
        self.catalog = catalog
        self.capacity = capacity
        self._entries: OrderedDict[tuple, tuple[GroupView, list[tuple[dict, frozenset[str]]]]] = OrderedDict()
        self._lock = threading.Lock()

    def view(self, group: dict[str, Any], stored: Callable[[dict], set[str]], derived: bool = True,
             pinned: frozenset[str] = frozenset()) -> GroupView:
        """``group``'s view (``group_view``), from the cache when still valid."""
        generation = self.catalog.generation()
        key = (generation, group["key"], derived, pinned)
        with self._lock:
            entry = self._entries.get(key) if generation is not None else None
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is not None:
            view, consulted = entry
            if all(frozenset(stored(target)) == columns for target, columns in consulted):
                return dataclasses.replace(view, unavailable=dict(view.unavailable), frame=None)
        seen: dict[str, tuple[dict, frozenset[str]]] = {}

        def recording(target: dict[str, Any]) -> set[str]:
            columns = stored(target)
            seen[target["key"]] = (target, frozenset(columns))
            return columns

        view = group_view(self.catalog, group, recording, derived, pinned=pinned)
        if generation is not None and not view.external:  # a grant can expire: see class doc
            with self._lock:
                self._entries[key] = (view, list(seen.values()))
                while len(self._entries) > self.capacity:
                    self._entries.popitem(last=False)
        return dataclasses.replace(view, unavailable=dict(view.unavailable))
