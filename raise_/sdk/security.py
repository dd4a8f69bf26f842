"""ACLs, external grants and the audit log from Python, compiled to Raise SQL.

Every call builds a ``grammar.security`` statement, renders it and sends the text through the
object's runner: the SDK's ``Executor`` (``send``) or any connection with
``execute(sql) -> pyarrow.Table``. Mixins give the SDK objects the spec's methods:

- ``AccessControlled`` (organizations, domains, projects, groups, features): ``set_acl``,
  ``get_acl``, ``get_effective_acl``, ``get_acl_chain``.
- ``ExternallyShared`` (feature groups): ``grant_external_access``, ``list_external_grants``,
  ``revoke_external_access``.
- ``AuditLogged`` (features): ``audit_log(category=)``.
- ``AuditConfigured`` (organizations): ``set_audit_config``, ``get_audit_config``.

Each class using a mixin defines ``_security_runner()`` and ``_security_target()``.
``AuditClient`` is ``fs.audit``.

>>> group.set_acl(ACL(readers=["ml-engineers@acme.com"], admins=["ml-leads@acme.com"]))  # doctest: +SKIP
>>> fs.audit.query(resource="user-signals/*", actions=["READ"])                          # doctest: +SKIP
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Iterator, Sequence

import pyarrow as pa

from grammar import security as sec
from grammar.ast import FeatureRef, GroupRef
from grammar.errors import RaiseSyntaxError, ValidationError

__all__ = [
    "ACL", "ExternalGrant", "AuditQuery", "AuditEntry", "AuditAlert", "AuditConfig",
    "AuditChain", "AuditVerification", "AuditClient", "AuditStream", "AccessControlled",
    "ExternallyShared", "AuditLogged", "AuditConfigured", "run",
]


def run(runner: Any, statement: Any) -> pa.Table:
    """Render ``statement`` and send it through ``runner`` (an Executor or a connection)."""
    text = sec.render_security_statement(statement)
    send = getattr(runner, "send", None)
    return send(text) if send is not None else runner.execute(text)


def _names(values: Iterable[str] | str | None, what: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise ValidationError(f"{what} must be a list of strings, got {values!r}", name=repr(values))
    return tuple(values)


def _instant(value: dt.datetime | dt.date | str | None) -> str | None:
    """An ISO UTC instant; a naive ``datetime`` is local time (as ``datetime.now()`` gives)."""
    if value is None:
        return None
    if isinstance(value, str):
        return sec.canonical_instant(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat()
    if isinstance(value, dt.date):
        return sec.canonical_instant(value.isoformat())
    raise ValidationError(f"expected a datetime or ISO-8601 text, got {value!r}", name=repr(value))


def _checked(statement: Any) -> None:
    """The statement's own checks (known actions, categories, outcomes, channels) for SDK input."""
    try:
        sec.parse_security_statement(sec.render_security_statement(statement))
    except RaiseSyntaxError as error:
        raise ValidationError(error.message, name=error.name) from None


def _parse_time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


# -- ACLs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ACL:
    """Readers, writers and admins of one level; ``inherit=False`` ignores the levels above.

    An ACL read back from the store also says where it is set: ``level`` (``"organization"``
    ... ``"feature"``) and ``path``, with the ``owners`` who administer that level. In
    ``get_acl_chain()`` a level where nothing is set has ``None`` readers, writers and admins.
    Equality compares the lists and ``inherit`` only.

    >>> ACL(readers=["ml-engineers@acme.com"], inherit=False)
    ACL(readers=('ml-engineers@acme.com',), writers=(), admins=(), inherit=False)
    """

    readers: Sequence[str] | None = ()
    writers: Sequence[str] | None = ()
    admins: Sequence[str] | None = ()
    inherit: bool = True
    level: str | None = field(default=None, compare=False)
    path: str | None = field(default=None, compare=False)
    owners: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        for name in ("readers", "writers", "admins"):
            value = getattr(self, name)
            object.__setattr__(self, name, None if value is None else _names(value, name))
        if not isinstance(self.inherit, bool):
            raise ValidationError(f"inherit must be True or False, got {self.inherit!r}", name="inherit")
        object.__setattr__(self, "owners", _names(self.owners, "owners"))

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "ACL":
        """A ``SHOW ACL`` row: the lists are None where the row's level has no ACL set."""
        lists = [tuple(row[k] or ()) if row["explicit"] else None for k in ("readers", "writers", "admins")]
        return cls(*lists, bool(row["inherit"]), row["level"], row["path"], tuple(row["owners"] or ()))

    @property
    def is_set(self) -> bool:
        """False for a chain level where no ACL is set."""
        return self.readers is not None

    def __repr__(self) -> str:
        where = f", level={self.level!r}, path={self.path!r}" if self.level else ""
        return (f"ACL(readers={self.readers!r}, writers={self.writers!r}, admins={self.admins!r}, "
                f"inherit={self.inherit!r}{where})")

    def _repr_html_(self) -> str:
        cells = "".join(f"<tr><th>{k}</th><td>{'-' if v is None else ', '.join(v) or '-'}</td></tr>"
                        for k, v in (("readers", self.readers), ("writers", self.writers), ("admins", self.admins)))
        where = f"<tr><th>set on</th><td>{self.level} {self.path}</td></tr>" if self.level else ""
        return f"<table>{where}{cells}<tr><th>inherit</th><td>{self.inherit}</td></tr></table>"


class AccessControlled:
    """``set_acl`` / ``get_acl`` / ``get_effective_acl`` / ``get_acl_chain`` for catalog objects."""

    def _security_runner(self) -> Any:
        raise NotImplementedError

    def _security_target(self) -> sec.Target:
        raise NotImplementedError

    def set_acl(self, acl: ACL) -> None:
        """Replace the ACL at this level (``SET ACL ON ...``)."""
        if not isinstance(acl, ACL):
            raise ValidationError(f"set_acl() takes an ACL(...), got {acl!r}", name=repr(acl))
        run(self._security_runner(), sec.SetAcl(target=self._security_target(), readers=acl.readers or (),
                                                writers=acl.writers or (), admins=acl.admins or (),
                                                inherit=acl.inherit))

    def get_acl(self) -> ACL | None:
        """The ACL set at this level, or None."""
        acl = ACL.from_row(self._acl_rows("stored")[0])
        return acl if acl.is_set else None

    def get_effective_acl(self) -> ACL:
        """Who may read, write and administer this object once inheritance is resolved."""
        row = self._acl_rows("effective")[0]
        return ACL(row["readers"], row["writers"], row["admins"], bool(row["inherit"]))

    def get_acl_chain(self) -> list[ACL]:
        """The ACL of every level from the organization down to this object, each with its
        ``level`` and ``path`` (readers, writers and admins are None where nothing is set)."""
        return [ACL.from_row(r) for r in self._acl_rows("chain")]

    def _acl_rows(self, mode: str) -> list[dict[str, Any]]:
        return run(self._security_runner(), sec.ShowAcl(target=self._security_target(), mode=mode)).to_pylist()


# -- external grants ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExternalGrant:
    """A grant of a group's features to organization ``org`` (``organization`` is an alias)."""

    group: str
    org: str
    features: tuple[str, ...]
    permission: str
    expires_at: dt.datetime | None
    status: str
    granted_by: str | None = None
    granted_at: dt.datetime | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "ExternalGrant":
        return cls(row["group"], row["organization"], tuple(row["features"]), row["permission"],
                   _parse_time(row["expires"]), row["status"], row["granted_by"], _parse_time(row["granted_at"]))

    @property
    def organization(self) -> str:
        return self.org

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class ExternallyShared:
    """Sharing a feature group's features with other organizations."""

    def _security_runner(self) -> Any:
        raise NotImplementedError

    def _security_target(self) -> sec.Target:
        raise NotImplementedError

    def _group_ref(self) -> GroupRef:
        target = self._security_target()
        if target.kind != "feature group":
            raise ValidationError("external grants are made on feature groups", name=target.kind)
        return target.path

    def grant_external_access(self, org: str, features: Sequence[str] = ("*",), permission: str = "read",
                              expires_at: dt.datetime | str | None = None) -> ExternalGrant:
        """Let organization ``org`` read (or write) ``features`` (``["*"]``: all) until ``expires_at``."""
        if permission not in sec.PERMISSIONS:
            raise ValidationError(f"permission must be one of {', '.join(sec.PERMISSIONS)}, got {permission!r}",
                                  name=str(permission))
        statement = sec.GrantAccess(group=self._group_ref(), organization=org, features=_names(features, "features"),
                                    permission=permission, expires=_instant(expires_at))
        run(self._security_runner(), statement)
        return next(g for g in self.list_external_grants() if g.org == org and g.permission == permission)

    def list_external_grants(self) -> list[ExternalGrant]:
        """Every grant made on this group (active, expired and revoked)."""
        table = run(self._security_runner(), sec.ShowGrants(group=self._group_ref()))
        return [ExternalGrant.from_row(r) for r in table.to_pylist()]

    def revoke_external_access(self, org: str, permission: str | None = None) -> bool:
        """Revoke the live grants to ``org`` (all permissions unless one is named); whether
        there was one to revoke."""
        statement = sec.RevokeAccess(group=self._group_ref(), organization=org, permission=permission)
        return run(self._security_runner(), statement).column("rows_affected")[0].as_py() > 0


# -- audit -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditQuery:
    """Which audit entries to select: every given field must match.

    ``resource`` is a glob over resource paths, relative to any level (``"user-signals/*"``);
    ``since``/``until`` take datetimes (naive ones are local time) or ISO-8601 text.
    """

    resource: str | None = None
    actions: Sequence[str] | None = None
    category: str | None = None
    since: dt.datetime | str | None = None
    until: dt.datetime | str | None = None
    actors: Sequence[str] | None = None
    actor_orgs: Sequence[str] | None = None
    exclude_actor_orgs: Sequence[str] | None = None
    outcomes: Sequence[str] | None = None

    def to_filter(self) -> sec.AuditFilter:
        lists = {k: (tuple(v.upper() for v in _names(getattr(self, k), k)) if k in ("actions", "outcomes")
                     else _names(getattr(self, k), k)) if getattr(self, k) is not None else None
                 for k in ("actions", "actors", "actor_orgs", "exclude_actor_orgs", "outcomes")}
        chosen = sec.AuditFilter(resource=self.resource, category=self.category, since=_instant(self.since),
                                 until=_instant(self.until), **lists)
        _checked(sec.ShowAudit(filter=chosen))
        return chosen

    @classmethod
    def from_filter(cls, chosen: sec.AuditFilter) -> "AuditQuery":
        return cls(**{f.name: getattr(chosen, f.name) for f in fields(sec.AuditFilter)})


@dataclass(frozen=True)
class AuditEntry:
    """One audit entry: who did what to which resource, when, and how it ended."""

    id: int
    timestamp: dt.datetime
    actor: str
    actor_org: str | None
    action: str
    category: str
    resource: str
    outcome: str
    details: dict[str, Any] = field(default_factory=dict)
    chain: str = ""
    seq: int = 0
    hash: str = ""

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "AuditEntry":
        return cls(row["id"], row["timestamp"], row["actor"], row["actor_org"], row["action"], row["category"],
                   row["resource"], row["outcome"], json.loads(row["details"] or "{}"), row["chain"], row["seq"],
                   row["hash"])


@dataclass(frozen=True)
class AuditAlert:
    name: str
    query: AuditQuery
    notify: tuple[str, ...]
    channels: tuple[str, ...]
    owner: str | None = None


@dataclass(frozen=True)
class AuditConfig:
    organization: str
    retention_days: int | None
    immutable: bool
    export_destination: str | None


@dataclass(frozen=True)
class AuditChain:
    """``verify()``'s result for one organization's chain."""

    organization: str
    entries: int
    valid: bool
    problems: tuple[str, ...]


@dataclass(frozen=True)
class AuditVerification:
    """``valid`` when every chain checked out; ``problems`` lists what did not."""

    chains: tuple[AuditChain, ...]

    @property
    def valid(self) -> bool:
        return all(c.valid for c in self.chains)

    @property
    def problems(self) -> list[str]:
        return [f"{c.organization or '(store)'}: {p}" for c in self.chains for p in c.problems]

    def __bool__(self) -> bool:
        return self.valid


def _query(query: AuditQuery | None, options: dict[str, Any]) -> sec.AuditFilter:
    if query is not None and options:
        raise ValidationError("pass an AuditQuery or keyword filters, not both", name="query")
    return (query or AuditQuery(**options)).to_filter()


class AuditStream:
    """Pages through the audit log in id order: ``with fs.audit.stream(q) as s: s.batches(size=...)``."""

    def __init__(self, runner: Any, chosen: sec.AuditFilter) -> None:
        self._runner = runner
        self._filter = chosen

    def __enter__(self) -> "AuditStream":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def batches(self, size: int = 10000) -> Iterator[pa.RecordBatch]:
        """Record batches of at most ``size`` entries (columns as ``SHOW AUDIT`` returns them)."""
        if not isinstance(size, int) or size < 1:
            raise ValidationError(f"size must be a positive integer, got {size!r}", name=repr(size))
        after = None
        while True:
            table = run(self._runner, sec.ShowAudit(filter=self._filter, after=after, limit=size))
            if table.num_rows == 0:
                return
            yield table.combine_chunks().to_batches(max_chunksize=size)[0]
            after = table.column("id")[-1].as_py()

    def entries(self, size: int = 10000) -> Iterator[AuditEntry]:
        for batch in self.batches(size):
            yield from (AuditEntry.from_row(row) for row in batch.to_pylist())


class AuditClient:
    """``fs.audit``: query, alert on, export, stream and verify the audit log."""

    def __init__(self, runner: Any) -> None:
        self._runner = runner

    def __repr__(self) -> str:
        return f"AuditClient({self._runner!r})"

    def query(self, query: AuditQuery | None = None, *, limit: int | None = None, **filters: Any) -> list[AuditEntry]:
        """Entries you may see that match, oldest first: ``query(resource="user-signals/*",
        actions=["READ"], since=datetime.now() - timedelta(days=7))``."""
        table = run(self._runner, sec.ShowAudit(filter=_query(query, filters), limit=limit))
        return [AuditEntry.from_row(r) for r in table.to_pylist()]

    def create_alert(self, name: str, query: AuditQuery | None = None, notify: Sequence[str] = (),
                     channels: Sequence[str] = ("email",)) -> AuditAlert:
        """An alert: each new entry matching ``query`` becomes a message to ``notify`` on ``channels``."""
        chosen = (query or AuditQuery()).to_filter()
        statement = sec.CreateAuditAlert(name=name, filter=chosen, notify=_names(notify, "notify"),
                                         channels=_names(channels, "channels"))
        _checked(statement)
        run(self._runner, statement)
        return AuditAlert(name, AuditQuery.from_filter(chosen), statement.notify, statement.channels)

    def list_alerts(self) -> list[AuditAlert]:
        alerts = []
        for row in run(self._runner, sec.ShowAuditAlerts()).to_pylist():
            chosen = sec.parse_audit_filter(row["filter"])
            alerts.append(AuditAlert(row["name"], AuditQuery.from_filter(chosen), tuple(row["notify"]),
                                     tuple(row["channels"]), row["owner"]))
        return alerts

    def delete_alert(self, name: str) -> None:
        run(self._runner, sec.DropAuditAlert(name=name))

    def export(self, query: AuditQuery | None = None, format: str = "jsonl", destination: str = "") -> str:
        """Write matching entries to ``destination`` (a path or ``s3://``-style URI; ending in
        ``/``: a new file in that folder) as jsonl, csv or parquet; the file written."""
        if not destination:
            raise ValidationError("export() needs a destination path or URI", name="destination")
        if format not in sec.EXPORT_FORMATS:
            raise ValidationError(f"format must be one of {', '.join(sec.EXPORT_FORMATS)}, got {format!r}",
                                  name=str(format))
        statement = sec.ExportAudit(destination=destination, filter=(query or AuditQuery()).to_filter(),
                                    format=format)
        return run(self._runner, statement).column("object")[0].as_py()

    def stream(self, query: AuditQuery | None = None, **filters: Any) -> AuditStream:
        return AuditStream(self._runner, _query(query, filters))

    def verify(self, org: str | None = None) -> AuditVerification:
        """Recompute the hash chains; ``.valid`` is False if any entry was edited or removed."""
        rows = run(self._runner, sec.VerifyAudit(organization=org)).to_pylist()
        return AuditVerification(tuple(AuditChain(r["chain"], r["entries"], r["valid"], tuple(r["problems"]))
                                       for r in rows))

    def set_audit_config(self, org: str, *, retention_days: int | None = None, immutable: bool | None = None,
                         export_destination: str | None = None) -> None:
        """Retention, immutability (one-way) and archive destination of ``org``'s audit log."""
        run(self._runner, sec.SetAuditConfig(organization=org, retention_days=retention_days,
                                             immutable=True if immutable else None,
                                             export_destination=export_destination))

    def get_audit_config(self, org: str) -> AuditConfig:
        row = run(self._runner, sec.ShowAuditConfig(organization=org)).to_pylist()[0]
        return AuditConfig(row["organization"], row["retention_days"], row["immutable"], row["export_destination"])


class AuditLogged:
    """``feature.audit_log(category=)``: the entries about one feature."""

    def _security_runner(self) -> Any:
        raise NotImplementedError

    def _security_target(self) -> sec.Target:
        raise NotImplementedError

    def audit_log(self, category: str | None = None, **filters: Any) -> list[AuditEntry]:
        """Entries about this feature (every version), e.g. ``category="schema"``."""
        return AuditClient(self._security_runner()).query(resource=_resource(self._security_target()),
                                                          category=category, **filters)


class AuditConfigured:
    """``org.set_audit_config(retention_days=, immutable=, export_destination=)``."""

    def _security_runner(self) -> Any:
        raise NotImplementedError

    def _security_target(self) -> sec.Target:
        raise NotImplementedError

    def set_audit_config(self, *, retention_days: int | None = None, immutable: bool | None = None,
                         export_destination: str | None = None) -> None:
        AuditClient(self._security_runner()).set_audit_config(
            _resource(self._security_target()), retention_days=retention_days, immutable=immutable,
            export_destination=export_destination)

    def get_audit_config(self) -> AuditConfig:
        return AuditClient(self._security_runner()).get_audit_config(_resource(self._security_target()))


def _resource(target: sec.Target) -> str:
    """The audit resource path of a target given with its full project path."""
    if isinstance(target.path, tuple):
        return "/".join(target.path)
    group = target.path.group if isinstance(target.path, FeatureRef) else target.path
    parts = (*(group.project or ()), group.name)
    return "/".join(parts + ((target.path.name,) if isinstance(target.path, FeatureRef) else ()))
