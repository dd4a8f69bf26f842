"""``ASOF [LEFT] JOIN`` as DuckDB writes it, an operator of the Raise engine.

DataFusion has no as-of join, so the engine runs it itself before DataFusion plans the rest:

    SELECT l.user_id, l.label, s.click_count
    FROM labels l ASOF LEFT JOIN "user-signals" s
      ON l.user_id = s.user_id AND l.event_time >= s.event_time

Each side of the join is a query of its own (``SELECT <the columns the statement uses> FROM
<side>``), planned, authorized and audited like any query and computed by DataFusion. The
join pairs every left row with the right row of the same key whose time is the latest at or
before the left row's (``>``: strictly before), ties going to the row written last (the
``__raise_seq`` stamp of feature-group rows), in a Numba sort-merge per key
(``udfs.asof``). The joined rows become one registered table and the statement is rewritten
to read it, so whatever surrounds the join (filters, other joins, aggregates) runs in
DataFusion as usual. ``ASOF LEFT JOIN`` keeps left rows without a match (NULL right columns),
``ASOF JOIN`` drops them. Several as-of joins may follow one FROM; each ON compares columns of
the relations before it with the new one: equalities (the keys) and exactly one ``>=`` or
``>`` (the times, left side first, or ``<=``/``<`` with the right side first).
"""
from __future__ import annotations

import itertools
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from grammar.errors import RaiseError, TypeMismatch, Unsupported, ValidationError
from raise_ import lazy
from raise_.engine import names, registry
from raise_.engine.ingest import SEQUENCE_COLUMN
from raise_.serving import progress

if TYPE_CHECKING:
    from raise_.engine.query import QueryContext

__all__ = ["rewrite"]

_DIALECT = "duckdb"
_ASOF = re.compile(r"\bASOF\b", re.IGNORECASE)
_TABLE = "__raise_asof_{}"
_counter = itertools.count(1)
#: ``time comparison -> strict``, with the left relation's column on the left.
#: sqlglot loads with the first query that has an ASOF JOIN.
sqlglot = lazy.module("sqlglot")
exp = lazy.Attributes("sqlglot.expressions")
#: The time comparisons by sqlglot class name, each strict or not (l >= r looks back in time).
_FORWARD = {"GTE": False, "GT": True}
_BACKWARD = {"LTE": False, "LT": True}


def rewrite(context: "QueryContext", sql: str) -> str:
    """``sql`` with every as-of join computed and replaced by a read of its result (SQL
    without ``ASOF`` is returned unchanged, without parsing)."""
    if not _ASOF.search(sql):
        return sql
    try:
        tree = sqlglot.parse_one(sql, read=_DIALECT)
    except sqlglot.errors.SqlglotError:
        return sql  # DataFusion reports the syntax error with its own positions
    selects = [s for s in tree.find_all(exp.Select) if any(_is_asof(j) for j in s.args.get("joins") or ())]
    if not selects:
        return sql
    for select in reversed(selects):  # inner queries first
        _AsofSelect(context, tree, select).run()
    return tree.sql(_DIALECT)


def _is_asof(join: exp.Join) -> bool:
    return (join.args.get("method") or "").upper() == "ASOF"


@dataclass
class _Side:
    """One relation of the join: its alias, its expression and the columns it offers."""

    alias: str
    relation: exp.Expression
    schema: pa.Schema
    group: dict[str, Any] | None = None
    used: set[str] = field(default_factory=set)  # read by the statement (or a later ON): joined in
    joined: set[str] = field(default_factory=set)  # read by its own ON only: not carried on
    data: pa.Table | None = None


@dataclass(frozen=True)
class _Condition:
    """One as-of join's ON: key pairs and the time pair, as (side alias, column)."""

    keys: list[tuple[tuple[str, str], tuple[str, str]]]
    times: tuple[tuple[str, str], tuple[str, str]]
    strict: bool
    inner: bool


class _AsofSelect:
    """One SELECT whose FROM is followed by as-of joins."""

    def __init__(self, context: "QueryContext", tree: exp.Expression, select: exp.Select) -> None:
        self.context, self.tree, self.select = context, tree, select
        joins = select.args["joins"]
        count = next((i for i, j in enumerate(joins) if not _is_asof(j)), len(joins))
        if any(_is_asof(j) for j in joins[count:]):
            raise Unsupported("an ASOF JOIN must directly follow FROM (or another ASOF JOIN); "
                              "join other tables after it", code="RAISE-X170")
        self.asof, self.rest = joins[:count], joins[count:]
        self.sides = [self._side(select.args["from_"].this)] + [self._side(j.this) for j in self.asof]
        self.by_alias = {s.alias: s for s in self.sides}
        if len(self.by_alias) != len(self.sides):
            raise ValidationError("the relations of an ASOF JOIN need distinct aliases", code="RAISE-V170")

    def _side(self, relation: exp.Expression) -> _Side:
        alias = relation.alias_or_name
        side = _Side(alias, relation, self._plan(exp.select(exp.Star()).from_(relation.copy())).schema())
        if isinstance(relation, exp.Table) and relation.args.get("version") is None:
            side.group = _group_of(self.context, relation)
        return side

    def _plan(self, query: exp.Select):
        with_ = self.tree.args.get("with")
        if with_ is not None and query is not self.tree:
            query.set("with", with_.copy())
        return self.context.dataframe(query.sql(_DIALECT))

    # -- running ---------------------------------------------------------------------------

    def run(self) -> None:
        conditions = [self._condition(j, i + 1) for i, j in enumerate(self.asof)]
        self._collect_used()
        for condition in conditions:
            for left, right in [*condition.keys, condition.times]:
                self.by_alias[left[0]].used.add(left[1])
                self.by_alias[right[0]].joined.add(right[1])
        with progress.bar(2 * len(self.sides) - 1, "training set (as-of join)") as shown:
            for side in self.sides:
                shown.set_postfix_str(f"reading {side.alias}")
                side.data = self._read(side)
                shown.update()
            table = self._join(conditions, shown)
        for side in self.sides:  # the sides' rows are in the joined table or no longer needed
            side.data = None
        # the join's scratch (the size of the sides: hundreds of MB for 10M feature rows) goes
        # back to the system now, not when the allocator next gets round to it
        pa.default_memory_pool().release_unused()
        name = _TABLE.format(next(_counter))
        self.context.ctx.register_record_batches(name, [table.to_batches(max_chunksize=131072) or
                                                        [pa.record_batch([], schema=table.schema)]])
        self.context.checked.add(name)
        self._rewrite(name)

    def _read(self, side: _Side) -> pa.Table:
        columns = [exp.column(c, table=side.alias, quoted=True) for c in side.schema.names
                   if c in side.used | side.joined]
        if side.group is not None and self._sequenced(side):
            columns.append(exp.column(SEQUENCE_COLUMN, table=side.alias, quoted=True))
        if not columns:  # nothing read but the row count
            columns = [exp.alias_(exp.Literal.number(1), "__raise_one")]
        relation = side.relation.copy()
        if side.group is not None and self._sequenced(side):
            relation = exp.Table(this=exp.to_identifier(sequenced_view(self.context, side.group), quoted=True),
                                 alias=exp.TableAlias(this=exp.to_identifier(side.alias, quoted=True)))
        query = exp.select(*columns).from_(relation)
        with_ = self.tree.args.get("with")
        if with_ is not None:
            query.set("with", with_.copy())
        return self.context.run(query.sql(_DIALECT))

    def _sequenced(self, side: _Side) -> bool:
        return SEQUENCE_COLUMN in self.context.stored_columns(side.group)

    def _join(self, conditions: list[_Condition], shown) -> pa.Table:
        left = self.sides[0]
        rows = left.data.num_rows
        columns: dict[str, pa.ChunkedArray] = {f"{left.alias}.{c}": left.data.column(c)
                                               for c in left.data.column_names if c in left.used}
        keep = np.ones(rows, dtype=bool)
        for side, condition in zip(self.sides[1:], conditions):
            matches = self._match(columns, side, condition)
            if condition.inner:
                keep &= matches >= 0
            indices = pa.array(matches, mask=matches < 0)
            wanted = [c for c in side.data.column_names if c in side.used]
            # one array per column, not DataFusion's many batches (a chunked take is much
            # slower), and the columns in parallel (Arrow's take runs without the GIL)
            with ThreadPoolExecutor(max(1, min(len(wanted), os.cpu_count() or 1))) as pool:
                taken = pool.map(lambda c: side.data.column(c).combine_chunks().take(indices), wanted)
                columns.update({f"{side.alias}.{c}": values for c, values in zip(wanted, taken)})
            shown.update()
        table = pa.table(columns) if columns else pa.table({"__raise_one": pa.nulls(rows, pa.int8())})
        return table if keep.all() else table.filter(pa.array(keep))

    def _match(self, columns: dict[str, pa.ChunkedArray], side: _Side, condition: _Condition) -> np.ndarray:
        def left_column(ref: tuple[str, str]) -> pa.ChunkedArray:
            return columns[f"{ref[0]}.{ref[1]}"]

        data = side.data
        left_keys, right_keys, count = dense_keys([left_column(a) for a, _ in condition.keys],
                                                  [data.column(b[1]) for _, b in condition.keys],
                                                  [b[1] for _, b in condition.keys])
        (la, lname), (_, rname) = condition.times
        left_times, left_null = epoch_values(left_column((la, lname)), data.column(rname), lname, rname)
        right_times, right_null = epoch_values(data.column(rname), left_column((la, lname)), rname, lname)
        left_keys[left_null] = -1
        right_keys[right_null] = -1
        order = (data.column(SEQUENCE_COLUMN).to_numpy() if SEQUENCE_COLUMN in data.column_names
                 else np.arange(data.num_rows, dtype=np.int64))
        from udfs.asof import asof_match  # Numba loads on the first as-of join, not at import

        return asof_match(left_keys, left_times, right_keys, right_times, order, count, condition.strict)

    # -- the statement ---------------------------------------------------------------------

    def _condition(self, join: exp.Join, index: int) -> _Condition:
        if join.args.get("using") or join.args.get("on") is None:
            raise Unsupported("ASOF JOIN ... USING is not supported: write ON l.key = r.key AND "
                              "l.time >= r.time", code="RAISE-X170")
        right = self.sides[index].alias
        before = {s.alias for s in self.sides[:index]}
        keys, times = [], []
        for term in join.args["on"].flatten() if isinstance(join.args["on"], exp.And) else [join.args["on"]]:
            pair = self._pair(term, before, right)
            (keys if isinstance(term, exp.EQ) else times).append(pair)
        if len(times) != 1:
            raise ValidationError(f"ASOF JOIN {right!r} needs exactly one time comparison (l.time >= r.time), "
                                  f"got {len(times)}", code="RAISE-V170", name=right)
        (left_ref, right_ref), strict = times[0]
        side = (join.args.get("side") or "").upper()
        return _Condition([p for p, _ in keys], (left_ref, right_ref), strict, inner=side != "LEFT")

    def _pair(self, term: exp.Expression, before: set[str], right: str):
        kind = type(term).__name__
        if kind not in ("EQ", *_FORWARD, *_BACKWARD):
            raise ValidationError(f"an ASOF JOIN condition compares columns with = and one >=/>; got "
                                  f"{term.sql(_DIALECT)!r}", code="RAISE-V170", name=term.sql(_DIALECT))
        a, b = (self._ref(c, before | {right}, term) for c in (term.this, term.expression))
        if a[0] == right and b[0] in before:
            a, b = b, a
            kind = {"EQ": "EQ", "LTE": "GTE", "LT": "GT", "GTE": "LTE", "GT": "LT"}[kind]
        if a[0] not in before or b[0] != right:
            raise ValidationError(f"{term.sql(_DIALECT)!r} must compare a column of {right!r} with one of "
                                  f"{', '.join(sorted(before))}", code="RAISE-V170", name=right)
        if kind in _BACKWARD:
            raise Unsupported(f"{term.sql(_DIALECT)!r} looks forward in time; Raise's ASOF JOIN finds the "
                              "latest row at or before the left time (l.time >= r.time)", code="RAISE-X170")
        return (a, b), _FORWARD.get(kind, False)

    def _ref(self, node: exp.Expression, allowed: set[str], term: exp.Expression) -> tuple[str, str]:
        if not isinstance(node, exp.Column):
            raise ValidationError(f"ASOF JOIN conditions compare plain columns; got {node.sql(_DIALECT)!r}",
                                  code="RAISE-V170", name=term.sql(_DIALECT))
        owner = self._owner(node, allowed)
        if owner is None:
            where = node.table or " or ".join(sorted(allowed))
            raise ValidationError(f"no column {node.name!r} in {where} (ASOF JOIN condition "
                           f"{term.sql(_DIALECT)!r})", code="RAISE-V171", name=node.name)
        return owner, node.name

    def _owner(self, node: exp.Column, allowed: set[str]) -> str | None:
        """The alias of the side ``node`` reads, or None (another relation's column)."""
        if node.table:
            side = self.by_alias.get(node.table)
            return node.table if side is not None and node.table in allowed and node.name in side.schema.names \
                else None
        found = [s.alias for s in self.sides if s.alias in allowed and node.name in s.schema.names]
        if len(found) > 1:
            raise ValidationError(f"column {node.name!r} is ambiguous: {' and '.join(found)} both have it; "
                                  "qualify it", code="RAISE-V172", name=node.name)
        return found[0] if found else None

    def _outer_columns(self):
        """Columns of the statement outside the joined relations' own subqueries."""
        inside = {id(s.relation) for s in self.sides}
        for node in list(self.select.find_all(exp.Column)):
            parent, skip = node.parent, False
            while parent is not None and parent is not self.select:
                if id(parent) in inside:
                    skip = True
                    break
                parent = parent.parent
            if not skip:
                yield node

    def _collect_used(self) -> None:
        everything = {s.alias for s in self.sides}
        for star in self.select.expressions:
            if isinstance(star, exp.Star):
                for side in self.sides:
                    side.used.update(side.schema.names)
        for node in self._outer_columns():
            if isinstance(node.this, exp.Star):
                if node.table in self.by_alias:
                    self.by_alias[node.table].used.update(self.by_alias[node.table].schema.names)
                continue
            owner = self._owner(node, everything)
            if owner is not None:
                self.by_alias[owner].used.add(node.name)

    def _rewrite(self, table: str) -> None:
        everything = {s.alias for s in self.sides}

        def read(alias: str, name: str) -> exp.Column:
            return exp.column(f"{alias}.{name}", table=table, quoted=True)

        projections, shown = [], set()

        def named(alias: str, name: str) -> exp.Expression:
            # DataFusion refuses two output columns of one name, which DuckDB allows: a name
            # already shown by ``*`` comes again qualified (``s.user_id``)
            label = name if name not in shown else f"{alias}.{name}"
            shown.add(label)
            return exp.alias_(read(alias, name), label, quoted=True)

        for item in self.select.expressions:
            if isinstance(item, exp.Star):
                projections += [named(s.alias, c) for s in self.sides for c in s.schema.names]
                projections += [exp.Column(this=exp.Star(), table=exp.to_identifier(j.this.alias_or_name))
                                for j in self.rest]
            elif isinstance(item, exp.Column) and isinstance(item.this, exp.Star) and item.table in self.by_alias:
                side = self.by_alias[item.table]
                projections += [named(side.alias, c) for c in side.schema.names]
            else:
                projections.append(item)
        self.select.set("expressions", projections)
        for node in list(self._outer_columns()):
            if isinstance(node.this, exp.Star) or node.table == table:
                continue
            owner = self._owner(node, everything)
            if owner is None:
                continue
            replacement = read(owner, node.name)
            if node.parent is self.select:
                replacement = exp.alias_(replacement, node.name, quoted=True)
            node.replace(replacement)
        self.select.set("from_", exp.From(this=exp.Table(this=exp.to_identifier(table, quoted=True))))
        self.select.set("joins", self.rest or None)


# -- values ----------------------------------------------------------------------------------


def dense_keys(left: list[pa.ChunkedArray], right: list[pa.ChunkedArray],
               names_: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Key ids shared by both sides (-1 for a NULL in any key column) and how many there are."""
    rows = len(left[0]) if left else 0
    if len(left) == 1:
        dense = _integer_range(*_common(left[0], right[0], names_[0]))
        if dense is not None:
            return dense
    codes: np.ndarray | None = None
    for lcol, rcol, name in zip(left, right, names_):
        lcol, rcol = _common(lcol, rcol, name)
        encoded = pc.dictionary_encode(pa.chunked_array(lcol.chunks + rcol.chunks, type=lcol.type)
                                       .combine_chunks())
        ids = pc.fill_null(encoded.indices.cast(pa.int64()), -1).to_numpy()
        size = len(encoded.dictionary)
        codes = ids if codes is None else np.where((codes < 0) | (ids < 0), -1, codes * size + ids)
    if codes is None:  # no key columns: one key for all rows
        return np.zeros(rows, np.int64), np.zeros(len(right[0]) if right else 0, np.int64), 1
    if len(left) > 1:
        encoded = pc.dictionary_encode(pa.array(codes, mask=codes < 0))
        codes = pc.fill_null(encoded.indices.cast(pa.int64()), -1).to_numpy()
    count = int(codes.max(initial=-1)) + 1
    return codes[:rows].copy(), codes[rows:].copy(), count


def _integer_range(left: pa.ChunkedArray, right: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Integer keys in a range not much wider than the rows: the value itself (less the least
    one) is the key id, with no hashing."""
    if not pa.types.is_integer(left.type):
        return None
    bounds = [pc.min_max(c).as_py() for c in (left, right)]
    lows = [b["min"] for b in bounds if b["min"] is not None]
    if not lows:
        return np.full(len(left), -1, np.int64), np.full(len(right), -1, np.int64), 0
    low, high = min(lows), max(b["max"] for b in bounds if b["max"] is not None)
    if high - low > 2 * (len(left) + len(right)) + 1024:
        return None
    return _offsets(left, low), _offsets(right, low), high - low + 1


def _offsets(values: pa.ChunkedArray, low: int) -> np.ndarray:
    array = values.combine_chunks().cast(pa.int64())
    out = array.to_numpy(zero_copy_only=False) if array.null_count == 0 else pc.fill_null(array, low - 1).to_numpy()
    return out - low


def _common(a: pa.ChunkedArray, b: pa.ChunkedArray, name: str) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    if a.type == b.type:
        return a, b
    for kind in (pa.types.is_integer, pa.types.is_string, pa.types.is_large_string):
        if kind(a.type) and kind(b.type):
            target = pa.int64() if kind is pa.types.is_integer else a.type
            return a.cast(target), b.cast(target)
    if pa.types.is_string(a.type) and pa.types.is_large_string(b.type) or \
            pa.types.is_large_string(a.type) and pa.types.is_string(b.type):
        return a.cast(pa.large_string()), b.cast(pa.large_string())
    raise TypeMismatch(f"ASOF JOIN key {name!r} compares {a.type} with {b.type}", code="RAISE-V173", name=name)


def epoch_values(values: pa.ChunkedArray, other: pa.ChunkedArray, name: str,
                 other_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Times as int64 (microseconds for timestamps and dates, the value for integers) and
    their NULL mask; both sides of a comparison must be times, or both integers."""
    temporal = pa.types.is_timestamp(values.type) or pa.types.is_date(values.type)
    other_temporal = pa.types.is_timestamp(other.type) or pa.types.is_date(other.type)
    if not (temporal or pa.types.is_integer(values.type)) or temporal != other_temporal \
            and (pa.types.is_integer(other.type) or other_temporal):
        raise TypeMismatch(f"ASOF JOIN compares {name!r} ({values.type}) with {other_name!r} ({other.type}); "
                           "the time columns must both be timestamps (or dates, or integers)",
                           code="RAISE-V174", name=name)
    if temporal:
        if pa.types.is_date(values.type):
            values = values.cast(pa.timestamp("s")) if pa.types.is_date32(values.type) else values.cast(pa.timestamp("ms"))
        tz = values.type.tz
        values = values.cast(pa.timestamp("us", tz)).cast(pa.int64())
    else:
        values = values.cast(pa.int64())
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if array.null_count == 0:
        return array.to_numpy(zero_copy_only=False), np.zeros(len(array), dtype=bool)
    return pc.fill_null(array, 0).to_numpy(), array.is_null().to_numpy(zero_copy_only=False)


def sequenced_view(context: "QueryContext", group: dict[str, Any]) -> str:
    """A view of ``group`` that also shows each row's write stamp (``__raise_seq``), which the
    group's own view leaves out; reading it is checked as reading the group."""
    name = f"__raise_seqview_{group['id']}"
    if not context.ctx.table_exist(name):
        view = context.views.get(group["key"]) or context.add_view(group)
        tree = sqlglot.parse_one(view.sql, read="postgres")
        tree = tree.select(exp.column(SEQUENCE_COLUMN, table="t", quoted=True))
        context.ctx.register_view(name, context.ctx.sql(tree.sql("postgres")))
    return name


def _group_of(context: "QueryContext", table: exp.Table) -> dict[str, Any] | None:
    """The feature group a FROM item names (None for another table: a CTE, a temporary table)."""
    session = context.session
    parts = [p for p in (table.catalog, table.db) if p]
    try:
        if parts:
            project = (parts[0], *parts[1].split("/")) if len(parts) == 2 else tuple(parts[0].split("/"))
            return registry.group(session.catalog, names.complete_path(project, session.project, 3), table.name)
        if session.project is None:
            return None
        return registry.group(session.catalog, session.project, table.name)
    except RaiseError:
        return None
