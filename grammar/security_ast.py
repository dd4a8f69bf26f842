"""The security statements of Raise SQL as frozen dataclasses, and their vocabularies.

``grammar.security`` parses and renders them (and re-exports everything here).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal, Union

from grammar.ast import FeatureRef, GroupRef
from grammar.errors import RaiseSyntaxError

#: The spec's Audit Actions table: category -> actions.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "access": ("READ", "WRITE", "QUERY"),
    "schema": ("CREATE", "UPDATE_SCHEMA", "UPDATE_METADATA", "DELETE", "DEPRECATE", "CREATE_VERSION"),
    "acl": ("UPDATE_ACL", "GRANT_EXTERNAL", "REVOKE_EXTERNAL"),
    "lineage": ("UPDATE_DERIVATION", "LINEAGE_BREAK"),
}
ACTIONS: tuple[str, ...] = tuple(a for actions in CATEGORIES.values() for a in actions)
OUTCOMES = ("ALLOWED", "DENIED", "ERROR")
EXPORT_FORMATS = ("jsonl", "csv", "parquet")
CHANNELS = ("email", "slack")
PERMISSIONS = ("read", "write")

#: Leading words of the statements this grammar parses; anything else is not a security statement.
LEADING_FORMS = tuple(tuple(form.split()) for form in (
    "SET ACL", "SHOW ACL", "SHOW EFFECTIVE ACL", "CREATE PRINCIPAL", "ALTER PRINCIPAL",
    "DROP PRINCIPAL", "SHOW PRINCIPAL", "GRANT", "REVOKE", "SHOW GRANTS", "SHOW AUDIT",
    "SET AUDIT", "CREATE AUDIT", "DROP AUDIT", "EXPORT AUDIT", "VERIFY AUDIT",
))

_frozen = dict(frozen=True, slots=True, kw_only=True)
TargetKind = Literal["organization", "domain", "project", "feature group", "feature"]


@dataclass(**_frozen)
class Target:
    """What an ACL is attached to: a namespace path, a ``GroupRef`` or a ``FeatureRef``."""

    kind: TargetKind
    path: Union[tuple[str, ...], GroupRef, FeatureRef]


@dataclass(**_frozen)
class SetAcl:
    """``SET ACL ON target [READERS (...)] [WRITERS (...)] [ADMINS (...)] [NO INHERIT]``."""

    target: Target
    readers: tuple[str, ...] = ()
    writers: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    inherit: bool = True


@dataclass(**_frozen)
class ShowAcl:
    """``SHOW ACL ON t`` (stored), ``SHOW EFFECTIVE ACL ON t``, ``SHOW ACL CHAIN ON t``."""

    target: Target
    mode: Literal["stored", "effective", "chain"] = "stored"


@dataclass(**_frozen)
class CreatePrincipalGroup:
    """``CREATE PRINCIPAL GROUP [IF NOT EXISTS] 'ml@acme.com' [MEMBERS (...)] [DESCRIPTION '...']``."""

    name: str
    members: tuple[str, ...] = ()
    description: str | None = None
    if_not_exists: bool = False


@dataclass(**_frozen)
class AlterPrincipalGroup:
    """``ALTER PRINCIPAL GROUP 'ml@acme.com' ADD|REMOVE MEMBERS ('a@acme.com', ...)``."""

    name: str
    change: Literal["add", "remove"]
    members: tuple[str, ...]


@dataclass(**_frozen)
class DropPrincipalGroup:
    """``DROP PRINCIPAL GROUP [IF EXISTS] 'ml@acme.com'``."""

    name: str
    if_exists: bool = False


@dataclass(**_frozen)
class ShowPrincipalGroups:
    """``SHOW PRINCIPAL GROUPS``."""


@dataclass(**_frozen)
class AlterPrincipal:
    """``ALTER PRINCIPAL 'bob@gmail.com' SET ORGANIZATION partner``: an explicit organization."""

    principal: str
    organization: str


@dataclass(**_frozen)
class GrantAccess:
    """``GRANT READ ON FEATURE GROUP g (a, b | *) TO ORGANIZATION partner [EXPIRES 'iso']``."""

    group: GroupRef
    organization: str
    features: tuple[str, ...] = ("*",)
    permission: Literal["read", "write"] = "read"
    expires: str | None = None


@dataclass(**_frozen)
class RevokeAccess:
    """``REVOKE [READ|WRITE] ON FEATURE GROUP g FROM ORGANIZATION partner`` (no permission: all)."""

    group: GroupRef
    organization: str
    permission: Literal["read", "write"] | None = None


@dataclass(**_frozen)
class ShowGrants:
    """``SHOW GRANTS [ON FEATURE GROUP g] [TO ORGANIZATION partner]``."""

    group: GroupRef | None = None
    organization: str | None = None


@dataclass(**_frozen)
class AuditFilter:
    """Which audit entries a query, alert or export selects (every given clause must hold).

    ``resource`` is a glob over resource paths (``user-signals/*``; see ``raise_.engine.security.audit``);
    ``since``/``until`` are canonical ISO-8601 UTC instants.
    """

    resource: str | None = None
    actions: tuple[str, ...] | None = None
    category: str | None = None
    since: str | None = None
    until: str | None = None
    actors: tuple[str, ...] | None = None
    actor_orgs: tuple[str, ...] | None = None
    exclude_actor_orgs: tuple[str, ...] | None = None
    outcomes: tuple[str, ...] | None = None


@dataclass(**_frozen)
class ShowAudit:
    """``SHOW AUDIT [filter clauses] [AFTER id] [LIMIT n]``: entries in id order."""

    filter: AuditFilter = field(default_factory=AuditFilter)
    after: int | None = None
    limit: int | None = None


@dataclass(**_frozen)
class SetAuditConfig:
    """``SET AUDIT CONFIG [ON ORGANIZATION o] [RETENTION DAYS n] [IMMUTABLE] [EXPORT DESTINATION 'uri']``."""

    organization: str | None = None
    retention_days: int | None = None
    immutable: bool | None = None
    export_destination: str | None = None


@dataclass(**_frozen)
class ShowAuditConfig:
    """``SHOW AUDIT CONFIG [ON ORGANIZATION o]``."""

    organization: str | None = None


@dataclass(**_frozen)
class CreateAuditAlert:
    """``CREATE AUDIT ALERT name [filter clauses] NOTIFY ('a@x.com') [CHANNELS ('email', 'slack')]``."""

    name: str
    filter: AuditFilter = field(default_factory=AuditFilter)
    notify: tuple[str, ...] = ()
    channels: tuple[str, ...] = ("email",)


@dataclass(**_frozen)
class DropAuditAlert:
    """``DROP AUDIT ALERT [IF EXISTS] name``."""

    name: str
    if_exists: bool = False


@dataclass(**_frozen)
class ShowAuditAlerts:
    """``SHOW AUDIT ALERTS``."""


@dataclass(**_frozen)
class ExportAudit:
    """``EXPORT AUDIT [filter clauses] TO 'path-or-uri' [FORMAT jsonl|csv|parquet]``."""

    destination: str
    filter: AuditFilter = field(default_factory=AuditFilter)
    format: Literal["jsonl", "csv", "parquet"] = "jsonl"


@dataclass(**_frozen)
class VerifyAudit:
    """``VERIFY AUDIT [ON ORGANIZATION o]``: check the hash chains."""

    organization: str | None = None


SecurityStatement = Union[
    SetAcl, ShowAcl, CreatePrincipalGroup, AlterPrincipalGroup, DropPrincipalGroup, ShowPrincipalGroups,
    AlterPrincipal, GrantAccess, RevokeAccess, ShowGrants, ShowAudit, SetAuditConfig, ShowAuditConfig,
    CreateAuditAlert, DropAuditAlert, ShowAuditAlerts, ExportAudit, VerifyAudit,
]
#: Every security statement class, for "each has a handler and a renderer" checks.
SECURITY_STATEMENTS: tuple[type, ...] = SecurityStatement.__args__


def canonical_instant(text: str) -> str:
    """An ISO-8601 date/time as canonical UTC text; a time without zone is taken as UTC.

    >>> canonical_instant("2027-01-01")
    '2027-01-01T00:00:00+00:00'
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise RaiseSyntaxError(f"{text!r} is not an ISO-8601 date or time, e.g. '2027-01-01T00:00:00+00:00'",
                               name=text) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat()
