"""ACLs: readers, writers and admins at every level, cascading org -> domain -> project -> group -> feature.

A resource is named by its path: ``acme``, ``acme/ml``, ``acme/ml/rec``, ``acme/ml/rec/user-signals``
and ``acme/ml/rec/user-signals/ctr`` (a feature, every version). An ACL stored at a level (catalog
kind ``acl`` keyed by that path) adds to what the levels above grant, unless it says
``inherit=False``: then the levels above are not consulted (except the organization's admins,
below). The principals that an ACL names may be users or principal groups.

Rules:

- ``read`` is allowed to readers, writers and admins; ``write`` to writers and admins; ``admin``
  to admins only.
- Whoever created an object administers it (catalog kind ``creator``), and so does the owner it
  records (``OWNER '...'``). The organization's admins (its creator and owner, and the admins of
  its ACL) administer everything in it, ``inherit=False`` notwithstanding, so that no object can
  be locked away from the organization that holds it.
- ``root`` (no principal in the embedded store) may do everything.
- Another organization reads (or writes) a group's features only through a live external grant
  (``grants``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from raise_.engine.catalog import Catalog
from raise_.engine.security import grants, principals

KIND = "acl"
CREATOR_KIND = "creator"
LEVELS = ("organization", "domain", "project", "feature group", "feature")
PERMISSIONS = ("read", "write", "admin")
_CATALOG_KIND = {"organization": "organization", "domain": "domain", "project": "project", "feature group": "group"}


def level_of(path: str) -> str:
    return LEVELS[path.count("/")]


def parents(path: str) -> list[str]:
    """``acme/ml/rec`` -> ``["acme", "acme/ml", "acme/ml/rec"]`` (top down, the path last)."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


@dataclass(frozen=True)
class StoredAcl:
    """The ACL set at one level."""

    readers: tuple[str, ...] = ()
    writers: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    inherit: bool = True
    updated_by: str | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "StoredAcl":
        return cls(tuple(record.get("readers") or ()), tuple(record.get("writers") or ()),
                   tuple(record.get("admins") or ()), bool(record.get("inherit", True)), record.get("updated_by"))


@dataclass(frozen=True)
class Link:
    """One level of a resource's ACL chain: its path, stored ACL (if any) and owners."""

    path: str
    acl: StoredAcl | None
    owners: tuple[str, ...]

    @property
    def level(self) -> str:
        return level_of(self.path)


@dataclass(frozen=True)
class Effective:
    """Who may read, write and administer a resource once inheritance is resolved."""

    path: str
    readers: frozenset[str]
    writers: frozenset[str]
    admins: frozenset[str]

    def allows(self, identities: Iterable[str], permission: str) -> bool:
        holders = {"read": self.readers | self.writers | self.admins,
                   "write": self.writers | self.admins, "admin": self.admins}[permission]
        return not holders.isdisjoint(identities)


def stored(catalog: Catalog, path: str) -> StoredAcl | None:
    record = catalog.get(KIND, path)
    return StoredAcl.from_record(record) if record else None


def save(catalog: Catalog, path: str, acl: StoredAcl) -> None:
    for name in (*acl.readers, *acl.writers, *acl.admins):
        principals.check_principal(name)
    catalog.put(KIND, path, {"level": level_of(path), "readers": list(acl.readers), "writers": list(acl.writers),
                             "admins": list(acl.admins), "inherit": acl.inherit, "updated_by": acl.updated_by})


def record_of(catalog: Catalog, path: str) -> dict[str, Any] | None:
    """The catalog object at ``path`` (for a feature: its newest version), or None."""
    level = level_of(path)
    if level != "feature":
        return catalog.get(_CATALOG_KIND[level], path)
    versions = feature_versions(catalog, path)
    return versions[-1] if versions else None


def feature_versions(catalog: Catalog, path: str) -> list[dict[str, Any]]:
    group_key, _, name = path.rpartition("/")
    return [r for r in catalog.list("feature", parent=group_key) if r["name"] == name]


def owners(catalog: Catalog, path: str, versions: list[dict[str, Any]] | None = None) -> tuple[str, ...]:
    """Who administers ``path`` by having made it: its creator and the owner it records
    (``versions``: a feature's version records, when the caller has them)."""
    if level_of(path) == "feature":
        found = [r.get("owner") for r in (feature_versions(catalog, path) if versions is None else versions)]
    else:
        record = record_of(catalog, path)
        found = [record.get("owner")] if record else []
    creator = catalog.get(CREATOR_KIND, path)
    if creator is not None:
        found.insert(0, creator["principal"])
    return tuple(dict.fromkeys(o for o in found if o))


def forget(catalog: Catalog, path: str) -> None:
    """Drop the ACLs, creator records and external grants at and below a deleted ``path``."""
    for kind in (KIND, CREATOR_KIND, grants.KIND):
        for record in catalog.list(kind, prefix=path):
            owned = record.get("group", record["key"])
            if owned == path or owned.startswith(path + "/"):
                catalog.delete(kind, record["key"])


def resolve(links: list[Link]) -> Effective:
    """The effective ACL of the last link of a top-down chain."""
    readers: set[str] = set()
    writers: set[str] = set()
    admins: set[str] = set()
    for link in reversed(links):
        admins.update(link.owners)
        if link.acl is not None:
            readers.update(link.acl.readers)
            writers.update(link.acl.writers)
            admins.update(link.acl.admins)
            if not link.acl.inherit:
                break
    top = links[0]
    admins.update(top.owners)
    if top.acl is not None:
        admins.update(top.acl.admins)
    return Effective(links[-1].path, frozenset(readers), frozenset(writers), frozenset(admins))


class AccessControl:
    """Answers "may this principal do X to Y" for one statement, caching what it reads."""

    def __init__(self, catalog: Catalog, principal: str | None) -> None:
        self.catalog = catalog
        self.principal = principal
        self.superuser = principals.is_superuser(principal)
        self._identities: frozenset[str] | None = None
        self._org: tuple[str | None] | None = None
        self._links: dict[str, Link] = {}
        self._features: dict[str, list[dict[str, Any]]] = {}  # group path -> its feature versions
        self._visible: dict[str, bool] = {}

    def __repr__(self) -> str:
        return f"AccessControl(principal={self.principal!r})"

    @property
    def identities(self) -> frozenset[str]:
        if self._identities is None:
            self._identities = principals.identities(self.catalog, self.principal)
        return self._identities

    @property
    def organization(self) -> str | None:
        if self._org is None:
            self._org = (principals.organization_of(self.catalog, self.principal),)
        return self._org[0]

    def link(self, path: str) -> Link:
        if path not in self._links:
            versions = None
            if level_of(path) == "feature":  # a query checks many features of one group
                group_key, _, name = path.rpartition("/")
                if group_key not in self._features:
                    self._features[group_key] = self.catalog.list("feature", parent=group_key)
                versions = [r for r in self._features[group_key] if r["name"] == name]
            self._links[path] = Link(path, stored(self.catalog, path), owners(self.catalog, path, versions))
        return self._links[path]

    def chain(self, path: str) -> list[Link]:
        return [self.link(p) for p in parents(path)]

    def effective(self, path: str) -> Effective:
        return resolve(self.chain(path))

    def allows(self, permission: str, path: str) -> bool:
        """Whether the principal holds ``permission`` on ``path`` (by ACL or external grant)."""
        if self.superuser or self.effective(path).allows(self.identities, permission):
            return True
        if permission == "admin" or path.count("/") < 3:
            return False
        org = self.organization
        if org is None or org == path.split("/", 1)[0]:
            return False
        group_key = "/".join(path.split("/")[:4])
        feature = path.split("/")[4] if path.count("/") == 4 else None
        return grants.covers(self.catalog, group_key, org, feature, permission)

    def visible(self, path: str) -> bool:
        """Readable itself, or (for namespaces and groups) something inside it is readable."""
        if path not in self._visible:
            self._visible[path] = self.allows("read", path) or any(self.visible(c) for c in self._children(path))
        return self._visible[path]

    def _children(self, path: str) -> list[str]:
        level = level_of(path)
        if level == "feature":
            return []
        if level == "feature group":
            return sorted({f"{path}/{r['name']}" for r in self.catalog.list("feature", parent=path)})
        if level == "project":
            return [r["key"] for r in self.catalog.list("group", parent=path)]
        below = LEVELS[LEVELS.index(level) + 1]
        return [r["key"] for r in self.catalog.list(_CATALOG_KIND[below], parent=path)]

    def sees_entry(self, entry: Any) -> bool:
        """Whether an audit entry is shown to this principal: root sees all, everyone sees their
        own actions, admins see the entries of what they administer (or, for entries about
        other things, of their organization's chain)."""
        if self.superuser or entry.actor == self.principal:
            return True
        inside = entry.chain and (entry.resource == entry.chain or entry.resource.startswith(entry.chain + "/"))
        path = entry.resource if inside else entry.chain
        return bool(path) and self.allows("admin", path)
