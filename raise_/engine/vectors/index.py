"""HNSW vector indexes (usearch): files, incremental upkeep from the change feed, and search.

An index covers one embedding feature of one group at one Delta version. Its files live beside
the group's table (``<table>.vectors/<name>/``): ``v<version>.usearch`` (the graph, usearch's
own format) and ``v<version>.keys.arrow`` (row ``label`` of that Arrow file holds the key columns
of the vector labelled ``label``). A query that finds the table ahead of the index first applies
the Change Data Feed since the covered version (an insert or update adds or replaces the key's
vector, a delete or a NULL embedding removes it) and saves the index at the new version; an
overwrite, or a feed that is gone, rebuilds it from the table.

usearch was chosen over faiss-cpu (``benchmarks/search.py`` measures both): it removes and
replaces vectors by key, which upserts and deletes need, where faiss's HNSW can only add.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather

from grammar.errors import ValidationError
from raise_.engine import registry

if TYPE_CHECKING:
    from raise_.engine.query import QueryContext
    from raise_.engine.session import Session
    from raise_.engine.vectors.shape import TopK

KIND = "vector_index"
#: Index metric -> (usearch metric, the SQL function whose order it serves).
METRICS = {"cosine": ("cos", "cosine_similarity"), "l2": ("l2sq", "l2_distance"), "dot": ("ip", "dot")}
#: WITH (...) options: type and default.
#: ``model``: the registered model that embeds text queries of the feature (``INFER``).
OPTIONS: dict[str, tuple[type, Any]] = {"metric": (str, "cosine"), "m": (int, 16), "ef_construction": (int, 200),
                                        "ef_search": (int, 128), "model": (str, None)}
BAD_OPTION = "RAISE-V604"
UNKNOWN_METRIC = "RAISE-V605"
_LABEL = "__raise_label"


def options(given: dict[str, Any]) -> dict[str, Any]:
    """``given`` WITH options checked and completed with the defaults."""
    out = {}
    for name, value in given.items():
        if name not in OPTIONS:
            raise ValidationError(f"unknown vector index option {name!r}; options: {', '.join(OPTIONS)}",
                                  code=BAD_OPTION, name=name)
        kind = OPTIONS[name][0]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4096):
            raise ValidationError(f"vector index option {name} must be a whole number from 1 to 4096, "
                                  f"not {value!r}", code=BAD_OPTION, name=name)
        if kind is str and not isinstance(value, str):
            raise ValidationError(f"vector index option {name} must be a string, not {value!r}",
                                  code=BAD_OPTION, name=name)
        out[name] = value.lower() if isinstance(value, str) and name != "model" else value
    out = {name: out.get(name, default) for name, (_, default) in OPTIONS.items()}
    if out["metric"] not in METRICS:
        raise ValidationError(f"unknown vector index metric {out['metric']!r}; metrics: {', '.join(METRICS)}",
                              code=UNKNOWN_METRIC, name=out["metric"])
    return out


def directory(session: "Session", group: Any, name: str) -> Path:
    """Where the index files of ``name`` on ``group`` live: beside a local table, else under
    the store home."""
    uri = group.uri.removeprefix("file://")
    if "://" in uri:
        return session.engine.home / "vectors" / Path(uri).name / name
    return Path(uri + ".vectors") / name


@dataclass
class Loaded:
    """An index in memory: the usearch graph and its labels' keys at ``version``."""

    graph: Any
    keys: pa.Table
    version: int
    record: dict[str, Any]
    lookup: dict[tuple, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def describe(self) -> str:
        r = self.record
        return (f"{r['name']!r} (HNSW, usearch, metric {r['metric']}, m {r['m']}, ef_search {r['ef_search']}, "
                f"{len(self.graph)} vectors at table version {self.version})")

    def label_of(self, key: tuple) -> int | None:
        if not self.lookup and self.keys.num_rows:
            columns = [self.keys.column(c).to_pylist() for c in self.keys.column_names]
            self.lookup = {k: i for i, k in enumerate(zip(*columns))}
        return self.lookup.get(key)


#: Per engine: index key -> the index in memory (a store opened again reads the files again).
_LOADED: "weakref.WeakKeyDictionary[Any, dict[str, Loaded]]" = weakref.WeakKeyDictionary()
_LOADING = threading.Lock()


def _cache(session: "Session") -> dict[str, Loaded]:
    return _LOADED.setdefault(session.engine, {})


def _graph(record: dict[str, Any]):
    from usearch.index import Index

    return Index(ndim=record["dim"], metric=METRICS[record["metric"]][0], dtype="f32",
                 connectivity=record["m"], expansion_add=record["ef_construction"],
                 expansion_search=record["ef_search"])


def _files(record: dict[str, Any], version: int) -> tuple[Path, Path]:
    base = Path(record["directory"]) / f"v{version:010d}"
    return base.with_suffix(".usearch"), base.with_suffix(".keys.arrow")


def vectors_of(column: pa.ChunkedArray | pa.Array, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(positions of the non-NULL rows, their vectors as a C-contiguous float32 (n, dim) block)."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    valid = np.flatnonzero(column.is_valid().to_numpy(zero_copy_only=False)) if column.null_count else \
        np.arange(len(column))
    chosen = column.take(pa.array(valid)) if column.null_count else column
    flat = chosen.flatten().to_numpy(zero_copy_only=False)
    return valid, np.ascontiguousarray(flat.astype(np.float32, copy=False).reshape(-1, dim))


def build(session: "Session", record: dict[str, Any], group: Any) -> dict[str, Any]:
    """Build the index from the group's latest table; the record with its version and files."""
    table = session.engine.storage.latest(group.uri)
    keys = list(group.key_names)
    version = table.version() if table is not None else 0
    present = set(table.schema().to_arrow().names) if table is not None else set()  # type: ignore[union-attr]
    if table is None or record["column"] not in present:
        data = pa.table({**{k: pa.array([], pa.null()) for k in keys}, record["column"]: pa.array([], pa.null())})
    else:
        data = pa.table(table.to_pyarrow_table(columns=keys + [record["column"]]))
    positions, block = vectors_of(data.column(record["column"]), record["dim"]) if data.num_rows else \
        (np.zeros(0, np.int64), np.zeros((0, record["dim"]), np.float32))
    graph = _graph(record)
    if len(positions):
        graph.add(np.arange(len(positions), dtype=np.uint64), block, threads=os.cpu_count() or 1)
    key_table = data.select(keys).take(pa.array(positions, pa.int64())) if len(positions) else \
        pa.table({k: data.column(k) for k in keys}).slice(0, 0)
    record = {**record, "version": version, "rows": len(graph)}
    _save(record, graph, key_table, version)
    return record


def _save(record: dict[str, Any], graph: Any, keys: pa.Table, version: int) -> None:
    """Write the two files of ``version`` atomically (a reader sees both or neither)."""
    folder = Path(record["directory"])
    folder.mkdir(parents=True, exist_ok=True)
    graph_path, keys_path = _files(record, version)
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        graph.save(os.path.join(scratch, "g"))
        feather.write_feather(keys, os.path.join(scratch, "k"), compression="uncompressed")
        os.replace(os.path.join(scratch, "k"), keys_path)
        os.replace(os.path.join(scratch, "g"), graph_path)


def remove_files(session: "Session", record: dict[str, Any]) -> None:
    shutil.rmtree(record["directory"], ignore_errors=True)
    _cache(session).pop(record["key"], None)


def records(session: "Session", group_key: str | None = None) -> list[dict[str, Any]]:
    found = session.catalog.list(KIND)
    return [r for r in found if group_key is None or r["group"] == group_key]


def for_query(session: "Session", group: Any, topk: "TopK") -> dict[str, Any] | None:
    """The index that answers ``topk`` over ``group``, if one exists."""
    for record in records(session, group.key):
        if (record["feature"] == topk.column and record["uri"] == group.uri
                and METRICS[record["metric"]][1] == topk.function):
            return record
    return None


def usable(context: "QueryContext", group: Any, topk: "TopK") -> Loaded | None:
    """The loaded, up-to-date index for ``topk``, or None (the exact path runs)."""
    record = for_query(context.session, group, topk)
    return None if record is None else current(context.session, record, group)


def current(session: "Session", record: dict[str, Any], group: Any) -> Loaded:
    """The index at the table's latest version, catching up from the change feed first."""
    cache = _cache(session)
    with _LOADING:
        loaded = cache.get(record["key"])
        if loaded is None or loaded.record.get("directory") != record["directory"] or loaded.version < record["version"]:
            loaded = cache[record["key"]] = _load(record)
    latest = session.engine.storage.local_version(group.uri)
    if latest is None:
        table = session.engine.storage.latest(group.uri)
        latest = table.version() if table is not None else loaded.version
    if latest > loaded.version:
        with loaded.lock:
            if latest > loaded.version:
                from raise_.engine.vectors import upkeep  # upkeep builds on this module

                loaded = cache[record["key"]] = upkeep.catch_up(session, loaded, group, latest)
    return loaded


def _load(record: dict[str, Any]) -> Loaded:
    from usearch.index import Index

    graph_path, keys_path = _files(record, record["version"])
    graph = Index.restore(str(graph_path), view=False)
    graph.expansion_search = record["ef_search"]
    return Loaded(graph, feather.read_table(keys_path), record["version"], record)


def save_version(session: "Session", loaded: Loaded, version: int) -> Loaded:
    """Persist ``loaded`` as covering ``version`` and point the catalog record at it."""
    old = loaded.record["version"]
    _save(loaded.record, loaded.graph, loaded.keys, version)
    record = {**loaded.record, "version": version, "rows": len(loaded.graph)}
    stored = session.catalog.get(KIND, record["key"])
    if stored is not None and stored.get("directory") == record["directory"]:  # not dropped meanwhile
        store(session, record)
    if old != version:
        for path in _files(loaded.record, old):
            path.unlink(missing_ok=True)
    return Loaded(loaded.graph, loaded.keys, version, record, loaded.lookup)


def store(session: "Session", record: dict[str, Any]) -> None:
    """Write ``record`` to the catalog (without the fields the catalog adds itself)."""
    fields = {k: v for k, v in record.items() if k not in ("key", "created_at", "updated_at")}
    session.catalog.put(KIND, record["key"], fields, parent=record["project"])


def distances_to_scores(function: str, distances: np.ndarray) -> np.ndarray:
    """usearch distances as the SQL function's value (cosine: 1 - d, dot: 1 - d, l2: sqrt)."""
    d = distances.astype(np.float64)
    return np.sqrt(np.maximum(d, 0.0)) if function == "l2_distance" else 1.0 - d


def key_rows(loaded: Loaded, labels: np.ndarray) -> pa.Table:
    return loaded.keys.take(pa.array(labels.astype(np.int64)))


def label_count(loaded: Loaded) -> int:
    return len(loaded.graph)


def feature_column(session: "Session", group: Any, feature: str) -> tuple[str, int] | None:
    """(physical column, size) of an embedding feature, or None for another kind of feature."""
    from grammar.dtypes import stored_dtype

    record = registry.current_features(session.catalog, group.key).get(feature)
    dtype = stored_dtype(record.dtype) if record is not None else None
    if dtype is None or dtype.kind != "embedding" or not record.column:
        return None
    return record.column, dtype.size

