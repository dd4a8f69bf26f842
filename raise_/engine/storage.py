"""Feature values: one Delta Lake table per feature group, Change Data Feed on.

Columns are physical names chosen by the catalog (key columns, the event-time column and one
``name@version`` column per stored feature version). Tables gain columns lazily: a feature
created without data costs no commit, and the first write that carries it merges the schema.
Every write is one Delta commit, so a failed write leaves the table as it was.
"""
from __future__ import annotations

import os
import shutil
import time
import uuid
import threading
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pa_fs
from deltalake import ColumnProperties, CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, DeltaProtocolError, TableNotFoundError

from grammar.errors import ExecutionError, NotFound, ValidationError

WriteMode = Literal["append", "upsert", "overwrite"]
WRITE_MODES = ("append", "upsert", "overwrite")
_CONFIGURATION = {"delta.enableChangeDataFeed": "true"}


def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


class Storage:
    """Delta tables under ``root`` (a local folder or an object-store URI)."""

    def __init__(self, root: str | Path, storage_options: dict[str, str] | None = None) -> None:
        self.root = str(root).rstrip("/")
        self.options = storage_options or None
        self._locks = _LOCKS
        if _is_local(self.root):
            Path(self.root.removeprefix("file://")).mkdir(parents=True, exist_ok=True)

    def uri_for(self, table_id: int) -> str:
        """A location no other table ever had: the id alone can repeat after a rolled-back
        CREATE, so a random suffix keeps a leftover or cached table from being mistaken."""
        return f"{self.root}/g{table_id:08d}-{uuid.uuid4().hex[:12]}"

    def create(self, uri: str, schema: pa.Schema) -> None:
        """Create an empty table with ``schema`` (key and event-time columns)."""
        try:
            write_deltalake(
                uri, schema.empty_table(), mode="error", configuration=_CONFIGURATION,
                storage_options=self.options,
            )
        except (DeltaError, OSError) as error:
            raise ExecutionError(f"cannot create the feature table at {uri}: {error}") from None

    def local_version(self, uri: str) -> int | None:
        """The newest committed version of a local table, read off its log folder without
        opening the table (None for object stores, or a table not created yet). Every commit
        adds its own ``_delta_log/<version>.json``, so the highest one is the newest."""
        if not _is_local(uri):
            return None
        try:
            names = os.listdir(Path(uri.removeprefix("file://")) / "_delta_log")
        except OSError:
            return None
        versions = [int(name[:-5]) for name in names if len(name) == 25 and name.endswith(".json")
                    and name[:-5].isdigit()]
        return max(versions) if versions else None

    def latest(self, uri: str) -> DeltaTable | None:
        """The table at its latest version, or None if it has not been created yet (a group
        with no key or time column gets its table on the first write: Delta has no
        zero-column tables)."""
        try:
            return DeltaTable(uri, storage_options=self.options)
        except TableNotFoundError:
            return None

    def drop(self, uri: str) -> None:
        """Remove a table's files (local stores; object-store tables are left to lifecycle rules)."""
        if _is_local(uri):
            shutil.rmtree(uri.removeprefix("file://"), ignore_errors=True)

    def open(self, uri: str, as_of: int | datetime | str | None = None) -> DeltaTable:
        """The table at its latest version, or as of a version number or a timestamp."""
        try:
            table = DeltaTable(uri, storage_options=self.options)
            if isinstance(as_of, int):
                table.load_as_version(as_of)
            elif as_of is not None:
                table.load_as_version(_as_datetime(as_of))
        except TableNotFoundError as error:
            raise NotFound(f"feature data not found at {uri}: {error}", name=uri) from None
        except (DeltaError, ValueError, OSError) as error:
            raise NotFound(f"no table version as of {as_of!r}: {error}", name=str(as_of)) from None
        return table

    def dataset(self, table: DeltaTable) -> ds.Dataset | None:
        """A snapshot's files as a PyArrow dataset that reads them in place, or None where it
        cannot (object stores, and tables whose readers need deletion vectors or column
        mapping): then DataFusion's Delta scan reads them.

        PyArrow decodes Parquet lists at several times the speed of DataFusion's reader, in
        parallel over files and row groups, and only the columns a scan asks for. The files
        are memory-mapped: their bytes come straight from the OS page cache, where
        deltalake's own file handler would copy every range through Python into new memory.
        """
        uri = table.table_uri
        if not _is_local(uri):
            return None
        root = unquote(uri.removeprefix("file://"))  # the log's URI escapes spaces and '%'
        try:
            return table.to_pyarrow_dataset(
                filesystem=pa_fs.SubTreeFileSystem(root, pa_fs.LocalFileSystem(use_mmap=True)))
        except (DeltaProtocolError, ValueError):  # ValueError: file statistics PyArrow cannot parse
            return None

    def write(self, uri: str, data: pa.Table, mode: WriteMode, keys: tuple[str, ...],
              metadata: dict[str, str] | None = None, table: DeltaTable | None = None) -> int:
        """Write ``data`` (physical column names, storage types) in one commit; rows written.
        ``metadata`` goes into the commit's log entry (a job's run id and checkpoint).
        ``table``: the table at ``uri`` already open (append and overwrite then skip opening
        it; it moves to the version written)."""
        if mode not in WRITE_MODES:
            raise ValidationError(
                f"unknown write mode {mode!r}; use one of {', '.join(WRITE_MODES)}", name=str(mode)
            )
        if data.num_rows == 0 and mode != "overwrite":
            return 0
        with self._locks[uri]:
            for attempt in range(_RETRIES):
                try:
                    # a retry opens the table anew: the one given is behind the commit that won
                    return self._write(uri, data, mode, keys, metadata, table if attempt == 0 else None)
                except CommitFailedError:
                    # another process committed first; nothing of ours was written, so retry
                    if attempt == _RETRIES - 1:
                        raise ExecutionError(
                            f"write to {uri} kept conflicting with concurrent writers; try again",
                            code="RAISE-X003") from None
                    time.sleep(0.05 * 2 ** attempt)
        return 0

    def _write(self, uri: str, data: pa.Table, mode: WriteMode, keys: tuple[str, ...],
               metadata: dict[str, str] | None = None, table: DeltaTable | None = None) -> int:
        commit = CommitProperties(custom_metadata=metadata) if metadata else None
        try:
            if mode == "upsert":
                return self._upsert(uri, data, keys, commit)
            write_deltalake(
                uri if table is None else table, data, mode=mode, schema_mode="merge",
                configuration=_CONFIGURATION, storage_options=self.options, commit_properties=commit,
                writer_properties=writer_properties(data.schema),
            )
        except CommitFailedError:
            raise
        except DeltaError as error:
            raise ExecutionError(f"write to feature table failed: {error}") from None
        return data.num_rows

    def _upsert(self, uri: str, data: pa.Table, keys: tuple[str, ...], commit: CommitProperties | None = None) -> int:
        if not keys:
            raise ValidationError(
                "upsert needs key columns; declare KEY (...) on the feature group", code="RAISE-V050"
            )
        data = last_per_key(data, keys)
        predicate = " AND ".join(f"t.{_q(k)} = s.{_q(k)}" for k in keys)
        columns = {_q(c): f"s.{_q(c)}" for c in data.column_names}
        table = self.open(uri)
        (
            table.merge(data, predicate=predicate, source_alias="s", target_alias="t", merge_schema=True,
                        commit_properties=commit, writer_properties=writer_properties(data.schema))
            .when_matched_update(updates={c: v for c, v in columns.items() if c.strip('"') not in keys})
            .when_not_matched_insert(updates=columns)
            .execute()
        )
        return data.num_rows

    def history(self, uri: str) -> list[dict[str, Any]]:
        return self.open(uri).history()


#: Writers in this process take turns per table (across Engine objects) instead of racing
#: Delta's optimistic commit; other processes are handled by retrying a failed commit.
_LOCKS: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_RETRIES = 6


def writer_properties(schema: pa.Schema) -> WriterProperties:
    """Parquet settings for feature values: dictionary encoding only for string columns.

    Float and array columns (embeddings above all) almost never repeat a value, so a
    dictionary page is built, overflows and is abandoned for every column chunk: writing pays
    for it and every reader decodes the mixed pages. Strings (categories, ids) do repeat."""
    strings = {field.name: _DICTIONARY for field in schema
               if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
               or pa.types.is_dictionary(field.type)}
    return WriterProperties(compression="SNAPPY", default_column_properties=_PLAIN,
                            column_properties=strings or None)


_PLAIN = ColumnProperties(dictionary_enabled=False)
_DICTIONARY = ColumnProperties(dictionary_enabled=True)


def last_per_key(data: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    """Keep the last row of each key (a batch that names a key twice: the later row wins)."""
    index = pa.array(range(data.num_rows), pa.int64())
    grouped = data.select(list(keys)).append_column("__row", index).group_by(list(keys), use_threads=False)
    last = grouped.aggregate([("__row", "max")]).column("__row_max")
    if len(last) == data.num_rows:
        return data
    return data.take(pc.take(last, pc.sort_indices(last)))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _as_datetime(value: datetime | str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(f"not a timestamp: {value!r}", name=value) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value
