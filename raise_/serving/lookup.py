"""The SDK side of the online store: ``fs.materialize`` and ``fs.get_online_features``, compiled
to ``MATERIALIZE`` and ``LOOKUP ONLINE`` statements (one per feature group).
"""
from __future__ import annotations

import weakref
from collections import defaultdict
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Sequence

import pyarrow as pa

from grammar import render
from grammar.errors import ValidationError
from grammar.serving import LookupOnline, Materialize, Parameter
from raise_.sdk import compile as sql
from raise_.sdk.feature import Feature
from raise_.sdk.group import FeatureGroup, describe_group

if TYPE_CHECKING:
    from raise_.sdk.context import Executor

__all__ = ["OnlineResponse", "materialize", "get_online_features"]

#: Key columns of the groups each connection looked up (a group's keys never change).
_KEYS: "weakref.WeakKeyDictionary[Executor, dict]" = weakref.WeakKeyDictionary()


class OnlineResponse:
    """Online feature values, one row per entity row asked for, in that order."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    def to_dict(self) -> dict[str, list[Any]]:
        """Column name -> values (Feast's shape)."""
        return self._table.to_pydict()

    def to_arrow(self) -> pa.Table:
        return self._table

    def to_pandas(self):
        return self._table.to_pandas()

    def __repr__(self) -> str:
        return f"OnlineResponse({self._table.num_rows} rows: {', '.join(self._table.column_names)})"


def _split(spec: Any, context: tuple[str, ...]) -> tuple[tuple[str, ...], str, str]:
    """(project, group, feature[@v]) of ``"group.feature"``, ``"group/feature"``, a full path or a Feature."""
    if isinstance(spec, Feature):
        return spec.info.project, spec.group, spec.name
    if not isinstance(spec, str):
        raise ValidationError(f"features are 'group.feature' strings or Feature objects, got {spec!r}",
                              code="RAISE-V177", name=repr(spec))
    return _split_text(spec, context)


@lru_cache(maxsize=4096)
def _split_text(spec: str, context: tuple[str, ...]) -> tuple[tuple[str, ...], str, str]:
    head, _, last = spec.rpartition("/")
    if "." in last:
        group, _, name = last.partition(".")
        spec = f"{head}/{group}/{name}" if head else f"{group}/{name}"
    return sql.split_feature_path(spec, context)


def materialize(executor: "Executor", context: tuple[str, ...], targets: Any, since: int | None) -> pa.Table:
    """One MATERIALIZE per group named by ``targets`` (groups, group names or features)."""
    items = [targets] if isinstance(targets, (str, Feature, FeatureGroup)) else list(targets)
    groups: dict[tuple, None] = {}
    for item in items:
        if isinstance(item, FeatureGroup):
            key = (*item.ref.project, item.name)
        elif isinstance(item, str) and "." not in item.rpartition("/")[2] and item.count("/") in (0, 3):
            key = (*context, item) if "/" not in item else tuple(item.split("/"))
        else:
            project, group, _ = _split(item, context)
            key = (*project, group)
        groups[key] = None
    executor.use(context)
    statements = [Materialize(group=sql.group_ref(key[:-1], key[-1]), since=since) for key in groups]
    return pa.concat_tables([executor.run(s) for s in statements])


def get_online_features(executor: "Executor", context: tuple[str, ...], features: Sequence[Any],
                        entity_rows: Sequence[dict[str, Any]]) -> OnlineResponse:
    if isinstance(features, (str, Feature)) or not features:
        raise ValidationError("features is a non-empty list of 'group.feature' strings or Feature objects",
                              code="RAISE-V177", name=repr(features))
    by_group: dict[tuple, list[str]] = defaultdict(list)
    for spec in features:
        project, group, name = _split(spec, context)
        by_group[(*project, group)].append(name)
    executor.use(context)
    columns: dict[str, pa.ChunkedArray] = {}
    for key, names in by_group.items():
        ref = sql.group_ref(key[:-1], key[-1])
        keys = _key_columns(executor, ref)
        found = _lookup_group(executor, ref, keys, tuple(names), entity_rows)
        for column in keys:
            columns.setdefault(column, found.column(column))
        for name in names:
            label = name if list(columns).count(name) == 0 else f"{key[-1]}.{name}"
            columns[label] = found.column(name)
    return OnlineResponse(pa.table(columns))


def _lookup_group(executor: "Executor", ref, keys: tuple[str, ...], names: tuple[str, ...],
                  entity_rows: Sequence[dict[str, Any]]) -> pa.Table:
    """One prepared LOOKUP ONLINE of ``names`` for the key values the entity rows carry."""
    for column in keys:
        missing = [i for i, row in enumerate(entity_rows) if column not in row]
        if missing:
            raise ValidationError(f"entity row {missing[0]} has no key {column!r} of feature group {ref.name!r}",
                                  code="RAISE-V171", name=column)
    if not entity_rows:
        return executor.send_prepared(_lookup_sql(ref, names, keys, 0), ())
    # one key's text, bound to a batch of one row per entity (what a Flight SQL client sends
    # as one parameter batch, and the server looks up at once)
    rows = [tuple(row[column] for column in keys) for row in entity_rows]
    return executor.send_prepared_rows(_lookup_sql(ref, names, keys, 1), rows)


@lru_cache(maxsize=1024)
def _lookup_sql(ref, features: tuple[str, ...], keys: tuple[str, ...], count: int) -> str:
    """The LOOKUP ONLINE text for ``count`` bound keys (one prepared statement per shape)."""
    if len(keys) == 1:
        key, values = keys[0], (Parameter(),) * count
    else:
        key, values = keys, ((Parameter(),) * len(keys),) * count
    return render(LookupOnline(group=ref, features=features, key=key, values=values))


def _key_columns(executor: "Executor", ref) -> tuple[str, ...]:
    known = _KEYS.setdefault(executor, {})
    keys = known.get(ref)
    if keys is None:
        keys = known[ref] = tuple(describe_group(executor, ref).key_columns)
    if not keys:
        raise ValidationError(f"online lookups need a group with key columns; {ref.name!r} has none",
                              code="RAISE-V180", name=ref.name)
    return keys
