"""Organizations, domains and projects: the levels above feature groups.

Each object is a snapshot of ``DESCRIBE ORGANIZATION|DOMAIN|PROJECT`` and navigates down the
hierarchy through a ``FeatureStore`` whose context is that namespace:

>>> fs.organization("acme").domain("mlplatform").project("recommendation")  # doctest: +SKIP
Project('acme/mlplatform/recommendation')
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from grammar.security import Target
from raise_.sdk.security import AccessControlled, AuditConfigured
from raise_.sdk import html

if TYPE_CHECKING:
    from raise_.sdk.group import FeatureGroup
    from raise_.sdk.store import FeatureStore

__all__ = ["NamespaceInfo", "Organization", "Domain", "Project", "namespace_object"]


@dataclass(frozen=True)
class NamespaceInfo:
    """One row of ``DESCRIBE``/``SHOW`` for an organization, domain or project."""

    kind: str
    path: tuple[str, ...]
    name: str
    description: str | None
    tags: tuple[str, ...]
    owner: str | None
    created_at: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "NamespaceInfo":
        return cls(kind=row["kind"], path=tuple(row["path"].split("/")), name=row["name"],
                   description=row["description"], tags=tuple(row["tags"] or ()),
                   owner=row["owner"], created_at=row["created_at"])


class Namespace(AccessControlled):
    """Common properties: ``name``, ``path``, ``description``, ``tags``, ``owner``."""

    def __init__(self, store: "FeatureStore", info: NamespaceInfo) -> None:
        self._store = store
        self._info = info

    info = property(lambda self: self._info)
    name = property(lambda self: self._info.name)
    description = property(lambda self: self._info.description)
    owner = property(lambda self: self._info.owner)
    created_at = property(lambda self: self._info.created_at)
    tags = property(lambda self: list(self._info.tags))

    @property
    def path(self) -> str:
        return "/".join(self._info.path)

    @property
    def store(self) -> "FeatureStore":
        """A ``FeatureStore`` whose context is this namespace."""
        return self._store

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.path == self.path

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.path))

    def _security_runner(self) -> Any:
        return self._store._executor

    def _security_target(self) -> Target:
        return Target(kind=self._info.kind, path=self._info.path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    def _repr_html_(self) -> str:
        return html.card(f"{type(self).__name__} {self.path}", [
            ("description", self.description), ("tags", ", ".join(self.tags)),
            ("owner", self.owner), ("created", self.created_at)])


class Organization(Namespace, AuditConfigured):
    """A company or team boundary."""

    def domain(self, name: str) -> "Domain":
        return self._store.domain(name)

    def list_domains(self, tags: Iterable[str] | None = None) -> list["Domain"]:
        return self._store.list_domains(tags=tags)

    def create_domain(self, name: str, **options: Any) -> "Domain":
        return self._store.create_domain(name, **options)


class Domain(Namespace):
    """A business or technical domain of an organization."""

    def project(self, name: str) -> "Project":
        return self._store.project(name)

    def list_projects(self, tags: Iterable[str] | None = None) -> list["Project"]:
        return self._store.list_projects(tags=tags)

    def create_project(self, name: str, **options: Any) -> "Project":
        return self._store.create_project(name, **options)


class Project(Namespace):
    """An initiative or model; holds feature groups."""

    def feature_group(self, name: str) -> "FeatureGroup":
        return self._store.feature_group(name)

    def list_feature_groups(self, tags: Iterable[str] | None = None) -> list["FeatureGroup"]:
        return self._store.list_feature_groups(tags=tags)

    def create_feature_group(self, name: str, **options: Any) -> "FeatureGroup":
        return self._store.create_feature_group(name, **options)


_CLASSES = {"organization": Organization, "domain": Domain, "project": Project}


def namespace_object(store: "FeatureStore", row: dict[str, Any]) -> Namespace:
    """The object for a SHOW/DESCRIBE row, navigating through a store scoped to it."""
    info = NamespaceInfo.from_row(row)
    scoped = store.with_context(**dict(zip(("org", "domain", "project"), info.path)))
    return _CLASSES[info.kind](scoped, info)
