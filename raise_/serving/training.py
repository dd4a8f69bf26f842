"""Point-in-time correct training sets: ``FeatureStore.get_training_data`` compiled to an
``ASOF LEFT JOIN`` per feature group.

The entity rows (keys, a timestamp, labels...; a SQL query's result) go to the engine as the
session's temporary table ``__raise_entities``, and the call becomes one Raise SQL query any
SQL client could send:

    SELECT e."user_id", e."event_time", e."label", g1."click_count" AS "click_count"
    FROM "__raise_entities" AS e
    ASOF LEFT JOIN "user-signals" AS g1 ON e."user_id" = g1."user_id" AND e."event_time" >= g1."event_time"
    ORDER BY e."__raise_row"

``ttl`` nulls a group's features where its row is older than the entity time minus ``ttl``
(a CASE over the joined row's event time), ``inclusive=False`` writes ``>`` instead of ``>=``.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pyarrow as pa
from sqlglot import exp

from grammar.errors import TypeMismatch, Unsupported, ValidationError
from raise_.sdk import compile as sql
from raise_.sdk.data import _arrow, column_names
from raise_.sdk.feature import Feature, FeatureInfo, describe
from raise_.sdk.group import GroupInfo, describe_group

if TYPE_CHECKING:
    from raise_.sdk.context import Executor

__all__ = ["training_query", "get_training_data", "parse_ttl"]

ENTITIES = "__raise_entities"
ROW = "__raise_row"
_TTL = re.compile(r"\A\s*(\d+(?:\.\d+)?)\s*(us|ms|s|m|h|d|w)\s*\Z")
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class _Requested:
    info: FeatureInfo
    label: str  # the column name asked for: name or name@version


def parse_ttl(ttl: dt.timedelta | str | None) -> dt.timedelta | None:
    """``timedelta(days=7)`` or ``"7d"`` (``us``, ``ms``, ``s``, ``m``, ``h``, ``d``, ``w``)."""
    if ttl is None or isinstance(ttl, dt.timedelta):
        if ttl is not None and ttl <= dt.timedelta(0):
            raise ValidationError(f"ttl must be positive, got {ttl}", code="RAISE-V176", name=str(ttl))
        return ttl
    match = _TTL.match(ttl) if isinstance(ttl, str) else None
    if match is None:
        raise ValidationError(f"ttl is a timedelta or a duration such as '7d', '12h', '30m'; got {ttl!r}",
                              code="RAISE-V176", name=str(ttl))
    return parse_ttl(dt.timedelta(seconds=float(match[1]) * _UNITS[match[2]]))


def _feature(executor: "Executor", spec: Any, context: tuple[str, ...]) -> _Requested:
    """A requested feature: ``"group.feature"``, ``"group/feature"``, ``"feature@v1"`` forms,
    a full path, or a ``Feature``."""
    if isinstance(spec, Feature):
        return _Requested(spec.info, spec.name)
    if not isinstance(spec, str):
        raise ValidationError(f"features are 'group.feature' strings or Feature objects, got {spec!r}",
                              code="RAISE-V177", name=repr(spec))
    path = spec.lstrip("@")
    head, _, last = path.rpartition("/")
    if "." in last:
        group, _, name = last.partition(".")
        path = f"{head}/{group}/{name}" if head else f"{group}/{name}"
    project, group, name = sql.split_feature_path(path, context)
    return _Requested(describe(executor, sql.feature_ref(project, group, name)), name)


def _check_derived(item: _Requested) -> None:
    home = "/".join((*item.info.project, item.info.group)) + "/"
    if item.info.derived_from is not None and any(not u.lstrip("@").startswith(home) for u in item.info.upstream):
        raise Unsupported(
            f"derived feature {item.info.name!r} reads other feature groups; a training set would need "
            "each of them joined as of the entity time, which Raise does not do yet: request the "
            "upstream features instead", code="RAISE-X171", name=item.info.name)


def entity_table(entities: Any) -> pa.Table:
    """Entity rows as an Arrow table (a pyarrow Table, a pandas/polars DataFrame, a list of dicts)."""
    if isinstance(entities, list):
        column_names(entities)  # checks every row is a dict
        table = pa.Table.from_pylist(entities)
    else:
        table = _arrow(entities, {})  # entity rows carry keys and times, never blob columns
    return table


def _check_entities(schema: pa.Schema, groups: dict[tuple, GroupInfo], timestamp_column: str) -> None:
    if timestamp_column not in schema.names:
        raise ValidationError(f"the entity rows have no timestamp column {timestamp_column!r}; columns: "
                              f"{', '.join(schema.names)}", code="RAISE-V171", name=timestamp_column)
    kind = schema.field(timestamp_column).type
    if not (pa.types.is_timestamp(kind) or pa.types.is_date(kind)):
        raise TypeMismatch(f"entity column {timestamp_column!r} is {kind}, not a timestamp",
                           code="RAISE-V174", name=timestamp_column)
    for info in groups.values():
        if info.timestamp_column is None:
            raise ValidationError(f"feature group {info.name!r} has no event-time column: its rows have no "
                                  "time to join as of", code="RAISE-V178", name=info.name)
        missing = [k for k in info.key_columns if k not in schema.names]
        if missing:
            raise ValidationError(f"the entity rows lack key column {missing[0]!r} of feature group "
                                  f"{info.name!r}", code="RAISE-V171", name=missing[0])


def training_query(entity_columns: Sequence[str], requested: list[_Requested], groups: dict[tuple, GroupInfo],
                   timestamp_column: str, ttl: dt.timedelta | None, inclusive: bool,
                   source: exp.Expression, context: tuple[str, ...]) -> exp.Select:
    """The ASOF LEFT JOIN query of a training set (``source``: the entity relation)."""
    aliases = {key: f"g{i + 1}" for i, key in enumerate(groups)}
    names = [r.label for r in requested]
    projection: list[exp.Expression] = [exp.column(c, table="e", quoted=True) for c in entity_columns]
    for item in requested:
        key = (*item.info.project, item.info.group)
        alias = aliases[key]
        value: exp.Expression = exp.column(item.label, table=alias, quoted=True)
        if ttl is not None:
            value = _within(value, alias, groups[key].timestamp_column, timestamp_column, ttl)
        label = item.label if names.count(item.label) == 1 else f"{item.info.group}.{item.label}"
        projection.append(exp.alias_(value, label, quoted=True))
    query = exp.select(*projection).from_(exp.alias_(source, "e", table=True))
    for key, alias in aliases.items():
        info = groups[key]
        on = [exp.EQ(this=exp.column(k, table="e", quoted=True), expression=exp.column(k, table=alias, quoted=True))
              for k in info.key_columns]
        compare = exp.GTE if inclusive else exp.GT
        on.append(compare(this=exp.column(timestamp_column, table="e", quoted=True),
                          expression=exp.column(info.timestamp_column, table=alias, quoted=True)))
        query = query.join(exp.alias_(_table(key, context), alias, table=True), on=exp.and_(*on),
                           join_type="left", join_alias=None)
        query.args["joins"][-1].set("method", "ASOF")
    return query.order_by(exp.column(ROW, table="e", quoted=True))


def _within(value: exp.Expression, alias: str, group_time: str, entity_time: str, ttl: dt.timedelta) -> exp.Expression:
    micros = ttl // dt.timedelta(microseconds=1)
    limit = exp.Sub(this=exp.column(entity_time, table="e", quoted=True),
                    expression=exp.Interval(this=exp.Literal.string(f"{micros} microseconds")))
    return exp.Case(ifs=[exp.If(this=exp.GTE(this=exp.column(group_time, table=alias, quoted=True),
                                             expression=limit), true=value)])


def _table(key: tuple[str, ...], context: tuple[str, ...]) -> exp.Table:
    *project, group = key
    if tuple(project) == context:
        return exp.Table(this=exp.to_identifier(group, quoted=True))
    return exp.Table(this=exp.to_identifier(group, quoted=True),
                     db=exp.to_identifier("/".join(project[1:]), quoted=True),
                     catalog=exp.to_identifier(project[0], quoted=True))


def get_training_data(executor: "Executor", context: tuple[str, ...], entities: Any, features: Sequence[Any],
                      timestamp_column: str, ttl: Any, inclusive: bool) -> pa.Table:
    """See ``FeatureStore.get_training_data``."""
    if isinstance(features, (str, Feature)) or not features:
        raise ValidationError("features is a non-empty list of 'group.feature' strings or Feature objects",
                              code="RAISE-V177", name=repr(features))
    window = parse_ttl(ttl)
    executor.use(context)
    requested = [_feature(executor, f, context) for f in features]
    for item in requested:
        _check_derived(item)
    groups: dict[tuple, GroupInfo] = {}
    for item in requested:
        key = (*item.info.project, item.info.group)
        if key not in groups:
            groups[key] = describe_group(executor, sql.group_ref(item.info.project, item.info.group))
    if isinstance(entities, str):  # computed first: a query's ORDER BY does not survive a join
        entities = executor.query(context, entities)
    table = entity_table(entities)
    _check_entities(table.schema, groups, timestamp_column)
    if ROW in table.column_names:
        raise ValidationError(f"entity column name {ROW!r} is reserved", code="RAISE-V175", name=ROW)
    executor.connection.create_temporary(ENTITIES, table.append_column(ROW, pa.array(np.arange(table.num_rows, dtype=np.int64))))
    query = training_query(table.column_names, requested, groups, timestamp_column, window, inclusive,
                           exp.Table(this=exp.to_identifier(ENTITIES, quoted=True)), context)
    return executor.query(context, query.sql(dialect="duckdb"))
