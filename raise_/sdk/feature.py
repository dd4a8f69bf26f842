"""``Feature``: one version of a feature, as the catalog describes it.

A ``Feature`` is a snapshot of ``DESCRIBE FEATURE`` plus the methods that change it
(``update``, ``deprecate``, ``delete``), each compiled to one Raise statement. Methods that
change the feature refresh the snapshot the object holds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from grammar import ast, quote_literal
from grammar.errors import ValidationError
from grammar.security import Target
from raise_.sdk.security import AccessControlled, AuditLogged
from raise_.sdk import compile as sql
from raise_.sdk import html
from raise_.sdk.dtypes import FeatureType, feature_type

if TYPE_CHECKING:
    from raise_.sdk.context import Executor
    from raise_.sdk.lineage import Lineage

__all__ = ["Feature", "FeatureInfo", "describe", "show_features", "show_versions"]

_ALTERABLE = ("description", "tags", "owner", "nullable", "default", "status")
_REDEFINING = ("derived_from", "dtype", "validation")
STATUSES = ("active", "deprecated", "archived")  # settable; "broken" is computed (see delete)


@dataclass(frozen=True)
class FeatureInfo:
    """One row of ``DESCRIBE FEATURE`` / ``SHOW FEATURES``."""

    project: tuple[str, ...]
    group: str
    name: str
    version: str
    dtype: str
    derived_from: str | None
    description: str | None
    tags: tuple[str, ...]
    owner: str | None
    nullable: bool
    default: str | None
    validation: str | None
    status: str
    message: str | None
    is_latest: bool
    upstream: tuple[str, ...]
    downstream: tuple[str, ...]
    created_at: str | None
    updated_at: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "FeatureInfo":
        *project, group, _ = row["qualified_name"].split("/")
        return cls(
            project=tuple(project), group=group, name=row["name"], version=row["version"],
            dtype=row["dtype"], derived_from=row["derived_as"], description=row["description"],
            tags=tuple(row["tags"] or ()), owner=row["owner"], nullable=bool(row["nullable"]),
            default=row["default"], validation=row["validation"], status=row["status"],
            message=row["message"], is_latest=bool(row["is_latest"]),
            upstream=tuple(row["upstream"] or ()), downstream=tuple(row["downstream"] or ()),
            created_at=row["created_at"], updated_at=row["updated_at"],
        )

    @property
    def qualified_name(self) -> str:
        return "/".join((*self.project, self.group, f"{self.name}@{self.version}"))

    def ref(self, pinned: bool = True) -> ast.FeatureRef:
        return sql.feature_ref(self.project, self.group, self.name, self.version if pinned else None)


def describe(executor: "Executor", ref: ast.FeatureRef) -> FeatureInfo:
    """``DESCRIBE FEATURE``: the version ``ref`` names (latest when it names none)."""
    table = executor.run(ast.Describe(kind="feature", target=ref))
    return FeatureInfo.from_row(table.to_pylist()[0])


def show_features(executor: "Executor", group: ast.GroupRef,
                  tags: Iterable[str] | None = None) -> list[FeatureInfo]:
    """``SHOW FEATURES IN group``: the latest version of each feature."""
    table = executor.run(ast.Show(kind="features", within=group, tags=sql.tags_of(tags)))
    return [FeatureInfo.from_row(row) for row in table.to_pylist()]


def show_versions(executor: "Executor", ref: ast.FeatureRef) -> list[FeatureInfo]:
    table = executor.run(ast.Show(kind="versions", within=ref))
    return [FeatureInfo.from_row(row) for row in table.to_pylist()]


class Feature(AccessControlled, AuditLogged):
    """A feature version: ``group.feature("user_embedding@v1")``.

    Properties follow the API reference: ``name``, ``qualified_name``, ``dtype`` (a typed
    constructor equal to its string, e.g. ``Embedding(512) == "float32[512]"``), ``version``,
    ``description``, ``tags``, ``owner``, ``derived_from``, ``is_derived``, ``status``.
    """

    def __init__(self, executor: "Executor", info: FeatureInfo) -> None:
        self._executor = executor
        self._info = info

    # -- properties ------------------------------------------------------------------------

    @property
    def info(self) -> FeatureInfo:
        return self._info

    name = property(lambda self: self._info.name, doc="The feature's name.")
    version = property(lambda self: self._info.version, doc="``v1``, ``v2``, ...")
    description = property(lambda self: self._info.description)
    owner = property(lambda self: self._info.owner)
    derived_from = property(lambda self: self._info.derived_from,
                            doc="The expression a derived feature is computed by, else None.")
    status = property(lambda self: self._info.status,
                      doc='"active", "deprecated", "archived", or "broken" (a derived feature whose upstream is gone).')
    message = property(lambda self: self._info.message,
                       doc="The deprecation message, or why the feature is broken.")
    nullable = property(lambda self: self._info.nullable)
    validation = property(lambda self: self._info.validation)
    group = property(lambda self: self._info.group, doc="The feature group's name.")
    is_latest = property(lambda self: self._info.is_latest,
                         doc="Whether the plain name resolves to this version.")
    created_at = property(lambda self: self._info.created_at)
    updated_at = property(lambda self: self._info.updated_at)

    @property
    def qualified_name(self) -> str:
        """``org/domain/project/group/name@version``."""
        return self._info.qualified_name

    @property
    def project(self) -> str:
        return "/".join(self._info.project)

    @property
    def dtype(self) -> FeatureType:
        return feature_type(self._info.dtype)

    @property
    def tags(self) -> list[str]:
        return list(self._info.tags)

    @property
    def is_derived(self) -> bool:
        return self._info.derived_from is not None

    @property
    def default(self) -> Any:
        """The default value as a Python value (None when there is none)."""
        return _literal_value(self._info.default)

    # -- methods ---------------------------------------------------------------------------

    def refresh(self) -> "Feature":
        """Re-read this version from the catalog (in place); returns self."""
        self._info = describe(self._executor, self._info.ref())
        return self

    def update(self, **changes: Any) -> "Feature":
        """Change this version's metadata or definition; returns the updated feature.

        ``description``, ``tags``, ``owner``, ``nullable``, ``default`` and ``status`` become
        ``ALTER FEATURE ... SET``; ``derived_from`` (and ``validation``) redefine the feature
        with ``CREATE OR REPLACE FEATURE``. A different ``dtype`` is a schema change and is
        refused: create a new version instead.
        """
        unknown = sorted(set(changes) - set(_ALTERABLE) - set(_REDEFINING))
        if unknown or not changes:
            raise ValidationError(
                f"update() takes {', '.join(_ALTERABLE + _REDEFINING)}"
                + (f"; got {', '.join(unknown)}" if unknown else ""), name=self.name)
        self._executor.run_script(self._update_statements(changes))
        return self.refresh()

    def _update_statements(self, changes: dict[str, Any]) -> list[ast.Statement]:
        ref = self._info.ref()
        if not set(changes) & set(_REDEFINING):
            return [_alter(ref, changes)]
        group = ref.group
        create = sql.create_feature(
            group, self.name, changes.get("dtype", self._info.dtype), version=self.version,
            derived_from=changes.get("derived_from", self.derived_from), if_exists="update",
            **{k: changes[k] for k in ("description", "tags", "owner", "nullable", "default",
                                         "validation") if k in changes},
        )
        statements: list[ast.Statement] = [create]
        if "status" in changes:
            statements.append(_alter(ref, {"status": changes["status"]}))
        return statements

    def deprecate(self, message: str | None = None) -> None:
        """Mark this version deprecated (``DEPRECATE FEATURE``); it still reads and writes."""
        self._executor.run(ast.DeprecateFeature(feature=self._info.ref(), message=message))
        self.refresh()

    def delete(self, *, all_versions: bool = True, restrict: bool = False) -> None:
        """Drop the feature with all its versions (``all_versions=False``: only this one).

        Derived features that read it become ``status == "broken"`` (reading them raises
        ``NotFound`` naming it; a ``RaiseWarning`` lists them) until a feature of that name is
        created again. ``restrict=True`` refuses instead (``DROP FEATURE ... RESTRICT``).
        """
        self._executor.run(ast.Drop(kind="feature", target=self._info.ref(pinned=not all_versions),
                                    restrict=restrict))

    def create_index(self, metric: str = "cosine", method: str = "hnsw", *, name: str | None = None,
                     **params: Any) -> None:
        """``CREATE VECTOR INDEX`` on this embedding feature (``m=``, ``ef_construction=``,
        ``ef_search=`` tune the HNSW graph; ``model=`` names the registered model that embeds
        text queries); searches of the group then use it."""
        from raise_.sdk.search import create_index

        project, group = self._info.project, self._info.group
        create_index(self._executor, project, group, self.name, metric=metric, method=method, name=name,
                     params=params)

    def list_versions(self) -> list["Feature"]:
        """Every version of this feature, oldest first."""
        return [Feature(self._executor, info) for info in show_versions(self._executor, self._info.ref(False))]

    def get_lineage(self) -> "Lineage":
        """What this feature reads and what reads it (see ``Lineage``)."""
        from raise_.sdk.lineage import Lineage

        return Lineage(self._executor, describe(self._executor, self._info.ref()))

    # -- display ---------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Feature) and other.qualified_name == self.qualified_name

    def __hash__(self) -> int:
        return hash(self.qualified_name)

    def _security_runner(self) -> "Executor":
        return self._executor

    def _security_target(self) -> Target:
        return Target(kind="feature", path=self._info.ref(pinned=False))

    def __repr__(self) -> str:
        extra = f", derived_from={self.derived_from!r}" if self.is_derived else ""
        status = f", status={self.status!r}" if self.status != "active" else ""
        return f"Feature({self.group}/{self.name}@{self.version}, dtype={self._info.dtype}{extra}{status})"

    def _repr_html_(self) -> str:
        rows = [("qualified name", self.qualified_name), ("dtype", self._info.dtype),
                ("derived from", self.derived_from), ("description", self.description),
                ("tags", ", ".join(self.tags)), ("owner", self.owner), ("status", self.status)]
        return html.card(f"Feature {self.name}@{self.version}", rows)


def _alter(ref: ast.FeatureRef, changes: dict[str, Any]) -> ast.AlterFeature:
    default = changes.get("default")
    return ast.AlterFeature(
        feature=ref, description=changes.get("description"), tags=sql.tags_of(changes.get("tags")),
        owner=changes.get("owner"), nullable=changes.get("nullable"),
        default=None if default is None else quote_literal(default), status=_status(changes.get("status")),
    )


def _status(value: str | None) -> str | None:
    if value is not None and value not in STATUSES:
        raise ValidationError(f"status must be one of {', '.join(STATUSES)}, got {value!r}", name=str(value))
    return value


def _literal_value(text: str | None) -> Any:
    """A SQL literal as stored in the catalog (``0.5``, ``'x'``, ``TRUE``) as a Python value."""
    if text is None or text.upper() == "NULL":
        return None
    if text.upper() in ("TRUE", "FALSE"):
        return text.upper() == "TRUE"
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("''", "'")
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text
