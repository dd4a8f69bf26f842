"""A session: one principal's connection to the engine, with its current project.

``execute`` runs a script statement by statement. Raise statements go to their handlers inside
one catalog transaction each; other SQL runs in a DataFusion context holding the current
project's feature groups as views (``query``). INSERT INTO a feature group becomes an ingest
of the rows its source query yields.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import pyarrow as pa

from grammar import ast, parse
from grammar.errors import ValidationError
from raise_.engine import families, ingest, limits, names, registry, results, security
from raise_.engine.query import QueryContext, ResultStream
from raise_.engine.sql_tree import InsertTarget, insert_target
from raise_.serving import tables as serving_tables

if TYPE_CHECKING:
    from raise_.engine.engine import Engine
    from raise_.engine.prepared import Prepared

@dataclass(frozen=True)
class TableInfo:
    """A feature group as SQL clients see it (Flight SQL GetTables)."""

    org: str
    schema: str
    name: str
    keys: list[str]
    arrow_schema: pa.Schema


class Session:
    """Executes Raise SQL for ``principal`` with ``project`` as the current namespace."""

    def __init__(self, engine: "Engine", principal: str | None = None, project: Sequence[str] | None = None,
                 organization: str | None = None):
        self.engine = engine
        self.catalog = engine.catalog
        self.principal = principal
        self.project: tuple[str, ...] | None = tuple(project) if project else None
        # The organization the session was opened on (default: its project's); USE keeps it.
        self.organization = organization or (self.project[0] if self.project else None)
        self._depth = 0
        #: ``SET statement_timeout`` (seconds; None: the engine's), see ``limits``.
        self.statement_timeout: float | None = None
        self._rollback: list[Callable[[], None]] = []
        self._after: list[Callable[[], None]] = []
        #: Temporary tables (entity rows for a training set): this session's own rows, read by
        #: name in its queries and gone with it.
        self.temporary: dict[str, pa.Table] = {}
        self.parameters: tuple[Any, ...] = ()

    def __repr__(self) -> str:
        project = names.join(*self.project) if self.project else "-"
        return f"Session(principal={self.principal!r}, project={project!r})"

    # -- statements ------------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run a script; return the last statement's result.

        Each statement commits on its own, unless the script is ``BEGIN; ...; COMMIT``: then
        its statements commit together or not at all (``...; ROLLBACK`` checks a script and
        keeps nothing). Data writes cannot join such a transaction.
        """
        statements = parse(sql)
        if not statements:
            raise ValidationError("nothing to execute: the SQL text is empty", code="RAISE-V004")
        if _keyword(statements[0]) in _BEGIN:
            return self._script_transaction(statements, params)
        for statement in statements:
            result = self.run(statement, params)
        return result

    def stream(self, sql: str, params: Sequence[Any] | None = None) -> ResultStream:
        """Like ``execute``, but a single query is only planned and authorized here: its rows
        are computed as the returned stream is read. Anything else runs at once and its result
        is streamed from memory."""
        statements = parse(sql)
        if len(statements) != 1 or not _is_query(statements[0]):
            return ResultStream.of(self.execute(sql, params))
        with security.audited(self) as scope:
            result = self._query(statements[0].sql, lambda context: context.stream(statements[0].sql, params))
            events = list(scope.events)
        return dataclasses.replace(result, batches=self._audit_failure(events, result.batches))

    def _audit_failure(self, events: list, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """A planned query's batches. Planning recorded its reads as ALLOWED; if computing
        them fails, the reads are recorded again with outcome ERROR."""
        try:
            yield from batches
        except Exception:
            security.record(self, events, "ERROR")
            raise

    def _script_transaction(self, statements: list[ast.Statement], params) -> pa.Table:
        end = _keyword(statements[-1])
        if end not in ("COMMIT", "ROLLBACK") or len(statements) < 2:
            raise ValidationError("a script that starts with BEGIN must end with COMMIT or ROLLBACK",
                                  code="RAISE-V006")
        body = statements[1:-1]
        if any(_keyword(s) in _BEGIN + ("COMMIT", "ROLLBACK") for s in body):
            raise ValidationError("transactions do not nest", code="RAISE-V006")

        def work() -> pa.Table:
            result = results.ddl("BEGIN", "", 0)
            for statement in body:
                if isinstance(statement, ast.Passthrough) and insert_target(statement.sql):
                    raise ValidationError("INSERT cannot be part of a transaction; run it after COMMIT",
                                          code="RAISE-V007")
                result = self.run(statement, params)
            if end == "ROLLBACK":
                raise _RolledBack(result)
            return result

        with security.audited(self) as scope:
            try:
                return self._transaction(work)
            except _RolledBack as rolled:
                scope.rolled_back()
                return rolled.result

    def run(self, statement: ast.Statement, params: Sequence[Any] | None = None) -> pa.Table:
        """Run one parsed statement, authorized and audited (``security``)."""
        self.parameters = tuple(params or ())  # values bound to a Raise statement's ``?``
        with security.audited(self):
            if isinstance(statement, ast.Passthrough):
                if _keyword(statement) in _BEGIN + ("COMMIT", "ROLLBACK"):
                    raise ValidationError("BEGIN must open the script and COMMIT or ROLLBACK end it",
                                          code="RAISE-V006")
                if (setting := limits.setting(statement.sql)) is not None:
                    return limits.apply_setting(self, setting)
                target = insert_target(statement.sql)
                if target is not None:
                    return self._insert(statement.sql, target, params)
                return self._query(statement.sql, lambda context: context.run(statement.sql, params))
            names.check_statement(statement)
            entry = families.statement(type(statement))

            def work() -> pa.Table:
                security.authorize_statement(self, statement, entry.rule)
                return entry.handler(self, statement)

            result = work() if self._depth or not entry.transaction else self._transaction(work)
            return entry.listing(self, statement, result)

    def _transaction(self, work: Callable[[], pa.Table]) -> pa.Table:
        self._rollback, self._after = [], []
        self._depth += 1
        try:
            with self.catalog.transaction():
                result = work()
        except BaseException:
            for undo in reversed(self._rollback):
                undo()
            raise
        finally:
            self._depth -= 1
        for action in self._after:
            action()
        return result

    def on_rollback(self, action: Callable[[], None]) -> None:
        """Undo a side effect outside the catalog if the statement's transaction fails."""
        self._rollback.append(action)

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run a side effect (e.g. deleting files) only once the statement has committed."""
        self._after.append(action)

    # -- data ------------------------------------------------------------------------------

    def ingest(self, group: str, data: Any, mode: str = "append") -> int:
        """Write rows (an Arrow table or record batch reader) into ``group``; rows written."""
        with security.audited(self):
            record = self._group(group)
            table = _as_table(data)
            security.authorize_write(self, record, table.column_names, mode, table.num_rows)
            physical = ingest.physical_table(self.catalog, record, table, mode)
            return self.engine.storage.write(record.uri, physical, mode,
                                             record.key_names)

    def create_temporary(self, name: str, data: Any) -> int:
        """Hold ``data`` as the temporary table ``name`` (replacing one of that name); rows held."""
        return serving_tables.create_temporary(self, name, _as_table(data))

    def drop_temporary(self, name: str) -> None:
        self.temporary.pop(name, None)

    def _insert(self, sql: str, target: InsertTarget, params) -> pa.Table:
        group, columns, source = target.group, target.columns, target.source
        rows = self._query(source, lambda context: context.run(source, params))
        if columns is None:
            columns = self._positional(group, rows.column_names)
        if len(columns) != rows.num_columns:
            raise ValidationError(
                f"INSERT names {len(columns)} column(s) but its source yields {rows.num_columns}",
                code="RAISE-V055",
            )
        written = self.ingest(group, rows.rename_columns(columns), "append")
        return pa.table({"count": pa.array([written], pa.uint64())})

    def _positional(self, group: str, names: list[str]) -> list[str]:
        """Target columns for an INSERT without a column list: the source's own names when
        they are all the group's columns (``INSERT INTO g SELECT ... AS id, ...``), else the
        group's columns by position (``VALUES``), the rest taking their defaults."""
        record = self._group(group)
        order = ingest.insert_order(self.catalog, record)
        if set(names) <= set(order) or any("@" in n for n in names):
            return names
        if len(names) > len(order):
            raise ValidationError(
                f"INSERT gives {len(names)} values per row but {record.name!r} has {len(order)} "
                f"insertable column(s): {', '.join(order)}", code="RAISE-V055", name=record.name)
        return order[: len(names)]

    def _group(self, name: str) -> dict[str, Any]:
        return registry.group(self.catalog, *names.group_path(name, self.project))

    def query_context(self, sql: str | None = None, reuse: bool = False) -> QueryContext:
        """A DataFusion context holding the feature groups ``sql`` names; with ``reuse``, one
        kept from an earlier statement may serve (the caller then hands it back with
        ``close``: see ``contexts``)."""
        return QueryContext(self, sql, reuse)

    def _query(self, sql: str, work: Callable[[QueryContext], Any]) -> Any:
        """``work`` in a context for ``sql``, handed back for the next statement once done (a
        stream's frames keep what they need: see ``contexts``)."""
        context = self.query_context(sql, reuse=True)
        try:
            result = work(context)
        except BaseException:
            context.close(failed=True)
            raise
        context.close()
        return result

    def schema(self, sql: str) -> pa.Schema:
        """The result schema of ``sql`` without running it (prepared statements)."""
        statements = parse(sql)
        if len(statements) != 1:
            raise ValidationError("prepare one statement at a time", code="RAISE-V005")
        statement = statements[0]
        if isinstance(statement, ast.Passthrough):
            if insert_target(statement.sql) is not None:
                return pa.schema([("count", pa.uint64())])
            return self._query(statement.sql, lambda context: context.schema(statement.sql))
        return families.statement(type(statement)).result_schema(statement)

    def prepare(self, sql: str) -> "Prepared":
        """``sql`` parsed once, to execute many times with bound parameters (``prepared``)."""
        from raise_.engine.prepared import Prepared

        return Prepared(self, sql)

    def use(self, path: Sequence[str]) -> None:
        self.run(ast.Use(path=tuple(path)))

    def tables(self) -> list[TableInfo]:
        """Every feature group with its view schema."""
        infos = []
        for record in security.visible_groups(self, registry.all_groups(self.catalog)):
            org, domain, project = record.project
            view = security.visible_schema(self, record, self.query_context().group_schema(record))
            infos.append(TableInfo(org, f"{domain}/{project}", record.name,
                                   list(record.key_names), view))
        return infos


_BEGIN = ("BEGIN", "START TRANSACTION", "BEGIN TRANSACTION", "BEGIN WORK")


class _RolledBack(Exception):
    def __init__(self, result: pa.Table) -> None:
        self.result = result


def _keyword(statement: ast.Statement) -> str | None:
    if not isinstance(statement, ast.Passthrough):
        return None
    return " ".join(statement.sql.upper().split())


def _is_query(statement: ast.Statement) -> bool:
    """A statement DataFusion answers (not a Raise statement, transaction control or INSERT)."""
    return (isinstance(statement, ast.Passthrough)
            and _keyword(statement) not in _BEGIN + ("COMMIT", "ROLLBACK")
            and insert_target(statement.sql) is None)


def _as_table(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    raise ValidationError(f"cannot write {type(data).__name__}; pass an Arrow table or record batches",
                          code="RAISE-V056")
