"""Live tables and analytics alerts: the ``analytics`` statement family.

A family of its own (grammar in ``analytics.lark``), registered with :mod:`grammar.extensions`
through :data:`EXTENSION`. An analysis is written as its JSON form (``Analysis.to_dict()``);
the engine turns it back into an analysis and compiles it. Refresh policies, cron expressions
(checked with ``croniter``), conditions and check intervals are checked here, so SQL clients
and the SDK get the same errors. ``parse_analytics_statement(render_analytics_statement(s)) == s``.

>>> s = parse_analytics_statement("create live table daily on signals as analyze "
...                               "'{\\"kind\\": \\"aggregation\\"}' refresh cron '0 */6 * * *'")
>>> render_analytics_statement(s)
'CREATE LIVE TABLE "daily" ON "signals" AS ANALYZE \\'{"kind": "aggregation"}\\' REFRESH CRON \\'0 */6 * * *\\''
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from lark import Lark, v_args

from grammar import clauses
from grammar.ast import GroupRef
from grammar.errors import RaiseSyntaxError, ValidationError
from grammar.render import quote_ident, quote_literal
from grammar.security_ast import CHANNELS

__all__ = [
    "REFRESH_KINDS", "CONDITIONS", "ObjectRef", "CreateLiveTable", "RefreshLiveTable", "ShowLiveTables",
    "DescribeLiveTable", "ShowRefreshes", "DropLiveTable", "CreateAlert", "ShowAlerts", "ShowFirings",
    "DropAlert", "CheckAlerts", "ANALYTICS_STATEMENTS", "check_cron", "check_condition",
    "check_interval", "parse_analytics_statement", "render_analytics_statement", "EXTENSION",
]

#: Refresh policies; ``hourly`` and ``daily`` are the cron schedules below.
REFRESH_KINDS = ("on_change", "hourly", "daily", "cron", "manual")
SCHEDULES = {"hourly": "0 * * * *", "daily": "0 0 * * *"}
#: Condition name -> how many numbers it takes.
CONDITIONS = {
    "GREATER_THAN": 1, "LESS_THAN": 1, "BETWEEN": 2, "OUTSIDE": 2, "EQUALS": 1, "NOT_EQUALS": 1,
    "PSI_GREATER_THAN": 1, "P_VALUE_LESS_THAN": 1, "KL_DIVERGENCE_GREATER_THAN": 1,
}
_INTERVAL = re.compile(r"\A[1-9]\d*[smhdw]\Z")
Conflict = Literal["error", "skip", "update"]
_frozen = dict(frozen=True, slots=True, kw_only=True)


@dataclass(**_frozen)
class ObjectRef:
    """A live table or alert, optionally qualified by its project path (1 to 3 names)."""

    name: str
    project: tuple[str, ...] | None = None


@dataclass(**_frozen)
class CreateLiveTable:
    """``CREATE LIVE TABLE name ON group AS ANALYZE 'json' [REFRESH ...] [DESCRIPTION '...']``;
    the live table lives in the group's project. ``cron`` is set for ``refresh='cron'``."""

    name: str
    group: GroupRef
    analysis: str
    refresh: str = "on_change"
    cron: str | None = None
    description: str | None = None
    conflict: Conflict = "error"


@dataclass(**_frozen)
class RefreshLiveTable:
    """``REFRESH LIVE TABLE t [IF STALE]``: recompute now, or (IF STALE) only when its policy
    says it is due (``on_change``: the group's table moved; a schedule: a run time passed)."""

    table: ObjectRef
    if_stale: bool = False


@dataclass(**_frozen)
class ShowLiveTables:
    within: tuple[str, ...] | None = None


@dataclass(**_frozen)
class DescribeLiveTable:
    table: ObjectRef


@dataclass(**_frozen)
class ShowRefreshes:
    """``SHOW REFRESHES OF LIVE TABLE t [LIMIT n]``: its refresh events, newest first."""

    table: ObjectRef
    limit: int | None = None


@dataclass(**_frozen)
class DropLiveTable:
    table: ObjectRef
    if_exists: bool = False


@dataclass(**_frozen)
class CreateAlert:
    """``CREATE ALERT name ON group AS ANALYZE 'json' WHEN COND(v[, v]) [NOTIFY (...)]
    [CHANNELS (...)] [EVERY '1h']``."""

    name: str
    group: GroupRef
    analysis: str
    condition: str
    values: tuple[float, ...]
    notify: tuple[str, ...] = ()
    channels: tuple[str, ...] = ("email",)
    check_interval: str = "1h"
    conflict: Conflict = "error"


@dataclass(**_frozen)
class ShowAlerts:
    within: tuple[str, ...] | None = None


@dataclass(**_frozen)
class ShowFirings:
    """``SHOW FIRINGS OF ALERT a [LIMIT n]``: its checks that fired, newest first."""

    alert: ObjectRef
    limit: int | None = None


@dataclass(**_frozen)
class DropAlert:
    alert: ObjectRef
    if_exists: bool = False


@dataclass(**_frozen)
class CheckAlerts:
    """``CHECK ALERTS [IN path] [FORCE]``: evaluate the alerts that are due (FORCE: all)."""

    within: tuple[str, ...] | None = None
    force: bool = False


ANALYTICS_STATEMENTS: tuple[type, ...] = (
    CreateLiveTable, RefreshLiveTable, ShowLiveTables, DescribeLiveTable, ShowRefreshes, DropLiveTable,
    CreateAlert, ShowAlerts, ShowFirings, DropAlert, CheckAlerts,
)

_LEADING = re.compile(
    r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*"
    r"(?:CREATE\s+(?:OR\s+REPLACE\s+)?(?:LIVE\s+TABLE|ALERT)|REFRESH\s+LIVE\s+TABLE|SHOW\s+LIVE\s+TABLES"
    r"|DESCRIBE\s+LIVE\s+TABLE|DROP\s+LIVE\s+TABLE|SHOW\s+REFRESHES|SHOW\s+ALERTS|SHOW\s+FIRINGS"
    r"|DROP\s+ALERT|CHECK\s+ALERTS)\b",
    re.IGNORECASE | re.DOTALL,
)
_FRIENDLY = {
    "NAME": "a name", "QUOTED": "a quoted name", "STRING": "a string literal", "INT": "a number",
    "SIGNED_NUMBER": "a number", "LPAR": "'('", "RPAR": "')'", "COMMA": "','", "SLASH": "'/'",
    "$END": "end of statement",
}


# ------------------------------------------------------------------ checks


def check_cron(expression: str) -> str:
    """``expression`` if croniter accepts it as a five-field schedule (RAISE-V410 otherwise)."""
    from croniter import croniter  # loaded here: only a schedule needs it, not every start

    if not isinstance(expression, str) or len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise ValidationError(f"{expression!r} is not a cron schedule: write five fields "
                              "(minute hour day-of-month month day-of-week), e.g. '0 */6 * * *'",
                              code="RAISE-V410", name=str(expression))
    return expression


def check_condition(name: str, values: tuple[float, ...]) -> tuple[str, tuple[float, ...]]:
    """A known condition with as many numbers as it takes (RAISE-V411 otherwise)."""
    wanted = CONDITIONS.get(str(name).upper())
    if wanted is None:
        raise ValidationError(f"unknown condition {name!r}; expected one of {', '.join(CONDITIONS)}",
                              code="RAISE-V411", name=str(name))
    if len(values) != wanted:
        raise ValidationError(f"condition {str(name).upper()} takes {wanted} number(s), got {len(values)}",
                              code="RAISE-V411", name=str(name))
    if wanted == 2 and values[0] > values[1]:
        raise ValidationError(f"condition {str(name).upper()} needs low <= high, got {values[0]} > {values[1]}",
                              code="RAISE-V411", name=str(name))
    return str(name).upper(), tuple(float(v) for v in values)


def check_interval(text: str) -> str:
    """A check interval such as ``'30m'``, ``'1h'``, ``'1d'`` (RAISE-V412 otherwise)."""
    if not isinstance(text, str) or not _INTERVAL.match(text):
        raise ValidationError(f"check interval {text!r} is not a duration: write a positive count and "
                              "a unit, e.g. '30m', '1h', '6h' or '1d'", code="RAISE-V412", name=str(text))
    return text


def check_analysis(text: str) -> str:
    """The analysis JSON must be an object naming its kind (RAISE-V413 otherwise); the engine
    checks the rest when it rebuilds the analysis."""
    try:
        value = json.loads(text)
    except ValueError as error:
        raise ValidationError(f"ANALYZE takes an analysis as JSON: {error}", code="RAISE-V413",
                              name=text[:40]) from None
    if not isinstance(value, dict) or "kind" not in value:
        raise ValidationError("ANALYZE takes an analysis as a JSON object with its 'kind'",
                              code="RAISE-V413", name=text[:40])
    return text


# ------------------------------------------------------------------ parsing


def parse_analytics_statement(text: str):
    """Parse one statement (no ``;``) if it belongs to this family, else return None."""
    if not _LEADING.match(text):
        return None
    return clauses.transform(_lark(), _ToAnalytics(), text, _friendly, "analytics statement")


def _lark() -> Lark:
    return clauses.grammar("analytics.lark")


def _friendly(terminal: str) -> str:
    return _FRIENDLY.get(terminal, terminal.strip('"').upper())


def _at(error: ValidationError, token_or_meta) -> ValidationError:
    return ValidationError(error.message, code=error.code, name=error.name,
                           line=getattr(token_or_meta, "line", 1), column=getattr(token_or_meta, "column", 1))


@v_args(meta=True)
class _ToAnalytics(clauses.CommonTransformer):
    """Map each rule of ``analytics.lark`` to a statement dataclass (stateless)."""

    def ref(self, meta, names) -> ObjectRef:
        clauses.check_path(tuple(names), 4, "a live table or alert reference", meta)
        return ObjectRef(name=names[-1], project=tuple(names[:-1]) or None)

    def limit(self, meta, children):
        return clauses.option("limit", int(children[0]), meta)

    def analysis(self, meta, children):
        try:
            return clauses.option("analysis", check_analysis(children[0]), meta)
        except ValidationError as error:
            raise _at(error, meta) from None

    def on_change(self, meta, _):
        return clauses.option("refresh", ("on_change", None), meta)

    def cron(self, meta, children):
        try:
            return clauses.option("refresh", ("cron", check_cron(children[0])), meta)
        except ValidationError as error:
            raise _at(error, meta) from None

    def every(self, meta, children):
        word = str(children[0]).lower()
        if word not in ("hourly", "daily", "manual"):
            raise ValidationError(f"unknown refresh policy {str(children[0])!r}; expected ON CHANGE, MANUAL, "
                                  "HOURLY, DAILY or CRON '...'", code="RAISE-V410", name=str(children[0]),
                                  line=meta.line, column=meta.column)
        return clauses.option("refresh", (word, None), meta)

    def description(self, meta, children):
        return clauses.option("description", children[0], meta)

    def if_stale(self, meta, _):
        return clauses.option("if_stale", True, meta)

    def force(self, meta, _):
        return clauses.option("force", True, meta)

    def condition(self, meta, children):
        name, *numbers = children
        values = tuple(float(re.sub(r"\s+", "", str(n))) for n in numbers)
        try:
            return clauses.option("condition", check_condition(str(name), values), meta)
        except ValidationError as error:
            raise _at(error, name) from None

    def notify(self, meta, children):
        return clauses.option("notify", tuple(children), meta)

    def channels(self, meta, children):
        unknown = next((c for c in children if c not in CHANNELS), None)
        if unknown is not None:
            raise ValidationError(f"unknown channel {unknown!r}; expected one of {', '.join(CHANNELS)}",
                                  code="RAISE-V412", name=unknown, line=meta.line, column=meta.column)
        return clauses.option("channels", tuple(children), meta)

    def check_interval(self, meta, children):
        try:
            return clauses.option("check_interval", check_interval(children[0]), meta)
        except ValidationError as error:
            raise _at(error, meta) from None

    def create_live_table(self, meta, children) -> CreateLiveTable:
        name, group = clauses.positional(children)
        options = _conflict(clauses.options(children), meta)
        refresh, cron = options.pop("refresh", ("on_change", None))
        return CreateLiveTable(name=name, group=group, refresh=refresh, cron=cron, **options)

    def refresh_live_table(self, meta, children) -> RefreshLiveTable:
        (table,) = clauses.positional(children)
        return RefreshLiveTable(table=table, **clauses.options(children))

    def show_live_tables(self, meta, children) -> ShowLiveTables:
        return ShowLiveTables(within=children[0] if children else None)

    def describe_live_table(self, meta, children) -> DescribeLiveTable:
        return DescribeLiveTable(table=children[0])

    def show_refreshes(self, meta, children) -> ShowRefreshes:
        (table,) = clauses.positional(children)
        return ShowRefreshes(table=table, **clauses.options(children))

    def drop_live_table(self, meta, children) -> DropLiveTable:
        (table,) = clauses.positional(children)
        return DropLiveTable(table=table, **clauses.options(children))

    def create_alert(self, meta, children) -> CreateAlert:
        name, group = clauses.positional(children)
        options = _conflict(clauses.options(children), meta)
        condition, values = options.pop("condition")
        return CreateAlert(name=name, group=group, condition=condition, values=values, **options)

    def show_alerts(self, meta, children) -> ShowAlerts:
        return ShowAlerts(within=children[0] if children else None)

    def show_firings(self, meta, children) -> ShowFirings:
        (alert,) = clauses.positional(children)
        return ShowFirings(alert=alert, **clauses.options(children))

    def drop_alert(self, meta, children) -> DropAlert:
        (alert,) = clauses.positional(children)
        return DropAlert(alert=alert, **clauses.options(children))

    def check_alerts(self, meta, children) -> CheckAlerts:
        within = next((c for c in clauses.positional(children)), None)
        return CheckAlerts(within=within, **clauses.options(children))


def _conflict(options: dict, meta) -> dict:
    if options.pop("if_not_exists", False):
        if options.get("conflict") == "update":
            raise RaiseSyntaxError("OR REPLACE and IF NOT EXISTS exclude each other",
                                   line=meta.line, column=meta.column)
        options["conflict"] = "skip"
    return options


# ------------------------------------------------------------------ rendering


def _ref(ref: ObjectRef | GroupRef) -> str:
    return "/".join(quote_ident(n) for n in (*(ref.project or ()), ref.name))


def _path(within: tuple[str, ...] | None) -> str:
    return "" if within is None else " IN " + "/".join(quote_ident(n) for n in within)


def _head(kind: str, conflict: Conflict, name: str) -> str:
    head = f"CREATE OR REPLACE {kind} " if conflict == "update" else f"CREATE {kind} "
    return head + ("IF NOT EXISTS " if conflict == "skip" else "") + quote_ident(name)


def _number(value: float) -> str:
    return repr(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)


def _create_live_table(s: CreateLiveTable) -> str:
    parts = [_head("LIVE TABLE", s.conflict, s.name), "ON", _ref(s.group), "AS ANALYZE", quote_literal(s.analysis)]
    if s.refresh == "on_change":
        parts.append("REFRESH ON CHANGE")
    elif s.refresh == "cron":
        parts += ["REFRESH CRON", quote_literal(s.cron)]
    else:
        parts.append("REFRESH " + s.refresh.upper())
    if s.description is not None:
        parts += ["DESCRIPTION", quote_literal(s.description)]
    text = " ".join(parts)
    return text.replace(" REFRESH ON CHANGE", "", 1) if s.refresh == "on_change" else text


def _create_alert(s: CreateAlert) -> str:
    parts = [_head("ALERT", s.conflict, s.name), "ON", _ref(s.group), "AS ANALYZE", quote_literal(s.analysis),
             f"WHEN {s.condition}(" + ", ".join(_number(v) for v in s.values) + ")"]
    if s.notify:
        parts.append("NOTIFY (" + ", ".join(quote_literal(a) for a in s.notify) + ")")
    parts.append("CHANNELS (" + ", ".join(quote_literal(c) for c in s.channels) + ")")
    parts.append("EVERY " + quote_literal(s.check_interval))
    return " ".join(parts)


def _limit(limit: int | None) -> str:
    return "" if limit is None else f" LIMIT {limit}"


_RENDERERS = {
    CreateLiveTable: _create_live_table,
    RefreshLiveTable: lambda s: "REFRESH LIVE TABLE " + _ref(s.table) + (" IF STALE" if s.if_stale else ""),
    ShowLiveTables: lambda s: "SHOW LIVE TABLES" + _path(s.within),
    DescribeLiveTable: lambda s: "DESCRIBE LIVE TABLE " + _ref(s.table),
    ShowRefreshes: lambda s: "SHOW REFRESHES OF LIVE TABLE " + _ref(s.table) + _limit(s.limit),
    DropLiveTable: lambda s: "DROP LIVE TABLE " + ("IF EXISTS " if s.if_exists else "") + _ref(s.table),
    CreateAlert: _create_alert,
    ShowAlerts: lambda s: "SHOW ALERTS" + _path(s.within),
    ShowFirings: lambda s: "SHOW FIRINGS OF ALERT " + _ref(s.alert) + _limit(s.limit),
    DropAlert: lambda s: "DROP ALERT " + ("IF EXISTS " if s.if_exists else "") + _ref(s.alert),
    CheckAlerts: lambda s: "CHECK ALERTS" + _path(s.within) + (" FORCE" if s.force else ""),
}


def render_analytics_statement(stmt) -> str:
    """Canonical Raise SQL for a live table or alert statement (quoted names, escaped literals)."""
    renderer = _RENDERERS.get(type(stmt))
    if renderer is None:
        raise ValidationError(f"not an analytics statement: {type(stmt).__name__}")
    return renderer(stmt)


#: ``(parser, {class: renderer})`` for :mod:`grammar.extensions`.
EXTENSION = (parse_analytics_statement, dict(_RENDERERS))
