"""Plain SQL over feature groups, in DataFusion.

A ``QueryContext`` is a DataFusion SessionContext serving one statement (kept for the next
when nothing it holds has changed: see ``contexts``): Raise's SQL functions, each feature group
the statement names as a view (see ``views``), and snapshots for time travel
(``FROM "user-signals" VERSION AS OF 3`` or ``TIMESTAMP AS OF '2026-01-01 00:00:00'``, the
syntax Delta users know). DDL and DML are not DataFusion's business here: feature groups
are created with Raise DDL and written with INSERT (handled by the session) or ingest.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import pyarrow as pa
from datafusion import DataFrame, SessionContext, SQLOptions
from datafusion.catalog import Catalog, Schema

import udfs
from grammar.errors import ExecutionError, NotFound, RaiseError, RaiseSyntaxError, StatementTimeout, excerpt_at
from grammar.dtypes import stored_dtype
from raise_.engine import families, limits, parameters, registry, security, sql_errors, sql_tree
from raise_.engine.cache import fixed_size
from raise_.engine.contexts import KeptTable
from raise_.types import to_arrow
from raise_.engine.vector_sql import set_aside
from raise_.engine.views import GroupView, group_view, hidden_table, pinned_labels
from raise_.serving import asof

if TYPE_CHECKING:
    from raise_.engine.session import Session

#: Statements that list what a context holds: they get a context of their own (see ``contexts``).
_LISTS = re.compile(r"\bshow\b")
_OPTIONS = SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)


def _unquote(name: str) -> str:
    name = name.strip()
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


class QueryContext:
    """A DataFusion context with the session's feature groups registered as views."""

    def __init__(self, session: "Session", sql: str | None = None, reuse: bool = False) -> None:
        self.session = session
        self.deadline = limits.deadline(session)
        self.pinned = pinned_labels(sql)  # "name@vN" columns the views carry besides `*`
        # only a caller that hands the context back and registers nothing of its own under a
        # group's name may take a kept one (``Session._query``); others get a context of their
        # own (a job registers its sources by the names its SQL gives them)
        self.ctx = session.engine.contexts.take(self._key(sql) if reuse else None)
        kept = self.ctx.kept  # what the context holds from earlier statements (``contexts``)
        self.rewrites = [r for hook in families.query_hooks() if (r := hook(self.ctx, session)) is not None]
        self.views: dict[str, GroupView] = {}  # the views of the groups this statement reads
        self._stored: dict[str, set[str]] = {name: set(t.stored) for name, t in kept.tables.items()}
        self._registered: set[str] = set(kept.tables)
        self._catalogs: dict[str, Catalog] = kept.catalogs
        #: Tables registered with rows whose reads were authorized on their own (as-of join
        #: results, the session's temporary tables): the query's check lets them through.
        self.checked: set[str] = set()
        if sql is not None:
            self._register_named_in(sql)

    def _key(self, sql: str | None) -> tuple | None:
        """What a kept context serving this statement must match; None: a context of its own
        (no text to know its groups by, a live-table refresh, the session's temporary tables,
        a statement listing the context's tables, inside a transaction that changed things)."""
        session = self.session
        if sql is None or getattr(session, "changed_rows", None):
            return None
        text = sql.lower()
        if ("information_schema" in text or "show" in text and _LISTS.search(text)
                or any(name.lower() in text for name in session.temporary)):
            return None
        generation = session.catalog.generation()
        return None if generation is None else (generation, session.project, self.pinned)

    def close(self, failed: bool = False) -> None:
        """The statement is planned (its frames keep what they need): the context may serve
        the next statement (``contexts``)."""
        self.session.engine.contexts.give_back(self.ctx, failed)

    def _register_named_in(self, sql: str) -> None:
        """Views for the groups ``sql`` can name: by plain name in the current project, and as
        ``org."domain/project".group`` anywhere (how Flight SQL clients qualify tables).
        Only groups whose name occurs in the text are opened, so a query costs no more in a
        big store than in a small one."""
        text = sql.lower()
        for name, table in self.session.temporary.items():
            if name.lower() in text:
                self.ctx.register_record_batches(name, [table.to_batches() or [pa.record_batch([], schema=table.schema)]])
                self.checked.add(name)
        kept = self.ctx.kept
        for group in registry.all_groups(self.session.catalog):
            if group.name.lower() not in text:
                continue
            view = self.add_view(group)
            if tuple(group.project) == self.session.project and group.key not in kept.plain:
                # quoted: DataFusion would otherwise fold case and split on dots
                with self.ctx.keeping():
                    self.ctx.register_view('"' + group.name.replace('"', '""') + '"', view.frame)
                    kept.plain.add(group.key)

    def _schema_for(self, project: list[str]) -> Schema:
        org, domain, name = project
        catalog = self._catalogs.get(org)
        if catalog is None:
            catalog = Catalog.memory_catalog()
            with self.ctx.keeping():
                self.ctx.register_catalog_provider(org, catalog)
            self._catalogs[org] = catalog
        schema_name = f"{domain}/{name}"
        if schema_name not in catalog.schema_names():
            catalog.register_schema(schema_name, Schema.memory_schema())
        return catalog.schema(schema_name)

    def _table(self, group: dict[str, Any], as_of: Any = None, name: str | None = None) -> str:
        name = name or hidden_table(group)
        # an incremental live-table refresh reads only the rows a change added (``live``)
        changed = getattr(self.session, "changed_rows", {}).get(group.id) if as_of is None else None
        if name not in self._registered and changed is not None:
            self.ctx.register_record_batches(name, [changed.to_batches()])
            self._stored[name], self._registered = set(changed.column_names), self._registered | {name}
        if name not in self._registered:
            if as_of is None:
                with self.ctx.keeping():
                    self._register_latest(name, group)
                return name
            table = self.session.engine.storage.open(group.uri, as_of)
            if table is None:
                self.ctx.register_record_batches(name, [[pa.record_batch([], schema=pa.schema([]))]])
                self._stored[name] = set()
            else:
                self._register_snapshot(name, group, table, cached=False)
                self._stored[name] = {f.name for f in table.schema().fields}
            self._registered.add(name)
        return name

    def _register_latest(self, name: str, group: dict[str, Any]) -> None:
        """The group's latest rows under ``name``; kept with the context when they come from
        the decoded-table cache or there are none yet (see ``contexts``)."""
        storage = self.session.engine.storage
        version = storage.local_version(group.uri)
        if not self._register_cached(name, group, version):
            table = storage.latest(group.uri)
            if table is None:
                self.ctx.register_record_batches(name, [[pa.record_batch([], schema=pa.schema([]))]])
                self._stored[name], version = set(), None
            else:
                version = table.version()
                if not self._register_snapshot(name, group, table, cached=True):
                    self.ctx.dirty = True  # a Delta snapshot read through: the cache may hold it next time
                self._stored[name] = {f.name for f in table.schema().fields}
            self._registered.add(name)
        self.ctx.kept.tables[name] = KeptTable(group.uri, version, tuple(self._embeddings(group)),
                                               frozenset(self._stored[name]))

    def _register_cached(self, name: str, group: dict[str, Any], version: int | None) -> bool:
        """Register the latest version (``version``, as the log says) from the cache when it
        is cached (no Delta table is opened: that costs milliseconds per query)."""
        engine, uri = self.session.engine, group.uri
        columns = engine.cache.columns(uri, version) if version is not None else None
        if columns is None:
            return False
        partitions = engine.cache.get(uri, version, tuple(self._embeddings(group)))
        if partitions is None:  # evicted in between
            return False
        self.ctx.register_record_batches(name, partitions)
        self._stored[name] = set(columns)
        self._registered.add(name)
        return True

    def _register_snapshot(self, name: str, group: dict[str, Any], table: Any, cached: bool) -> bool:
        """Register a Delta snapshot: from the engine's decoded-table cache when it fits.

        Cached embedding columns are converted once to the ``FixedSizeList`` the view exposes,
        so the view's cast is free on every later query. A big table's first read scans its
        files instead, decoding only the columns the query needs (``TableCache.scan_first``).
        Whether the rows registered are the cache's."""
        engine, uri = self.session.engine, group.uri
        if not cached or engine.cache.capacity <= 0:
            self.ctx.register_table(name, table)
            return False
        version = table.version()
        embeddings = self._embeddings(group)
        partitions = engine.cache.get(uri, version, tuple(embeddings))
        if partitions is None:
            files = sum(v.as_py() or 0 for v in table.get_add_actions(flatten=True).column("size_bytes"))
            dataset = engine.storage.dataset(table)
            if files > engine.cache.capacity or engine.cache.scan_first(uri, version, files):
                # too big to hold decoded, or read once so far
                if dataset is None:
                    self.ctx.register_table(name, table)
                else:
                    self.ctx.register_dataset(name, dataset)
                return False
            decoded = as_view_types(pa.table(table.to_pyarrow_table() if dataset is None
                                             else dataset.to_table()), embeddings)
            partitions = engine.cache.put(uri, version, decoded, engine.batch_size, tuple(embeddings),
                                          engine.target_partitions)
        self.ctx.register_record_batches(name, partitions)
        return True

    def _embeddings(self, group: dict[str, Any]) -> dict[str, pa.DataType]:
        """Physical column -> Arrow type of the group's stored embedding features."""
        out = {}
        for record in registry.versions(self.session.catalog, group.key):
            dtype = stored_dtype(record.dtype)
            if dtype and record.column and dtype.kind == "embedding" and dtype.element != "float16":
                out[record.column] = to_arrow(dtype)
        return out

    def stored_columns(self, group: dict[str, Any]) -> set[str]:
        return self._stored[self._table(group)]

    def add_view(self, group: dict[str, Any]) -> GroupView:
        """Plan ``group``'s view and register it under its qualified name (a kept context
        has it already)."""
        if (kept := self.ctx.kept.views.get(group.key)) is not None:
            self.views[group.key] = kept
            return kept
        self._table(group)
        views = self.session.engine.views
        view = views.view(group, self.stored_columns, pinned=self.pinned)
        try:
            frame = self._plan(view.sql)
        except StatementTimeout:
            raise
        except Exception as error:  # one bad derived expression must not hide the whole group
            fallback = views.view(group, self.stored_columns, derived=False, pinned=self.pinned)
            reason = ExecutionError(f"its expression does not run in DataFusion: {_first_line(str(error))}")
            fallback.unavailable = {**{k: reason for k in fallback.unavailable}, **view.unavailable}
            try:
                frame = self._plan(fallback.sql)
            except Exception as failure:
                raise self.translate(failure, fallback.sql) from None
            view = fallback
        view.frame = frame
        self.views[group.key] = view
        schema = self._schema_for(group.project)
        with self.ctx.keeping():
            schema.register_table(group.name, frame.into_view())
            self.ctx.kept.views[group.key] = view
        if view.external:  # a grant can expire with no catalog change: planned anew each time
            self.ctx.dirty = True
        return view

    def group_schema(self, group: dict[str, Any]) -> pa.Schema:
        return self.add_view(group).frame.schema()

    # -- time travel -----------------------------------------------------------------------

    def _snapshots(self, sql: str) -> str:
        """Replace each ``table VERSION|TIMESTAMP AS OF x`` by a view over that snapshot."""
        for read in reversed(sql_tree.time_travel(sql)):
            sql = sql[:read.start] + self._snapshot_view(read) + sql[read.end:]
        return sql

    def _snapshot_view(self, read: sql_tree.TimeTravel) -> str:
        group = self.session._group(read.group)
        number = len(self._registered)
        hidden = f"{hidden_table(group)}_at_{number}"
        self._table(group, read.value, hidden)

        def stored(g: dict[str, Any]) -> set[str]:
            return self._stored[hidden] if g.key == group.key else self.stored_columns(g)

        view = group_view(self.session.catalog, group, stored, table=hidden, pinned=self.pinned)
        alias = f"__raise_asof_{group.id}_{number}"
        self.ctx.register_view(alias, self._plan(view.sql))
        return f'"{alias}"'

    # -- running ---------------------------------------------------------------------------

    def _plan(self, sql: str):
        """``ctx.sql`` on a large stack, within the statement's deadline (``limits``)."""
        return limits.planned(self.ctx.sql, sql, deadline=self.deadline, sql=sql)

    def _optimized(self, sql: str, values: dict[str, Any] | None):
        """A user's query planned and optimized: optimizing now reports the plan's errors (types,
        LIMIT) as the user's mistakes instead of failing later in authorization."""
        df = self.ctx.sql_with_options(sql, _OPTIONS, param_values=values)
        return PlannedFrame(df, self.ctx)

    def dataframe(self, sql: str, params: Sequence[Any] | None = None, *, bound: bool = True):
        """Plan ``sql`` with ``params`` for its ``$n`` placeholders (``bound=False``: planning a
        prepared statement whose values come later)."""
        values = parameters.values(sql, params) if bound else None
        try:
            vectors = set_aside(sql)  # the rewrites below scan short text
            text = vectors.text
            for rewrite in self.rewrites:
                text = rewrite(text)
            text = asof.rewrite(self, text)
            text = vectors.constant_vectors(self._snapshots(text), self._hold)
            return limits.planned(self._optimized, text, values or None, deadline=self.deadline, sql=text)
        except RaiseError:
            raise
        except Exception as error:  # DataFusion reports every failure as a plain exception
            raise self.translate(error, sql, params) from None

    def _hold(self, name: str, function: str, vector: Any) -> None:
        self.ctx.register_udf(udfs.held(function, vector, name))

    def run(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        if (taken := families.run_query(self, sql, params)) is not None:
            return taken
        df = self.dataframe(sql, params)
        security.authorize_query(self.session, df, self)
        try:
            with limits.cancellable(self.deadline):
                return df.to_arrow_table()
        except RaiseError:
            raise
        except Exception as error:
            raise self.translate(error, sql) from None

    def stream(self, sql: str, params: Sequence[Any] | None = None) -> "ResultStream":
        """Plan and authorize ``sql`` now; compute its batches as they are read."""
        if (taken := families.run_query(self, sql, params)) is not None:
            return ResultStream.of(taken)
        df = self.dataframe(sql, params)
        security.authorize_query(self.session, df, self)
        try:
            with limits.cancellable(self.deadline):
                reader = pa.RecordBatchReader.from_stream(df)
        except RaiseError:
            raise
        except Exception as error:
            raise self.translate(error, sql) from None
        return ResultStream(reader.schema, self._batches(reader, sql))

    def _batches(self, reader: pa.RecordBatchReader, sql: str) -> Iterator[pa.RecordBatch]:
        """The batches, each computed within the deadline; the reader is closed on any end, so
        an abandoned or cancelled query stops and frees what it holds."""
        try:
            while True:
                with limits.cancellable(self.deadline):
                    batch = reader.read_next_batch()
                yield batch
        except StopIteration:
            return
        except RaiseError:
            raise
        except Exception as error:
            raise self.translate(error, sql) from None
        finally:
            reader.close()

    def schema(self, sql: str) -> pa.Schema:
        df = self.dataframe(sql, bound=False)
        security.authorize_query(self.session, df, self, audit_reads=False)
        return df.schema()

    def translate(self, error: Exception, sql: str, params: Sequence[Any] | None = None) -> RaiseError:
        """A DataFusion error as the RaiseError a user can act on."""
        raised = udfs.from_datafusion(error) or sql_errors.user_error(str(error), sql, params)
        if raised is not None:
            return raised
        text = str(error)
        if "Object Store error" in text and re.search(r"not found|No such file", text, re.IGNORECASE):
            return NotFound("data files this query reads are gone: the feature group was dropped or "
                            "rewritten after the query was planned; run it again", code="RAISE-N004")
        missing = re.search(r"No field named (\"[^\"]+\"|[^\s.]+(?:\.[^\s.]+)?)", text)
        if missing:
            name = _unquote(missing.group(1).split(".")[-1])
            for view in self.views.values():
                if name in view.unavailable:
                    reason = view.unavailable[name]
                    return type(reason)(f"feature {name!r} cannot be computed: {reason.message}",
                                        code=reason.code, name=name)
            return NotFound(f"no column {name!r}: {text.splitlines()[-1]}", code="RAISE-N002", name=name)
        table = re.search(r"table '(?:[^.']+\.)*([^']+)' not found", text)
        if table:
            return NotFound(f"no feature group or table {table.group(1)!r} in the current project "
                            f"({'/'.join(self.session.project or ()) or 'none: USE a project'})",
                            code="RAISE-N003", name=table.group(1))
        position = re.search(r"Line: (\d+), Column: (\d+)", text)
        if "ParserError" in text or "SQL error" in text:
            line, col = (int(position.group(1)), int(position.group(2))) if position else (1, 1)
            return RaiseSyntaxError(f"SQL syntax error: {_first_line(text)}", line=line, column=col,
                                    excerpt=excerpt_at(sql, line, col))
        if "not supported" in text and ("DDL" in text or "DML" in text or "Statement" in text):
            return ExecutionError(
                f"{_first_line(text)}: create feature groups with CREATE FEATURE GROUP and write them "
                "with INSERT INTO or ingest", code="RAISE-X002")
        return ExecutionError(_first_line(text))


class PlannedFrame(DataFrame):
    """A planned query that keeps its optimized plan: authorizing it and running it reuse that
    plan instead of running DataFusion's optimizer twice more (each pass over a query with a
    512-number literal costs milliseconds; a pass over the optimized plan, a fraction of one).
    The unoptimized plan (``logical_plan``) stays the statement's own, for authorization."""

    def __init__(self, frame: DataFrame, ctx: SessionContext) -> None:
        super().__init__(frame.df)
        self._optimized = frame.optimized_logical_plan()
        self._ready = ctx.create_dataframe_from_logical_plan(self._optimized)

    def optimized_logical_plan(self):
        return self._optimized

    def to_arrow_table(self) -> pa.Table:
        return self._ready.to_arrow_table()

    def collect(self) -> list[pa.RecordBatch]:
        return self._ready.collect()

    def execute_stream(self):
        return self._ready.execute_stream()

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self._ready.__arrow_c_stream__(requested_schema)


@dataclass(frozen=True, slots=True)
class ResultStream:
    """A query result read batch by batch; its errors arrive as ``RaiseError``s.

    The engine computes each batch when it is read (a scan of a cached table hands its batches
    over without copying), so a server can send the first rows before the last are computed.
    """

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    #: Known only for results computed up front; -1 otherwise.
    num_rows: int = -1
    nbytes: int = -1

    @classmethod
    def of(cls, table: pa.Table) -> "ResultStream":
        """A stream over a result already in memory."""
        return cls(table.schema, iter(table.to_batches()), table.num_rows, table.nbytes)

    def table(self) -> pa.Table:
        """Read the whole stream (a stream is read once)."""
        return pa.Table.from_batches(self.batches, schema=self.schema)


def as_view_types(table: pa.Table, embeddings: dict[str, pa.DataType]) -> pa.Table:
    """``table`` with its embedding columns as ``FixedSizeList`` (their declared size)."""
    for column, arrow_type in embeddings.items():
        if column in table.column_names:
            index = table.column_names.index(column)
            table = table.set_column(index, column, fixed_size(table.column(column), arrow_type))
    return table


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:500] if text.strip() else "query failed"
