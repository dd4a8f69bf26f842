"""Principals: users, principal groups, and the organization each belongs to.

A user is a name such as ``alice@acme.com`` (the embedded store's ``user=``/``$RAISE_USER``, or
the Flight server's authenticated user). A principal group (``ml-engineers@acme.com``) is a
catalog object (kind ``principal_group``) with a list of members: users or other groups.
An ACL that names a group grants its right to every member, transitively.

Organizations: a principal belongs to the organization set for it explicitly (kind
``principal``, ``ALTER PRINCIPAL 'bob@gmail.com' SET ORGANIZATION partner``), else to the one
its e-mail domain names: the domain without its last label (``acme.com`` -> ``acme``,
``partner-org.co.uk`` -> ``partner-org.co``), so ``bob@acme.evil.com`` is never in ``acme``.

No principal (``None``, the embedded store opened without a user) acts as ``root``, the local
superuser who administers everything; so does a server user named ``root``. The embedded
superuser acts for the organization its store was opened on: its audit entries carry that
``actor_org``, so "exclude own org" queries leave out the local user's own actions.
"""
from __future__ import annotations

from typing import Any, Iterable

from grammar.errors import ValidationError
from raise_.engine import names
from raise_.engine.catalog import Catalog

ROOT = "root"
GROUP_KIND = "principal_group"
PRINCIPAL_KIND = "principal"


def actor(principal: str | None) -> str:
    """The name audit entries record for ``principal``."""
    return principal or ROOT


def is_superuser(principal: str | None) -> bool:
    return principal is None or principal == ROOT


def check_principal(name: Any, what: str = "principal") -> str:
    """A user or group name as the server accepts users (``names.check_principal``)."""
    try:
        return names.check_principal(name)
    except ValidationError:
        raise ValidationError(f"invalid {what} {name!r}: use a user or group name such as 'alice' or "
                              "'alice@acme.com'", code="RAISE-V070", name=str(name)) from None


def check_group_name(name: Any) -> str:
    """Principal groups are e-mail style (``ml-engineers@acme.com``): the domain names their org."""
    check_principal(name, "principal group name")
    if email_organization(name) is None:
        raise ValidationError(
            f"principal group {name!r} needs an e-mail style name such as 'ml-engineers@acme.com'; "
            "its domain says which organization administers it", code="RAISE-V071", name=name)
    return name


def email_organization(name: str) -> str | None:
    """``alice@acme.com`` -> ``acme``; None for a name without an e-mail domain."""
    _, at, domain = name.rpartition("@")
    if not at or not domain:
        return None
    labels = domain.lower().split(".")
    return ".".join(labels[:-1]) if len(labels) > 1 else labels[0]


def organization_of(catalog: Catalog, principal: str | None) -> str | None:
    """The organization ``principal`` belongs to (None for root and for names without one)."""
    if is_superuser(principal):
        return None
    explicit = catalog.get(PRINCIPAL_KIND, principal)
    if explicit is not None and explicit.get("organization"):
        return explicit["organization"]
    return email_organization(principal)


def acting_organization(catalog: Catalog, principal: str | None, opened: str | None) -> str | None:
    """The organization audit entries record for ``principal`` in a session opened on
    organization ``opened``: the embedded superuser (no principal) acts for ``opened``."""
    if principal is None:
        return opened
    return organization_of(catalog, principal)


def set_organization(catalog: Catalog, principal: str, organization: str, by: str) -> None:
    check_principal(principal)
    catalog.put(PRINCIPAL_KIND, principal, {"name": principal, "organization": organization, "set_by": by})


def identities(catalog: Catalog, principal: str | None) -> frozenset[str]:
    """``principal`` and every principal group it is a member of, directly or through groups."""
    if principal is None:
        return frozenset({ROOT})
    groups = {r["key"]: set(r.get("members") or ()) for r in catalog.list(GROUP_KIND)}
    found = {principal}
    changed = True
    while changed:
        joined = {name for name, members in groups.items() if name not in found and members & found}
        changed = bool(joined)
        found |= joined
    return frozenset(found)


def group(catalog: Catalog, name: str) -> dict[str, Any] | None:
    return catalog.get(GROUP_KIND, name)


def groups(catalog: Catalog) -> list[dict[str, Any]]:
    return catalog.list(GROUP_KIND)


def save_group(catalog: Catalog, name: str, members: Iterable[str], description: str | None,
               owner: str) -> dict[str, Any]:
    """Create or replace principal group ``name``; members are checked and de-duplicated in order."""
    unique = list(dict.fromkeys(check_principal(m, "member") for m in members))
    if name in unique:
        raise ValidationError(f"principal group {name!r} cannot be a member of itself",
                              code="RAISE-V072", name=name)
    record = {"name": name, "members": unique, "description": description, "owner": owner,
              "organization": email_organization(name)}
    catalog.put(GROUP_KIND, name, record)
    return catalog.get(GROUP_KIND, name)


def drop_group(catalog: Catalog, name: str) -> bool:
    return catalog.delete(GROUP_KIND, name)
