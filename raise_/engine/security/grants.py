"""External grants: a feature group's features shared with another organization.

A grant (catalog kind ``grant``, key ``<group path>|<organization>|<permission>``) lets every
member of the grantee organization read (or write) the listed features (``*``: all of them,
including ones created later) and the group's key and event-time columns, until it expires or
is revoked. Granting again replaces the grant; revoking keeps the record, marked revoked, so
``SHOW GRANTS`` can list the history. Every check reads the grant at the time of the query, so
expiry and revocation take effect on the next query, for derived features too.

``@org/domain/project/group.feature`` references (in ``DERIVED AS``) resolve only under a live
grant from ``org`` to the organization of the group that holds the derived feature
(``resolve_external``); anything else, including a path that names nothing, is
``PermissionDenied`` so that a forged path learns nothing about what exists.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable

from grammar.errors import PermissionDenied, ValidationError
from raise_.engine.catalog import Catalog, now
from raise_.engine.records import GroupRecord

KIND = "grant"


def key(group_key: str, organization: str, permission: str) -> str:
    return f"{group_key}|{organization}|{permission}"


def status(record: dict[str, Any], at: str | None = None) -> str:
    """``active``, ``expired`` or ``revoked`` at ``at`` (ISO UTC text; default now)."""
    if record.get("revoked_at"):
        return "revoked"
    expires = record.get("expires")
    if expires and _instant(expires) <= _instant(at or now()):
        return "expired"
    return "active"


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def grant(catalog: Catalog, group: GroupRecord, organization: str, features: Iterable[str],
          permission: str, expires: str | None, by: str) -> dict[str, Any]:
    """Create or replace the grant of ``permission`` on ``group`` to ``organization``."""
    wanted = tuple(features) or ("*",)
    if "*" in wanted and len(wanted) > 1:
        raise ValidationError("grant either '*' or a list of features, not both", code="RAISE-V073", name="*")
    if organization == group.organization:
        raise ValidationError(f"{organization!r} owns {group.name!r}: external grants are for other "
                              "organizations; use SET ACL inside one", code="RAISE-V074", name=organization)
    if expires is not None and status({"expires": expires}) == "expired":
        raise ValidationError(f"the grant would expire at {expires}, which has passed", code="RAISE-V075",
                              name=expires)
    names = {r["name"] for r in catalog.list("feature", parent=group.key)}
    missing = [f for f in wanted if f != "*" and f not in names]
    if missing:
        raise ValidationError(f"feature group {group.name!r} has no feature {missing[0]!r}",
                              code="RAISE-V076", name=missing[0])
    record = {"group": group.key, "organization": organization, "features": list(wanted),
              "permission": permission, "expires": expires, "granted_by": by, "granted_at": now(),
              "revoked_at": None, "revoked_by": None}
    catalog.put(KIND, key(group.key, organization, permission), record, parent=group.key)
    return record


def revoke(catalog: Catalog, group_key: str, organization: str, permission: str | None, by: str) -> list[dict]:
    """Mark the live grants of ``group_key`` to ``organization`` revoked; the ones revoked."""
    revoked = []
    for record in catalog.list(KIND, parent=group_key):
        if record["organization"] != organization or permission not in (None, record["permission"]):
            continue
        if status(record) == "revoked":
            continue
        stored = {k: v for k, v in record.items() if k not in ("key", "created_at", "updated_at")}
        stored.update(revoked_at=now(), revoked_by=by)
        catalog.put(KIND, record["key"], stored, parent=group_key)
        revoked.append(stored)
    return revoked


def of_group(catalog: Catalog, group_key: str) -> list[dict[str, Any]]:
    return catalog.list(KIND, parent=group_key)


def every(catalog: Catalog) -> list[dict[str, Any]]:
    return catalog.list(KIND)


def live(catalog: Catalog, group_key: str, organization: str) -> list[dict[str, Any]]:
    return [r for r in of_group(catalog, group_key)
            if r["organization"] == organization and status(r) == "active"]


def covers(catalog: Catalog, group_key: str, organization: str, feature: str | None, permission: str) -> bool:
    """Whether a live grant gives ``organization`` ``permission`` on ``feature`` of the group
    (``feature=None``: on the group itself, i.e. its keys, which any live grant includes)."""
    accepted = ("write",) if permission == "write" else ("read", "write")
    for record in live(catalog, group_key, organization):
        if record["permission"] in accepted and (feature is None or "*" in record["features"]
                                                  or feature in record["features"]):
            return True
    return False


def resolve_external(catalog: Catalog, path: Any, grantee: str) -> GroupRecord:
    """The group record an ``@org/domain/project/group.feature`` path names, if ``grantee``
    (an organization) holds a live grant covering the feature; ``PermissionDenied`` otherwise.

    ``path`` is a ``grammar.expressions.FeaturePath`` with ``external`` set.
    """
    parts = (path.org, path.domain, path.project, path.group)
    denied = PermissionDenied(
        f"{path.text!r}: organization {grantee!r} holds no live grant for it from {path.org!r} "
        "(never granted, expired or revoked)", code="RAISE-P003", name=path.text)
    if None in parts:
        raise denied
    group_key = "/".join(parts)
    if not covers(catalog, group_key, grantee, path.feature, "read"):
        raise denied
    record = catalog.get("group", group_key)
    if record is None:
        raise denied
    return GroupRecord.from_record(record)
