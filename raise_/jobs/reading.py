"""Reading a job's sources inside a query context, batch by batch.

Files (``ObjectStorage``, ``FileSystem``) and external tables (``ColumnarSource``) become
``pyarrow.dataset`` tables of the run's DataFusion context (scanned lazily, filters pushed
down); a ``FeatureGroupSource`` is its group's view, read with the job owner's rights. Each
source is registered under its name, and the first also as ``source``. ``fingerprint`` is
what ``Schedule.on_change`` compares: a Delta table's version, or a hash of a file listing.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.dataset as ds
import pyarrow.fs as pafs
from datafusion import col
from deltalake import DeltaTable

from grammar.errors import NotFound, ValidationError
from raise_.engine import names, registry
from raise_.jobs.sources import ColumnarSource, FeatureGroupSource, FileSystem, ObjectStorage, Source

if TYPE_CHECKING:
    from raise_.engine.query import QueryContext
    from raise_.engine.session import Session

__all__ = ["EXTERNAL_KIND", "register", "fingerprint", "external_key", "group_of_source"]

EXTERNAL_KIND = "external table"
BAD_READ = "RAISE-V509"
NO_EXTERNAL = "RAISE-N501"


def external_key(table: tuple[str, ...]) -> str:
    return "/".join(table)


def _files(source: ObjectStorage | FileSystem) -> tuple[pafs.FileSystem, list[str] | str]:
    try:
        filesystem, root = pafs.FileSystem.from_uri(source.path if "://" in source.path
                                                    else "file://" + _absolute(source.path))
    except Exception as error:  # pyarrow reports unknown schemes and bad URIs as plain errors
        raise ValidationError(f"cannot open {source.path!r}: {error}", code=BAD_READ, name=source.path) from None
    pattern = getattr(source, "glob_pattern", None)
    if pattern is None:
        return filesystem, root
    infos = filesystem.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    base = root.rstrip("/") + "/"
    files = sorted(i.path for i in infos if i.type == pafs.FileType.File
                   and (fnmatch.fnmatch(i.path[len(base):], pattern) or fnmatch.fnmatch(i.base_name, pattern)))
    return filesystem, files


def _absolute(path: str) -> str:
    return os.path.abspath(path)


def _file_dataset(source: ObjectStorage | FileSystem) -> ds.Dataset:
    filesystem, paths = _files(source)
    partitioning = "hive" if getattr(source, "partition_columns", None) else None
    try:
        return ds.dataset(paths, format=source.format, filesystem=filesystem, partitioning=partitioning)
    except (OSError, ValueError) as error:
        raise NotFound(f"cannot read {source.format} files at {source.path!r}: {error}", code="RAISE-N502",
                       name=source.path) from None


def _external(session: "Session", source: ColumnarSource) -> dict[str, Any]:
    key = external_key((source.catalog, source.database, source.table))
    record = session.catalog.get(EXTERNAL_KIND, key)
    if record is None:
        raise NotFound(f"no external table {key.replace('/', '.')!r}; register it with CREATE EXTERNAL TABLE "
                       f"{key.replace('/', '.')} LOCATION '...' FORMAT DELTA|PARQUET", code=NO_EXTERNAL, name=key)
    return record


def _native_parquet(source: ObjectStorage | FileSystem) -> tuple[str, str] | None:
    """(path, file extension) when DataFusion's own Parquet reader can list the files: local,
    not hive-partitioned, picked by no glob or by a ``*.ext`` one (it reads in parallel and
    prunes row groups, where a ``pyarrow.dataset`` scan goes through Python)."""
    if source.format != "parquet" or getattr(source, "partition_columns", None) or \
            ("://" in source.path and not source.path.startswith("file://")):
        return None
    pattern = getattr(source, "glob_pattern", None) or "*.parquet"
    if not re.fullmatch(r"\*\.\w+", pattern):
        return None
    path = _absolute(source.path.removeprefix("file://"))
    return path, (Path(path).suffix if Path(path).is_file() else pattern[1:])


def _register_files(qc: "QueryContext", hidden: str, source: ObjectStorage | FileSystem) -> None:
    native = _native_parquet(source)
    if native is not None and Path(native[0]).exists():
        qc.ctx.register_parquet(hidden, native[0], file_extension=native[1])
    else:
        qc.ctx.register_dataset(hidden, _file_dataset(source))


def _register_external(qc: "QueryContext", hidden: str, source: ColumnarSource) -> None:
    record = _external(qc.session, source)
    if record["format"] == "delta":
        qc.ctx.register_table(hidden, DeltaTable(record["location"], storage_options=qc.session.engine.storage.options))
    else:
        _register_files(qc, hidden, ObjectStorage(record["location"], "parquet"))


def group_of_source(session: "Session", source: FeatureGroupSource, project: tuple[str, ...]):
    return registry.group(session.catalog, *names.group_path(source.feature_group, project))


def _frame(qc: "QueryContext", source: Source, hidden: str, project: tuple[str, ...]):
    """A DataFusion DataFrame over one source."""
    from raise_.blobs.jobs import ScanSource, references_table  # here: raise_.blobs imports the SDK

    if isinstance(source, ScanSource):
        qc.ctx.register_dataset(hidden, ds.dataset(references_table(qc.session, source)))
        qc.checked.add(hidden)
        return qc.ctx.table(hidden)
    if isinstance(source, FeatureGroupSource):
        group = group_of_source(qc.session, source, project)
        frame = qc.add_view(group).frame
        if source.features:
            keep = [*group.key_names, *([group.timestamp] if group.timestamp else []), *source.features]
            missing = [c for c in keep if c not in frame.schema().names]
            if missing:
                raise NotFound(f"feature group {group.name!r} has no feature {missing[0]!r}", code="RAISE-N503",
                               name=missing[0])
            frame = frame.select(*[col(c) for c in dict.fromkeys(keep)])
        return frame
    if isinstance(source, ColumnarSource):
        _register_external(qc, hidden, source)
    else:
        _register_files(qc, hidden, source)
    qc.checked.add(hidden)
    if isinstance(source, ColumnarSource) and source.filter:
        return qc.dataframe(f'SELECT * FROM "{hidden}" WHERE {_condition(source.filter)}')
    return qc.ctx.table(hidden)


def _condition(text: str) -> str:
    """A ColumnarSource filter, checked to be one SQL condition (no statement can ride along)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(text, read="postgres", into=exp.Condition)
    except sqlglot.errors.ParseError as error:
        raise ValidationError(f"ColumnarSource filter {text!r} is not a SQL condition: {error}", code=BAD_READ,
                              name=text) from None
    if tree.find(exp.Select, exp.Subquery, exp.Command) is not None:
        raise ValidationError(f"ColumnarSource filter {text!r} may not contain a query", code=BAD_READ, name=text)
    return tree.sql("postgres")


def register(qc: "QueryContext", sources: list[Source], project: tuple[str, ...], first_filter=None) -> Any:
    """Register every source in ``qc`` by its name (the first also as ``source``, narrowed by
    ``first_filter(frame) -> frame``); the first source's frame, as registered."""
    first = None
    for index, source in enumerate(sources):
        frame = _frame(qc, source, f"__raise_job_source{index}", project)
        if index == 0:
            first = first_filter(frame) if first_filter else frame
            qc.ctx.register_view("source", first)
            frame = first
        if source.name != "source":
            qc.ctx.register_view('"' + source.name.replace('"', '""') + '"', frame)
    return first


def fingerprint(session: "Session", source: Source, project: tuple[str, ...]) -> str | None:
    """What changes when the source has new data: a Delta version, or the file listing's hash."""
    from raise_.blobs.jobs import ScanSource

    if isinstance(source, ScanSource):
        source = FileSystem(source.source.uri_prefix)
    if isinstance(source, FeatureGroupSource):
        group = group_of_source(session, source, project)
        storage = session.engine.storage
        version = storage.local_version(group.uri)
        if version is None and (table := storage.latest(group.uri)) is not None:
            version = table.version()
        return None if version is None else f"v{version}"
    if isinstance(source, ColumnarSource):
        record = _external(session, source)
        if record["format"] == "delta":
            return f"v{DeltaTable(record['location'], storage_options=session.engine.storage.options).version()}"
        source = ObjectStorage(record["location"], "parquet")
    filesystem, paths = _files(source)
    if isinstance(paths, str):
        top = filesystem.get_file_info(paths)
        infos = [top] if top.type != pafs.FileType.Directory else \
            filesystem.get_file_info(pafs.FileSelector(paths, recursive=True))
    else:
        infos = filesystem.get_file_info(paths)
    listing = sorted((i.path, i.size, i.mtime_ns) for i in infos if i.type == pafs.FileType.File)
    return hashlib.sha256(repr(listing).encode()).hexdigest()[:32]
