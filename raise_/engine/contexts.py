"""DataFusion contexts kept from one statement to the next.

Making a SessionContext (with its spill folder under ``home/spill``), registering Raise's
functions and planning each named group's view costs about as much as planning and running a
small query. So a context that served a statement goes back to its engine's ``ContextPool``
and serves the next one with the same key: the catalog generation, the current project and
the pinned feature versions its views carry (``query.QueryContext``).

What a kept context holds is only what any statement with that key would register alike
(``Kept``): Raise's functions, the hidden tables of feature groups registered from the
engine's decoded-table cache at a table version, and the views over them, which depend on
the catalog, never on the principal (authorization checks each query's plan). Everything a
statement registers besides (constant-vector functions, INFER functions, temporary tables,
snapshots for time travel, as-of join results) is recorded by ``RecordingContext`` and
removed when the statement ends; one that changed the context in a way that cannot be
undone (a setting, a catalog provider, a kept name replaced) is not kept. Before reuse, each
kept table is checked against the table's current version: a write makes a new context.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from datafusion import SessionContext

if TYPE_CHECKING:
    from raise_.engine.engine import Engine
    from raise_.engine.views import GroupView

#: Idle contexts an engine keeps (all keys together).
POOL_SIZE = 4
#: A context that came to hold more kept tables than this is not kept (checking them all
#: before each reuse would cost more than it saves).
MAX_KEPT_TABLES = 16
_READS = ("SELECT", "WITH", "VALUES", "(")


def _normal(name: str) -> str:
    """A table name as DataFusion resolves it: quoted as written, else lower case."""
    name = name.strip()
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()


@dataclass(frozen=True, slots=True)
class KeptTable:
    uri: str
    version: int | None  # None: the group had no Delta table yet (an empty table)
    vectors: tuple[str, ...]
    stored: frozenset[str]


@dataclass
class Kept:
    """What a kept context holds for the statements of its key."""

    tables: dict[str, KeptTable] = field(default_factory=dict)  # hidden name -> its version
    views: dict[str, "GroupView"] = field(default_factory=dict)  # group key -> planned view
    catalogs: dict[str, Any] = field(default_factory=dict)  # org -> its memory catalog
    plain: set[str] = field(default_factory=set)  # groups of the project registered by name


class RecordingContext(SessionContext):
    """A SessionContext that records what the running statement registers, so that it can be
    removed, and notes any change it cannot undo (``dirty``). Registrations made inside
    ``keeping()`` are the context's own and stay."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.kept = Kept()
        self.key: tuple | None = None
        self.dirty = False
        self._names: set[str] = set()  # normalized names of kept tables and views
        self._functions: set[str] = set()
        self._added: list[str] = []
        self._added_functions: list[str] = []
        self._keeping = 0

    @contextmanager
    def keeping(self) -> Iterator[None]:
        self._keeping += 1
        try:
            yield
        except BaseException:
            self.dirty = True  # a kept registration half done
            raise
        finally:
            self._keeping -= 1

    def _table_added(self, name: str) -> None:
        normal = _normal(name)
        if self._keeping:
            self._names.add(normal)
        elif normal in self._names:
            self.dirty = True  # a statement's own table under a kept name: cannot be undone
        else:
            self._added.append(name)

    def register_view(self, name: str, df: Any) -> None:
        super().register_view(name, df)
        self._table_added(name)

    def register_table(self, name: str, table: Any) -> None:
        super().register_table(name, table)
        self._table_added(name)

    def register_dataset(self, name: str, dataset: Any) -> None:
        super().register_dataset(name, dataset)
        self._table_added(name)

    def register_record_batches(self, name: str, partitions: Any) -> None:
        super().register_record_batches(name, partitions)
        self._table_added(name)

    def deregister_table(self, name: str) -> None:
        if not self._keeping and _normal(name) in self._names:
            self.dirty = True
        super().deregister_table(name)

    def register_udf(self, udf: Any) -> None:
        super().register_udf(udf)
        if self._keeping:
            self._functions.add(udf.name)
        elif udf.name in self._functions:
            self.dirty = True
        else:
            self._added_functions.append(udf.name)

    def register_udaf(self, udaf: Any) -> None:
        super().register_udaf(udaf)
        self.dirty = self.dirty or not self._keeping

    def register_udwf(self, udwf: Any) -> None:
        super().register_udwf(udwf)
        self.dirty = self.dirty or not self._keeping

    def register_catalog_provider(self, name: str, provider: Any) -> None:
        super().register_catalog_provider(name, provider)
        self.dirty = self.dirty or not self._keeping

    def sql(self, query: str, *args: Any, **kwargs: Any) -> Any:
        if not query.lstrip().upper().startswith(_READS):
            self.dirty = True  # SET, DDL: the context's state changed
        return super().sql(query, *args, **kwargs)

    def undo(self) -> bool:
        """Remove what the statement registered; whether the context can serve another."""
        for name in self._added:
            super().deregister_table(name)
        for name in self._added_functions:
            self.deregister_udf(name)
        self._added, self._added_functions = [], []
        return not self.dirty and self._schemas_unchanged()

    def _schemas_unchanged(self) -> bool:
        """No table went into an org catalog's schema past ``register_*`` (a live table)."""
        if set(self.catalog_names()) != {"datafusion", *self.kept.catalogs}:
            return False
        expected: dict[tuple[str, str], set[str]] = {}
        for view in self.kept.views.values():
            org, domain, project = view.group.project
            expected.setdefault((org, f"{domain}/{project}"), set()).add(view.group.name)
        for org, catalog in self.kept.catalogs.items():
            for schema in catalog.schema_names():
                if set(catalog.schema(schema).names()) != expected.get((org, schema), set()):
                    return False
        return True


class ContextPool:
    """An engine's idle kept contexts (see the module doc); safe to use from many threads."""

    def __init__(self, engine: "Engine") -> None:
        self.engine = engine
        self._idle: list[RecordingContext] = []
        self._lock = threading.Lock()

    def take(self, key: tuple | None) -> RecordingContext:
        """A context for a statement of ``key`` (None: one that will not be kept)."""
        while key is not None:
            with self._lock:
                found = next((c for c in self._idle if c.key == key), None)
                if found is None:
                    break
                self._idle.remove(found)
            if self._current(found):
                return found
        return self._new(key)

    def give_back(self, ctx: SessionContext, failed: bool = False) -> None:
        """The statement using ``ctx`` ended: keep ``ctx`` if it can serve another."""
        if not isinstance(ctx, RecordingContext) or ctx.key is None:
            return
        if not ctx.undo() or failed or len(ctx.kept.tables) > MAX_KEPT_TABLES:
            return
        with self._lock:
            # generations only grow: contexts of another generation serve no one again
            self._idle = [c for c in self._idle if c.key[0] == ctx.key[0]][-(POOL_SIZE - 1):] + [ctx]

    def _new(self, key: tuple | None) -> RecordingContext:
        engine = self.engine
        ctx = RecordingContext(engine.config(), engine.runtime())
        ctx.key = key
        with ctx.keeping():
            engine.register_functions(ctx)
        return ctx

    def _current(self, ctx: RecordingContext) -> bool:
        """Whether every kept table is still the group's latest version, decoded in the cache."""
        storage, cache = self.engine.storage, self.engine.cache
        for table in ctx.kept.tables.values():
            if storage.local_version(table.uri) != table.version:
                return False
            if table.version is not None and cache.get(table.uri, table.version, table.vectors) is None:
                return False
        return True
