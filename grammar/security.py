"""Raise SQL security statements: ACLs, principal groups, external grants and the audit log.

A small grammar of its own (``security.lark``) with one frozen dataclass per statement (defined in
``grammar.security_ast``, re-exported here).
``parse_security_statement(text)`` returns the statement, or None when ``text`` does not start
with one of ``LEADING_FORMS`` (so the caller tries the main grammar / DataFusion), and raises
``RaiseSyntaxError`` when it does but is malformed. ``render_security_statement`` writes the
canonical text; ``parse_security_statement(render_security_statement(s)) == s``.

>>> parse_security_statement("SET ACL ON FEATURE GROUP g READERS ('a@x.com') NO INHERIT")
SetAcl(target=Target(kind='feature group', path=GroupRef(name='g', project=None)), readers=('a@x.com',), writers=(), admins=(), inherit=False)
>>> parse_security_statement("SELECT 1") is None
True
"""
from __future__ import annotations

import re
from dataclasses import fields
from typing import Callable

from lark import Lark, Token, v_args

from grammar import clauses
from grammar.ast import GroupRef
from grammar.errors import RaiseSyntaxError, ValidationError
from grammar.security_ast import (
    ACTIONS, CATEGORIES, CHANNELS, EXPORT_FORMATS, LEADING_FORMS, OUTCOMES, PERMISSIONS, SECURITY_STATEMENTS,
    AlterPrincipal, AlterPrincipalGroup, AuditFilter, CreateAuditAlert, CreatePrincipalGroup, DropAuditAlert,
    DropPrincipalGroup, ExportAudit, GrantAccess, RevokeAccess, SecurityStatement, SetAcl, SetAuditConfig, ShowAcl,
    ShowAudit, ShowAuditAlerts, ShowAuditConfig, ShowGrants, ShowPrincipalGroups, Target, VerifyAudit,
    canonical_instant,
)

__all__ = [
    "parse_security_statement", "parse_audit_filter", "render_security_statement", "SECURITY_STATEMENTS", "LEADING_FORMS",
    "ACTIONS", "CATEGORIES", "OUTCOMES", "EXPORT_FORMATS", "CHANNELS", "PERMISSIONS",
    "Target", "SetAcl", "ShowAcl", "CreatePrincipalGroup", "AlterPrincipalGroup", "DropPrincipalGroup",
    "ShowPrincipalGroups", "AlterPrincipal", "GrantAccess", "RevokeAccess", "ShowGrants",
    "AuditFilter", "ShowAudit", "SetAuditConfig", "ShowAuditConfig", "CreateAuditAlert",
    "DropAuditAlert", "ShowAuditAlerts", "ExportAudit", "VerifyAudit", "canonical_instant", "EXTENSION",
]

# ------------------------------------------------------------------ parsing

_WORD = re.compile(r"\s+|--[^\n]*|/\*.*?\*/|(\w+)|.", re.S)


def _leading_words(text: str, most: int = 3) -> tuple[str, ...]:
    words: list[str] = []
    for match in _WORD.finditer(text):
        if len(words) == most:
            break
        if match.group(1):
            words.append(match.group(1).upper())
        elif not match.group(0).isspace() and not match.group(0).startswith(("--", "/*")):
            break
    return tuple(words)


def is_security_statement(text: str) -> bool:
    words = _leading_words(text)
    return any(words[:len(form)] == form for form in LEADING_FORMS)


def parse_security_statement(text: str) -> SecurityStatement | None:
    """The security statement ``text`` holds (one statement, no ``;``), or None if it is none.

    Errors carry 1-based positions relative to ``text``.
    """
    if not is_security_statement(text):
        return None
    return clauses.transform(_lark(), _Transform(), text, _friendly, start="start")


def parse_audit_filter(text: str) -> AuditFilter:
    """The filter clauses of SHOW AUDIT (``ACTIONS ('READ') SINCE '...'``, as SHOW AUDIT ALERTS
    lists them) as an ``AuditFilter``; empty text is the filter that matches everything."""
    return clauses.transform(_lark(), _Transform(), text, _friendly, "audit filter", start="audit_filter")


def _lark() -> Lark:
    return clauses.grammar("security.lark", ("start", "audit_filter"))


def _friendly(terminal: str) -> str:
    names = {"NAME": "a name", "QUOTED": "a quoted name", "STRING": "a string literal", "INT": "a number",
             "LPAR": "'('", "RPAR": "')'", "COMMA": "','", "DOT": "'.'", "SLASH": "'/'", "$END": "end of statement"}
    return names.get(terminal, terminal.strip("_").replace("_", " "))


def _choose(allowed: tuple[str, ...], what: str, upper: bool = False) -> Callable[[str, object], str]:
    def check(value: str, meta) -> str:
        canonical = value.upper() if upper else value.lower()
        if canonical not in allowed:
            raise RaiseSyntaxError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}",
                                   name=value, line=getattr(meta, "line", 1), column=getattr(meta, "column", 1))
        return canonical
    return check


_action = _choose(ACTIONS, "audit action", upper=True)
_category = _choose(tuple(CATEGORIES), "audit category")
_outcome = _choose(OUTCOMES, "audit outcome", upper=True)
_channel = _choose(CHANNELS, "alert channel")
_format = _choose(EXPORT_FORMATS, "export format")
_FILTER_KEYS = {f.name for f in fields(AuditFilter)}
_PATH_LIMITS = {"organization": 1, "domain": 2, "project": 3}


def _split(items, meta) -> tuple[AuditFilter, dict]:
    """Audit filter clauses as an ``AuditFilter``, and the other options."""
    options = clauses.options(items)
    chosen = {k: v for k, v in options.items() if k in _FILTER_KEYS}
    return AuditFilter(**chosen), {k: v for k, v in options.items() if k not in _FILTER_KEYS}


def _opt(key: str, convert: Callable | None = None):
    def method(self, meta, children):
        value = children[0] if children else True
        return clauses.Option(key, convert(value, meta) if convert else value, meta.line, meta.column)
    return method


def _each(check: Callable) -> Callable:
    return lambda values, meta: tuple(check(v, meta) for v in values)


def _instant(value: str, meta) -> str:
    try:
        return canonical_instant(value)
    except RaiseSyntaxError as error:
        error.line, error.column = meta.line, meta.column
        raise


def _positive(value: int, meta) -> int:
    if value < 1:
        raise RaiseSyntaxError("expected a number of at least 1", line=meta.line, column=meta.column)
    return value


@v_args(meta=True)
class _Transform(clauses.CommonTransformer):
    """Tree -> security statement dataclasses (stateless)."""

    def INT(self, token: Token) -> int:
        return int(token)

    def strings(self, meta, children) -> tuple[str, ...]:
        return tuple(children)

    principals = strings

    def feature_list(self, meta, children) -> tuple[str, ...]:
        return ("*",) if children and isinstance(children[0], Token) else tuple(children)

    # -- targets
    def target_namespace(self, meta, children) -> Target:
        kind, path = children
        if len(path) > _PATH_LIMITS[kind]:
            raise RaiseSyntaxError(f"a {kind} path has at most {_PATH_LIMITS[kind]} names: {'/'.join(path)}",
                                   line=meta.line, column=meta.column)
        return Target(kind=kind, path=path)

    def target_group(self, meta, children) -> Target:
        return Target(kind="feature group", path=children[0])

    def target_feature(self, meta, children) -> Target:
        return Target(kind="feature", path=children[0])

    # -- options
    readers = _opt("readers")
    writers = _opt("writers")
    admins = _opt("admins")
    no_inherit = _opt("inherit", lambda v, m: False)
    inherit = _opt("inherit", lambda v, m: True)
    members = _opt("members")
    description = _opt("description")
    expires = _opt("expires", lambda v, m: _instant(v, m))
    resource = _opt("resource")
    actions = _opt("actions", _each(_action))
    category = _opt("category", _category)
    since = _opt("since", lambda v, m: _instant(v, m))
    until = _opt("until", lambda v, m: _instant(v, m))
    actors = _opt("actors")
    actor_orgs = _opt("actor_orgs")
    exclude_actor_orgs = _opt("exclude_actor_orgs")
    outcomes = _opt("outcomes", _each(_outcome))
    after = _opt("after")
    limit = _opt("limit", _positive)
    retention_days = _opt("retention_days", _positive)
    immutable = _opt("immutable")
    export_destination = _opt("export_destination")
    notify = _opt("notify")
    channels = _opt("channels", _each(_channel))
    grants_on = _opt("group")
    grants_to = _opt("organization")
    on_org = _opt("organization")
    export_format = _opt("format", _format)

    # -- statements
    def set_acl(self, meta, children) -> SetAcl:
        return SetAcl(target=children[0], **clauses.options(children))

    def show_acl(self, meta, children) -> ShowAcl:
        return ShowAcl(target=children[0], mode="stored")

    def show_effective_acl(self, meta, children) -> ShowAcl:
        return ShowAcl(target=children[0], mode="effective")

    def show_acl_chain(self, meta, children) -> ShowAcl:
        return ShowAcl(target=children[0], mode="chain")

    def create_principal_group(self, meta, children) -> CreatePrincipalGroup:
        return CreatePrincipalGroup(name=clauses.positional(children)[0], **clauses.options(children))

    def member_change(self, meta, children) -> tuple[str, tuple[str, ...]]:
        change, members = children
        return str(change).lower(), members if isinstance(members, tuple) else (members,)

    def alter_principal_group(self, meta, children) -> AlterPrincipalGroup:
        name, (change, members) = children
        return AlterPrincipalGroup(name=name, change=change, members=members)

    def drop_principal_group(self, meta, children) -> DropPrincipalGroup:
        return DropPrincipalGroup(name=clauses.positional(children)[0], **clauses.options(children))

    def show_principal_groups(self, meta, children) -> ShowPrincipalGroups:
        return ShowPrincipalGroups()

    def alter_principal(self, meta, children) -> AlterPrincipal:
        return AlterPrincipal(principal=children[0], organization=children[1])

    def grant(self, meta, children) -> GrantAccess:
        permission, group, *rest = clauses.positional(children)
        features = rest[0] if len(rest) == 2 else ("*",)
        return GrantAccess(group=group, organization=rest[-1], features=features,
                           permission=str(permission).lower(), **clauses.options(children))

    def revoke(self, meta, children) -> RevokeAccess:
        *permission, group, organization = children
        return RevokeAccess(group=group, organization=organization,
                            permission=str(permission[0]).lower() if permission else None)

    def show_grants(self, meta, children) -> ShowGrants:
        return ShowGrants(**clauses.options(children))

    def audit_filter(self, meta, children) -> AuditFilter:
        return _split(children, meta)[0]

    def show_audit(self, meta, children) -> ShowAudit:
        chosen, paging = _split(children, meta)
        return ShowAudit(filter=chosen, **paging)

    def set_audit_config(self, meta, children) -> SetAuditConfig:
        return SetAuditConfig(**clauses.options(children))

    def show_audit_config(self, meta, children) -> ShowAuditConfig:
        return ShowAuditConfig(**clauses.options(children))

    def create_audit_alert(self, meta, children) -> CreateAuditAlert:
        chosen, options = _split(children, meta)
        if not options.get("notify"):
            raise RaiseSyntaxError("an audit alert needs NOTIFY ('someone@example.com', ...)",
                                   line=meta.line, column=meta.column)
        return CreateAuditAlert(name=clauses.positional(children)[0], filter=chosen, **options)

    def drop_audit_alert(self, meta, children) -> DropAuditAlert:
        return DropAuditAlert(name=clauses.positional(children)[0], **clauses.options(children))

    def show_audit_alerts(self, meta, children) -> ShowAuditAlerts:
        return ShowAuditAlerts()

    def export_audit(self, meta, children) -> ExportAudit:
        chosen, options = _split(children, meta)
        return ExportAudit(destination=clauses.positional(children)[0], filter=chosen, **options)

    def verify_audit(self, meta, children) -> VerifyAudit:
        return VerifyAudit(**clauses.options(children))


# ------------------------------------------------------------------ rendering


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _strings(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(_string(v) for v in values) + ")"


def _group(ref: GroupRef) -> str:
    return "/".join(_ident(n) for n in (ref.project or ()) + (ref.name,))


def _target(target: Target) -> str:
    if target.kind == "feature group":
        return "FEATURE GROUP " + _group(target.path)
    if target.kind == "feature":
        ref = target.path
        text = f"FEATURE {_group(ref.group)}.{_ident(ref.name)}"
        return text + (f"@{_ident(ref.version)}" if ref.version else "")
    return f"{target.kind.upper()} " + "/".join(_ident(n) for n in target.path)


def _words(*parts: str | None) -> str:
    return " ".join(p for p in parts if p)


def _filter(f: AuditFilter) -> str:
    lists = (("ACTIONS", f.actions), ("ACTORS", f.actors), ("ACTOR ORGS", f.actor_orgs),
             ("EXCLUDE ACTOR ORGS", f.exclude_actor_orgs), ("OUTCOMES", f.outcomes))
    singles = (("RESOURCE", f.resource), ("CATEGORY", f.category), ("SINCE", f.since), ("UNTIL", f.until))
    return _words(*(f"{k} {_string(v)}" for k, v in singles if v is not None),
                  *(f"{k} {_strings(v)}" for k, v in lists if v is not None))


def _on_org(org: str | None) -> str | None:
    return f"ON ORGANIZATION {_ident(org)}" if org is not None else None


def _set_acl(s: SetAcl) -> str:
    lists = (("READERS", s.readers), ("WRITERS", s.writers), ("ADMINS", s.admins))
    return _words("SET ACL ON", _target(s.target), *(f"{k} {_strings(v)}" for k, v in lists if v),
                  None if s.inherit else "NO INHERIT")


def _show_acl(s: ShowAcl) -> str:
    head = {"stored": "SHOW ACL ON", "effective": "SHOW EFFECTIVE ACL ON", "chain": "SHOW ACL CHAIN ON"}[s.mode]
    return _words(head, _target(s.target))


def _create_pgroup(s: CreatePrincipalGroup) -> str:
    return _words("CREATE PRINCIPAL GROUP", "IF NOT EXISTS" if s.if_not_exists else None, _string(s.name),
                  f"MEMBERS {_strings(s.members)}" if s.members else None,
                  f"DESCRIPTION {_string(s.description)}" if s.description is not None else None)


def _grant(s: GrantAccess) -> str:
    features = "(*)" if s.features == ("*",) else "(" + ", ".join(_ident(f) for f in s.features) + ")"
    return _words("GRANT", s.permission.upper(), "ON FEATURE GROUP", _group(s.group), features,
                  "TO ORGANIZATION", _ident(s.organization),
                  f"EXPIRES {_string(s.expires)}" if s.expires is not None else None)


def _show_audit(s: ShowAudit) -> str:
    return _words("SHOW AUDIT", _filter(s.filter), f"AFTER {s.after}" if s.after is not None else None,
                  f"LIMIT {s.limit}" if s.limit is not None else None)


def _set_audit_config(s: SetAuditConfig) -> str:
    if s.retention_days is None and not s.immutable and s.export_destination is None:
        raise ValidationError("SET AUDIT CONFIG needs RETENTION DAYS, IMMUTABLE or EXPORT DESTINATION",
                              code="RAISE-V086")
    return _words("SET AUDIT CONFIG", _on_org(s.organization),
                  f"RETENTION DAYS {s.retention_days}" if s.retention_days is not None else None,
                  "IMMUTABLE" if s.immutable else None,
                  f"EXPORT DESTINATION {_string(s.export_destination)}" if s.export_destination is not None else None)


def _create_alert(s: CreateAuditAlert) -> str:
    return _words("CREATE AUDIT ALERT", _ident(s.name), _filter(s.filter), f"NOTIFY {_strings(s.notify)}",
                  f"CHANNELS {_strings(s.channels)}")


_RENDERERS: dict[type, Callable] = {
    SetAcl: _set_acl,
    ShowAcl: _show_acl,
    CreatePrincipalGroup: _create_pgroup,
    AlterPrincipalGroup: lambda s: _words("ALTER PRINCIPAL GROUP", _string(s.name), s.change.upper(),
                                          "MEMBERS", _strings(s.members)),
    DropPrincipalGroup: lambda s: _words("DROP PRINCIPAL GROUP", "IF EXISTS" if s.if_exists else None,
                                         _string(s.name)),
    ShowPrincipalGroups: lambda s: "SHOW PRINCIPAL GROUPS",
    AlterPrincipal: lambda s: f"ALTER PRINCIPAL {_string(s.principal)} SET ORGANIZATION {_ident(s.organization)}",
    GrantAccess: _grant,
    RevokeAccess: lambda s: _words("REVOKE", s.permission.upper() if s.permission else None, "ON FEATURE GROUP",
                                   _group(s.group), "FROM ORGANIZATION", _ident(s.organization)),
    ShowGrants: lambda s: _words("SHOW GRANTS", f"ON FEATURE GROUP {_group(s.group)}" if s.group else None,
                                 f"TO ORGANIZATION {_ident(s.organization)}" if s.organization else None),
    ShowAudit: _show_audit,
    SetAuditConfig: _set_audit_config,
    ShowAuditConfig: lambda s: _words("SHOW AUDIT CONFIG", _on_org(s.organization)),
    CreateAuditAlert: _create_alert,
    DropAuditAlert: lambda s: _words("DROP AUDIT ALERT", "IF EXISTS" if s.if_exists else None, _ident(s.name)),
    ShowAuditAlerts: lambda s: "SHOW AUDIT ALERTS",
    ExportAudit: lambda s: _words("EXPORT AUDIT", _filter(s.filter), "TO", _string(s.destination),
                                  "FORMAT", s.format.upper()),
    VerifyAudit: lambda s: _words("VERIFY AUDIT", _on_org(s.organization)),
}


def render_security_statement(statement: SecurityStatement) -> str:
    """Canonical Raise SQL for a security statement (no trailing ``;``)."""
    renderer = _RENDERERS.get(type(statement))
    if renderer is None:
        raise ValidationError(f"not a security statement: {type(statement).__name__}",
                              name=type(statement).__name__)
    return renderer(statement)


#: ``(parser, {class: renderer})`` for :mod:`grammar.extensions`: ``grammar.parse`` and
#: ``grammar.render`` handle security statements through it.
EXTENSION = (parse_security_statement, {cls: render_security_statement for cls in SECURITY_STATEMENTS})
