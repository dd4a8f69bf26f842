"""Statement families: what each one declares, and the dispatch tables built from them.

A family (core, models, security, and every later subsystem) declares in its own module, next
to its handlers, one ``Family`` value: for each statement class its handler, authorization
rule, result schema and listing filter; the catalog kinds it owns (and what a namespace DROP
does with them); and its query hooks (SQL functions and rewrites). ``FAMILIES`` names those
modules, as ``grammar.extensions.FAMILIES`` names the grammar side: adding a family is one
line here. The engine looks every statement up in ``statement(cls)``; a class no family
declares is refused, never run unchecked.

A family's module (and what its handlers import) loads when the engine first meets a statement
of the grammar modules it names, or, for the families in ``QUERY_FAMILIES``, at the first
query; ``registry()`` loads them all (the families test checks both lists against it).

>>> from grammar import ast
>>> statement(ast.Use).rule is not None
True
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Mapping

import pyarrow as pa

from grammar.errors import PermissionDenied

if TYPE_CHECKING:
    from datafusion import SessionContext

    from raise_.engine.query import QueryContext
    from raise_.engine.session import Session

#: Modules that declare a family (each exposes ``FAMILY``), with the grammar modules whose
#: statement classes it runs. Core first: it owns the namespaces.
FAMILIES: dict[str, tuple[str, ...]] = {
    "raise_.engine.handlers": ("grammar.ast",),
    "raise_.engine.models": ("grammar.models",),
    "raise_.engine.security.handlers": ("grammar.security_ast",),
    "raise_.serving.statements": ("grammar.serving",),
    "raise_.engine.analytics": ("grammar.analytics",),
    "raise_.blobs.family": ("grammar.blobs",),
    "raise_.jobs.family": ("grammar.jobs",),
    "raise_.engine.vectors.family": ("grammar.vectors",),
    "raise_.engine.dashboards": ("grammar.dashboards",),
    "raise_.engine.query_hooks": (),
}
#: The families with query hooks, table reads, query runners or preparers: every query loads them.
QUERY_FAMILIES = ("raise_.engine.query_hooks",)

Handler = Callable[["Session", Any], pa.Table]
#: ``rule(session, access_control, statement) -> (needs, events)``: what the statement needs
#: (``security.authorize.Need``) and the audit events it performs.
Rule = Callable[["Session", Any, Any], tuple[list, list]]
#: ``listing(session, statement, result) -> result`` without what the principal may not see.
Listing = Callable[["Session", Any, pa.Table], pa.Table]
#: ``hook(ctx, session) -> rewrite or None``: registers SQL functions in a query's DataFusion
#: context; a returned ``rewrite(sql) -> sql`` is applied to the query text before planning.
QueryHook = Callable[["SessionContext", "Session"], Callable[[str], str] | None]
#: ``reads(session, table) -> needs or None``: what reading a table a query hook registered
#: needs (``security.authorize.Need``s); None for a table the family did not register.
TableReads = Callable[["Session", str], list | None]
#: ``runner(context, sql, params) -> result or None``: answers a query the family executes
#: itself (vector top-k), planning and authorizing its reads through ``context``; None leaves
#: the query to DataFusion.
QueryRunner = Callable[["QueryContext", str, Any], pa.Table | None]
#: ``prepare(session, sql) -> run or None``: a query a family runs prepared (``Session.prepare``):
#: resolved once, then ``run(session, params) -> result`` per execution, authorized and audited
#: as a query; a ``run`` that returns None leaves that execution to the general path.
QueryPreparer = Callable[["Session", str], Callable[["Session", tuple], pa.Table | None] | None]


def acknowledged(session: "Session", statement: Any, result: pa.Table) -> pa.Table:
    """The listing of a statement that returns only its acknowledgement (what it changed, which
    its rule authorized): nothing to take away."""
    return result


def checked_by_rule(session: "Session", statement: Any, result: pa.Table) -> pa.Table:
    """The listing of a statement whose rule already requires the right to see everything it
    returns (DESCRIBE of one object, an organization admin's report)."""
    return result


def filtered_by_handler(session: "Session", statement: Any, result: pa.Table) -> pa.Table:
    """The listing of a statement whose handler can only select what the principal may see
    while it reads (audit entries paged by id after the visibility check)."""
    return result


class FamilyError(Exception):
    """A family declaration is incomplete or contradicts another (a programming error)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Statement:
    """How the engine runs one statement class. Every field is required: there is no default
    rule or filter, so a forgotten one is an error when the family loads."""

    handler: Handler
    rule: Rule
    schema: pa.Schema | Callable[[Any], pa.Schema]
    listing: Listing
    #: ``prepared(session, statement, params) -> result``: how a prepared statement (parsed
    #: once, executed per request) runs it, authorized and audited as ``run`` would; None:
    #: the way every statement runs.
    prepared: Callable[["Session", Any, tuple], pa.Table] | None = None
    #: ``prepared_rows(session, statement, rows) -> result``: a prepared statement bound to
    #: many parameter rows (a Flight SQL batch), run as one call whose result is the rows'
    #: results concatenated in order; None: once per row.
    prepared_rows: Callable[["Session", Any, list], pa.Table] | None = None
    #: False: the handler runs outside a catalog transaction and opens its own around what
    #: it commits, so long work (a job's run) does not hold the catalog's write lock.
    transaction: bool = True

    def __post_init__(self) -> None:
        for name in ("handler", "rule", "listing"):
            if not callable(getattr(self, name)):
                raise FamilyError(f"{name} must be callable, got {getattr(self, name)!r}")
        if not isinstance(self.schema, pa.Schema) and not callable(self.schema):
            raise FamilyError(f"schema must be a pyarrow.Schema or a function, got {self.schema!r}")

    def result_schema(self, statement: Any) -> pa.Schema:
        return self.schema if isinstance(self.schema, pa.Schema) else self.schema(statement)


@dataclass(frozen=True, slots=True, kw_only=True)
class Kind:
    """A kind of catalog object a family owns.

    ``within``: the namespace level its keys live under (``"project"``: ``org/domain/project/x``),
    or None for objects outside the namespace tree (principals, ACL records). ``drop``: how a
    ``DROP ... CASCADE`` of an enclosing namespace removes one record (a namespace with such
    records is not empty, so a DROP without CASCADE is refused).
    """

    name: str
    within: str | None = None
    drop: Callable[["Session", dict[str, Any]], None] | None = None

    def __post_init__(self) -> None:
        if (self.within is None) != (self.drop is None):
            raise FamilyError(f"kind {self.name!r}: a kind inside a namespace says how a DROP removes it")


@dataclass(frozen=True, slots=True, kw_only=True)
class Family:
    """Everything the engine needs to know about one family of statements."""

    name: str
    statements: Mapping[type, Statement]
    kinds: tuple[Kind, ...] = ()
    query_hooks: tuple[QueryHook, ...] = ()
    table_reads: tuple[TableReads, ...] = ()
    query_runners: tuple[QueryRunner, ...] = ()
    doc: str = field(default="", repr=False)
    query_preparers: tuple[QueryPreparer, ...] = ()


@dataclass(frozen=True, slots=True)
class Registry:
    """The dispatch tables of every loaded family."""

    families: tuple[Family, ...]
    statements: Mapping[type, Statement]
    kinds: tuple[Kind, ...]
    query_hooks: tuple[QueryHook, ...]
    table_reads: tuple[TableReads, ...] = ()
    query_runners: tuple[QueryRunner, ...] = ()
    query_preparers: tuple[QueryPreparer, ...] = ()


def build(families: tuple[Family, ...]) -> Registry:
    """Dispatch tables from ``families``; a statement class or kind declared twice is an error."""
    statements: dict[type, Statement] = {}
    kinds: dict[str, Kind] = {}
    for family in families:
        for cls, entry in family.statements.items():
            if not isinstance(entry, Statement):
                raise FamilyError(f"{family.name}: {cls.__name__} is declared with {entry!r}, not a Statement")
            if cls in statements:
                raise FamilyError(f"{family.name}: {cls.__name__} is declared by two families")
            statements[cls] = entry
        for kind in family.kinds:
            if kind.name in kinds:
                raise FamilyError(f"{family.name}: catalog kind {kind.name!r} is declared by two families")
            kinds[kind.name] = kind
    hooks = tuple(hook for family in families for hook in family.query_hooks)
    reads = tuple(read for family in families for read in family.table_reads)
    runners = tuple(runner for family in families for runner in family.query_runners)
    preparers = tuple(p for family in families for p in family.query_preparers)
    return Registry(tuple(families), statements, tuple(kinds.values()), hooks, reads, runners, preparers)


def registry() -> Registry:
    """The families of ``FAMILIES``, loaded once per process."""
    return loaded(tuple(FAMILIES))


@lru_cache(maxsize=None)
def loaded(modules: tuple[str, ...]) -> Registry:
    """The dispatch tables of the families declared in ``modules`` (imported once each)."""
    return build(tuple(importlib.import_module(name).FAMILY for name in modules))


def _queries() -> Registry:
    return loaded(QUERY_FAMILIES)


def statement(cls: type) -> Statement:
    """How to run ``cls``; a class no family declares is refused (it has no rule to check)."""
    owners = tuple(name for name, grammars in FAMILIES.items() if cls.__module__ in grammars)
    found = loaded(owners).statements.get(cls) if owners else None
    if found is None:
        raise PermissionDenied(f"{cls.__name__} statements are not registered with the engine, so they "
                               "cannot be authorized; refusing to run one", code="RAISE-P010",
                               name=cls.__name__)
    return found


def kinds() -> tuple[Kind, ...]:
    return registry().kinds


def query_hooks() -> tuple[QueryHook, ...]:
    return _queries().query_hooks


def run_query(context: "QueryContext", sql: str, params: Any) -> pa.Table | None:
    """The result of the first family's runner that takes ``sql``, else None."""
    for runner in _queries().query_runners:
        if (result := runner(context, sql, params)) is not None:
            return result
    return None


def prepare_query(session: "Session", sql: str) -> Callable[["Session", tuple], pa.Table | None] | None:
    """The prepared form of query ``sql`` from the first family that prepares it, else None."""
    for prepare in _queries().query_preparers:
        if (run := prepare(session, sql)) is not None:
            return run
    return None


def table_needs(session: "Session", table: str) -> list | None:
    """What reading ``table`` needs, if a family's query hook registered it (else None)."""
    for reads in _queries().table_reads:
        if (needs := reads(session, table)) is not None:
            return needs
    return None
