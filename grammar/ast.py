"""Raise SQL statements: one frozen, slotted, keyword-only dataclass per statement.

The parser produces these, the SDK builds them, ``render()`` turns them into canonical SQL,
and ``parse(render(s)) == [s]`` holds for every statement.

Conventions:
- Names are stored unquoted (``"user-signals"`` is ``user-signals``); the renderer quotes.
- A namespace path is a tuple of names: ``("acme", "mlplatform", "recommendation")``.
- ``tags`` keep the order written; ``None`` means "not given" (distinct from ``()``).
- ``derived_as`` and ``default`` hold canonical text produced by the parser (so round trips
  compare equal): the expression as re-printed by ``grammar.expressions.normalize`` and a
  SQL literal (``NULL``, ``0``, ``1.5``, ``'text'``, ``TRUE``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

from grammar.errors import ValidationError

NamespaceKind = Literal["organization", "domain", "project"]
Conflict = Literal["error", "skip", "update"]
ValidationLevel = Literal["strict", "standard", "permissive"]
ShowKind = Literal["organizations", "domains", "projects", "feature groups", "features", "versions"]
DropKind = Literal["organization", "domain", "project", "feature group", "feature"]

_frozen = dict(frozen=True, slots=True, kw_only=True)


@dataclass(**_frozen)
class GroupRef:
    """A feature group, optionally qualified by its project path (1 to 3 names)."""

    name: str
    project: tuple[str, ...] | None = None


@dataclass(**_frozen)
class FeatureRef:
    """A feature of a group, optionally pinned to a version (``"name@v1"``)."""

    group: GroupRef
    name: str
    version: str | None = None


@dataclass(**_frozen)
class ColumnDef:
    """A key column: name and dtype string (canonical lower-case shortcut)."""

    name: str
    dtype: str


@dataclass(**_frozen)
class CreateNamespace:
    """``CREATE ORGANIZATION acme`` / ``CREATE DOMAIN acme/ml`` / ``CREATE PROJECT acme/ml/rec``.

    A domain or project path may be relative to the session's current project context
    (``CREATE PROJECT fraud``): the handler fills in the missing leading names.
    """

    kind: NamespaceKind
    path: tuple[str, ...]
    if_not_exists: bool = False
    description: str | None = None
    tags: tuple[str, ...] | None = None
    owner: str | None = None


@dataclass(**_frozen)
class CreateFeatureGroup:
    """``CREATE FEATURE GROUP "user-signals" KEY (user_id INT64) TIMESTAMP event_time ...``."""

    group: GroupRef
    keys: tuple[ColumnDef, ...] = ()
    timestamp: str | None = None
    if_not_exists: bool = False
    description: str | None = None
    tags: tuple[str, ...] | None = None
    owner: str | None = None


@dataclass(**_frozen)
class CreateFeature:
    """``CREATE [OR REPLACE] FEATURE [IF NOT EXISTS] g.name DTYPE [DERIVED AS expr] [options]``.

    ``conflict``: ``error`` (plain), ``skip`` (IF NOT EXISTS), ``update`` (OR REPLACE).
    ``nullable``: ``None`` when not written, else NULLABLE (True) / NOT NULL (False).
    """

    feature: FeatureRef
    dtype: str
    derived_as: str | None = None
    version: str | None = None
    description: str | None = None
    tags: tuple[str, ...] | None = None
    owner: str | None = None
    nullable: bool | None = None
    default: str | None = None
    validation: ValidationLevel | None = None
    conflict: Conflict = "error"


@dataclass(**_frozen)
class AlterFeature:
    """``ALTER FEATURE g.name[@v] SET DESCRIPTION '...' TAGS (...) OWNER '...' ...``.

    Only the fields given are changed; at least one must be given.
    """

    feature: FeatureRef
    description: str | None = None
    tags: tuple[str, ...] | None = None
    owner: str | None = None
    nullable: bool | None = None
    default: str | None = None
    status: Literal["active", "deprecated", "archived"] | None = None


@dataclass(**_frozen)
class DeprecateFeature:
    """``DEPRECATE FEATURE g.name[@v] [MESSAGE '...']``."""

    feature: FeatureRef
    message: str | None = None


@dataclass(**_frozen)
class Drop:
    """``DROP ORGANIZATION|DOMAIN|PROJECT path`` / ``DROP FEATURE GROUP g`` / ``DROP FEATURE g.f[@v]``,
    each optionally ``CASCADE`` or ``RESTRICT`` (not both).

    ``target`` is a namespace path tuple, a ``GroupRef`` or a ``FeatureRef`` by ``kind``.
    A namespace or group that is not empty, or read by derived features elsewhere, is dropped
    only with ``cascade``. A feature is dropped even while derived features read it (they
    become ``broken`` until it is re-created) unless ``restrict`` is given.
    """

    kind: DropKind
    target: Union[tuple[str, ...], GroupRef, FeatureRef]
    if_exists: bool = False
    cascade: bool = False
    restrict: bool = False

    def __post_init__(self) -> None:
        if self.cascade and self.restrict:
            raise ValidationError("DROP takes CASCADE or RESTRICT, not both", code="RAISE-V062")


@dataclass(**_frozen)
class Use:
    """``USE acme/mlplatform/recommendation`` (1 to 3 names)."""

    path: tuple[str, ...]


@dataclass(**_frozen)
class Show:
    """``SHOW FEATURES [IN g] [TAGS ('a','b')]`` and the other kinds.

    ``within``: a namespace path for organizations/domains/projects/feature groups,
    a ``GroupRef`` for features, a ``FeatureRef`` for versions. ``tags``: only objects
    carrying every tag listed.
    """

    kind: ShowKind
    within: Union[tuple[str, ...], GroupRef, FeatureRef, None] = None
    tags: tuple[str, ...] | None = None


@dataclass(**_frozen)
class Describe:
    """``DESCRIBE ORGANIZATION|DOMAIN|PROJECT path`` / ``DESCRIBE FEATURE GROUP g`` / ``DESCRIBE FEATURE g.f[@v]``."""

    kind: DropKind
    target: Union[tuple[str, ...], GroupRef, FeatureRef]


@dataclass(**_frozen)
class ValidateFeature:
    """``VALIDATE CREATE FEATURE ...``: check a feature definition without creating it."""

    statement: CreateFeature


@dataclass(**_frozen)
class Passthrough:
    """Text that is not Raise DDL, handed to DataFusion unchanged."""

    sql: str


Statement = Union[
    CreateNamespace,
    CreateFeatureGroup,
    CreateFeature,
    AlterFeature,
    DeprecateFeature,
    Drop,
    Use,
    Show,
    Describe,
    ValidateFeature,
    Passthrough,
]

#: Every statement class, for the "each has a handler and a renderer" test.
STATEMENTS: tuple[type, ...] = Statement.__args__
