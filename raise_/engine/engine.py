"""The embedded engine: a store home (SQLite catalog + Delta tables) and sessions over it."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa
from datafusion import RuntimeEnvBuilder, SessionConfig, SessionContext

from raise_.engine.cache import TableCache, default_capacity
from raise_.engine.catalog import Catalog
from raise_.engine.contexts import ContextPool
from raise_.engine.session import Session
from raise_.engine.storage import Storage
from raise_.engine.views import ViewCache

DEFAULT_MEMORY = 4 << 30
#: Vector UDFs pay a fixed cost per batch: bigger batches than DataFusion's 8192 rows help.
DEFAULT_BATCH_SIZE = 65536


def default_home() -> Path:
    return Path(os.environ.get("RAISE_HOME") or ".raise")


class Engine:
    """A Raise store rooted at ``home``.

    ``memory_limit`` bounds each query (operators spill to ``home/spill`` beyond it);
    ``cache_bytes`` (default ``$RAISE_CACHE_BYTES`` or 1 GiB; 0 turns it off) keeps decoded
    feature tables in memory between queries (see ``cache``); ``target_partitions`` caps how
    many partitions DataFusion runs a query in (default: one per core); ``statement_timeout``
    (seconds) cancels a query that runs longer (see ``limits``; sessions may only lower it).

    >>> engine = Engine("/tmp/store")                          # doctest: +SKIP
    >>> engine.execute("SHOW ORGANIZATIONS").num_rows         # doctest: +SKIP
    0
    """

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        storage_uri: str | None = None,
        storage_options: dict[str, str] | None = None,
        memory_limit: int = DEFAULT_MEMORY,
        batch_size: int = DEFAULT_BATCH_SIZE,
        cache_bytes: int | None = None,
        target_partitions: int | None = None,
        statement_timeout: float | None = None,
    ) -> None:
        self.home = Path(home) if home is not None else default_home()
        self.home.mkdir(parents=True, exist_ok=True)
        self.catalog = Catalog(self.home / "catalog.db")
        self.storage = Storage(storage_uri or self.home / "tables", storage_options)
        self.memory_limit = memory_limit
        self.batch_size = batch_size
        self._spill = self.home / "spill"
        self.cache = TableCache(default_capacity() if cache_bytes is None else cache_bytes)
        self.views = ViewCache(self.catalog)
        #: DataFusion contexts kept between statements (see ``contexts``).
        self.contexts = ContextPool(self)
        self.target_partitions = target_partitions
        self.statement_timeout = statement_timeout or None

    def __repr__(self) -> str:
        return f"Engine(home={str(self.home)!r})"

    def session(self, principal: str | None = None, project: Sequence[str] | str | None = None,
                organization: str | None = None) -> Session:
        """A session for ``principal`` in ``project``. Without a principal it is the local
        superuser acting for ``organization`` (default: the project's), which its audit entries
        record as their ``actor_org``."""
        if isinstance(project, str):
            project = tuple(project.split("/"))
        return Session(self, principal, project, organization)

    def execute(self, sql: str, principal: str | None = None, project: Sequence[str] | str | None = None,
                params: Sequence[Any] | None = None) -> pa.Table:
        """Run ``sql`` in a fresh session; the last statement's result."""
        return self.session(principal, project).execute(sql, params)

    # -- DataFusion settings ----------------------------------------------------------------

    def config(self) -> SessionConfig:
        config = SessionConfig()
        if self.target_partitions:
            config = config.with_target_partitions(self.target_partitions)
        return (
            config
            .with_batch_size(self.batch_size)
            .with_information_schema(True)
            # DataFusion 55's leaf-projection pushdown fails on struct field access over views
            .set("datafusion.optimizer.enable_leaf_expression_pushdown", "false")
        )

    def runtime(self) -> RuntimeEnvBuilder:
        """Bounded memory: operators that exceed their share spill to ``home/spill``."""
        self._spill.mkdir(exist_ok=True)
        return RuntimeEnvBuilder().with_fair_spill_pool(self.memory_limit).with_temp_file_path(self._spill)

    def register_functions(self, ctx: SessionContext) -> None:
        """Raise's SQL functions (vector kernels, spec aliases) in a DataFusion context."""
        try:
            import udfs
        except ImportError:  # pragma: no cover - udfs ships with raise_
            return
        register = getattr(udfs, "register_all", None)
        if register is not None:
            register(ctx)
