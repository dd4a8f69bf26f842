"""Typed catalog records of feature groups and feature versions.

The catalog stores every object as JSON (``catalog.Catalog``); the engine reads groups and
feature versions as these frozen dataclasses instead, with what it keeps recomputing as
properties (``GroupRecord.key_names``, ``GroupRecord.group_columns``). A record is also a
read-only mapping of its stored JSON form (``record["keys"]`` is the list of ``{"name",
"dtype"}`` dicts the catalog holds), which is what listings spread into result rows
(``{**record, ...}``) and what ``to_record`` writes back.

>>> group = GroupRecord.from_record({"key": "acme/ml/rec/g", "name": "g", "project": ["acme", "ml", "rec"],
...     "id": 1, "uri": "/t/g1", "keys": [{"name": "user_id", "dtype": "int64"}], "timestamp": "ts",
...     "columns": ["user_id", "ts"]})
>>> group.key_names, sorted(group.group_columns), group["keys"][0]["name"]
(('user_id',), ['ts', 'user_id'], 'user_id')
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

_CATALOG_FIELDS = ("key", "created_at", "updated_at")


class _StoredForm(Mapping):
    """The read-only mapping view of a record's stored JSON form."""

    def _stored(self) -> dict[str, Any]:
        raise NotImplementedError

    def __getitem__(self, name: str) -> Any:
        return self._stored()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._stored())

    def __len__(self) -> int:
        return len(self._stored())

    def to_record(self) -> dict[str, Any]:
        """What the catalog stores (without the key and the times it keeps itself)."""
        return {k: v for k, v in self._stored().items() if k not in _CATALOG_FIELDS}

    def replace(self, **changes: Any):
        """A copy with ``changes`` (records are immutable)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyColumn:
    """One key column of a feature group."""

    name: str
    dtype: str


@dataclass(frozen=True, kw_only=True, eq=True)
class GroupRecord(_StoredForm):
    """A feature group: where its table is and what its rows are keyed by."""

    key: str
    name: str
    project: tuple[str, ...]
    id: int
    uri: str
    #: The key columns (``keys()`` is the mapping's; ``record["keys"]`` their stored form).
    key_columns: tuple[KeyColumn, ...]
    timestamp: str | None = None
    #: Every physical column ever allocated in the table, key and event-time columns first.
    columns: tuple[str, ...] = ()
    description: str | None = None
    tags: tuple[str, ...] = ()
    owner: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    __hash__ = object.__hash__

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "GroupRecord":
        if isinstance(record, GroupRecord):
            return record
        return cls(
            key=record["key"], name=record["name"], project=tuple(record["project"]), id=record["id"],
            uri=record["uri"], key_columns=tuple(KeyColumn(name=k["name"], dtype=k["dtype"]) for k in record["keys"]),
            timestamp=record.get("timestamp"), columns=tuple(record.get("columns") or ()),
            description=record.get("description"), tags=tuple(record.get("tags") or ()),
            owner=record.get("owner"), created_at=record.get("created_at"), updated_at=record.get("updated_at"),
        )

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.key_columns)

    @property
    def group_columns(self) -> frozenset[str]:
        """The columns every row has: the keys and the event time."""
        return frozenset(self.key_names) | ({self.timestamp} if self.timestamp else frozenset())

    @property
    def project_key(self) -> str:
        return "/".join(self.project)

    @property
    def organization(self) -> str:
        return self.project[0]

    def _stored(self) -> dict[str, Any]:
        return {
            "key": self.key, "name": self.name, "project": list(self.project), "id": self.id, "uri": self.uri,
            "keys": [{"name": k.name, "dtype": k.dtype} for k in self.key_columns], "timestamp": self.timestamp,
            "description": self.description, "tags": list(self.tags), "owner": self.owner,
            "columns": list(self.columns), "created_at": self.created_at, "updated_at": self.updated_at,
        }


@dataclass(frozen=True, kw_only=True, eq=True)
class FeatureVersion(_StoredForm):
    """One version of a feature: its type, where its values are, how it is derived."""

    key: str
    group: str
    name: str
    version: str
    dtype: str
    #: The physical column of a stored feature; None for a derived one.
    column: str | None = None
    derived_as: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    owner: str | None = None
    nullable: bool = True
    default: str | None = None
    validation: str = "standard"
    status: str = "active"
    message: str | None = None
    references: tuple[Any, ...] = ()
    created_at: str | None = None
    updated_at: str | None = None
    #: Fields a record carries beyond these (kept when it is written back).
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    __hash__ = object.__hash__

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "FeatureVersion":
        if isinstance(record, FeatureVersion):
            return record
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values = {k: v for k, v in record.items() if k in known}
        for name in ("tags", "references"):
            values[name] = tuple(values.get(name) or ())
        return cls(**values, extra={k: v for k, v in record.items() if k not in known})

    @property
    def label(self) -> str:
        """``name@version``: how SQL names this version."""
        return f"{self.name}@{self.version}"

    @property
    def derived(self) -> bool:
        return self.derived_as is not None

    def _stored(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        values["tags"], values["references"] = list(self.tags), list(self.references)
        return {**values, **self.extra}
