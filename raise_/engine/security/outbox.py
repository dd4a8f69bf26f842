"""Audit entries leaving the log: alert messages in the local outbox, and exports.

Alerts are evaluated as entries arrive. A matching entry becomes one JSON message per channel
in ``<home>/outbox/<channel>/`` (``email``, ``slack``): the channel workers read and send those
files, so Raise itself needs no network. An alert fires only for entries its owner may see
(the same rule as ``SHOW AUDIT``), so an alert cannot watch another organization.

Exports write entries as JSON lines, CSV or Parquet to a local path or an object-store URI
(``s3://``, ``gs://``, ``file://`` ... through ``pyarrow.fs``); a destination ending in ``/``
(or an existing folder) gets a file named after the export time.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import pyarrow as pa

from grammar.errors import ExecutionError, ValidationError
from grammar.security_ast import EXPORT_FORMATS
from raise_ import lazy
from raise_.engine.security.audit import AuditLog, Entry, matches

#: Loaded with the first export (pyarrow.fs brings TLS and the object-store clients with it).
pacsv = lazy.module("pyarrow.csv")
pafs = lazy.module("pyarrow.fs")
pq = lazy.module("pyarrow.parquet")

ENTRY_SCHEMA = pa.schema([
    ("id", pa.int64()), ("chain", pa.string()), ("seq", pa.int64()),
    ("timestamp", pa.timestamp("us", tz="UTC")), ("actor", pa.string()), ("actor_org", pa.string()),
    ("action", pa.string()), ("category", pa.string()), ("resource", pa.string()),
    ("outcome", pa.string()), ("details", pa.string()), ("hash", pa.string()),
])
_EXTENSIONS = {"jsonl": "jsonl", "csv": "csv", "parquet": "parquet"}


def to_arrow(entries: Iterable[Entry]) -> pa.Table:
    """Entries as an Arrow table (``details`` as JSON text)."""
    return pa.Table.from_pylist([e.as_row() for e in entries], schema=ENTRY_SCHEMA)


def outbox(home: str | Path, channel: str) -> Path:
    return Path(home) / "outbox" / channel


def evaluate(log: AuditLog, entries: list[Entry], may_see: Callable[[str, Entry], bool]) -> list[Path]:
    """Deliver every (alert, entry) match to the alert's channels; the message files written."""
    written: list[Path] = []
    for alert in log.alerts() if entries else ():
        for entry in entries:
            if matches(alert["filter"], entry) and may_see(alert["owner"], entry):
                written.extend(_deliver(log.home, alert, entry))
    return written


def _deliver(home: Path, alert: dict[str, Any], entry: Entry) -> list[Path]:
    message = {
        "alert": alert["name"], "to": list(alert["notify"]),
        "subject": f"Raise audit alert {alert['name']}: {entry.actor} {entry.action} {entry.resource} "
                   f"({entry.outcome})",
        "entry": {**entry.as_row(), "timestamp": entry.timestamp, "details": entry.details},
    }
    paths = []
    for channel in alert["channels"]:
        folder = outbox(home, channel)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{entry.id:012d}-{_safe(alert['name'])}.json"
        path.write_text(json.dumps({**message, "channel": channel}, indent=2, default=str))
        paths.append(path)
    return paths


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def read_outbox(home: str | Path, channel: str) -> list[dict[str, Any]]:
    """The messages waiting in a channel's outbox, oldest first (what a channel worker sends)."""
    folder = outbox(home, channel)
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.exists() else []


def export(entries: list[Entry], destination: str, fmt: str) -> str:
    """Write ``entries`` to ``destination`` as ``fmt``; the path or URI of the file written."""
    if fmt not in EXPORT_FORMATS:
        raise ValidationError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}",
                              code="RAISE-V083", name=fmt)
    filesystem, path = _open(destination)
    info = filesystem.get_file_info(path)
    if destination.endswith("/") or info.type == pafs.FileType.Directory:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        path = f"{path.rstrip('/')}/audit-{stamp}.{_EXTENSIONS[fmt]}"
    parent = path.rsplit("/", 1)[0]
    try:
        if parent:
            filesystem.create_dir(parent, recursive=True)
        _write(to_arrow(entries), filesystem, path, fmt)
    except (OSError, pa.ArrowException) as error:
        raise ExecutionError(f"cannot write the audit export to {destination!r}: {error}",
                             code="RAISE-X010", name=destination) from None
    return path if "://" not in destination else destination.split("://", 1)[0] + "://" + path


def _open(destination: str) -> tuple[pafs.FileSystem, str]:
    if "://" in destination:
        try:
            return pafs.FileSystem.from_uri(destination)
        except (pa.ArrowException, ValueError) as error:
            raise ValidationError(f"cannot open {destination!r}: {error}", code="RAISE-V084",
                                  name=destination) from None
    return pafs.LocalFileSystem(), str(Path(destination).expanduser().absolute())


def _write(table: pa.Table, filesystem: pafs.FileSystem, path: str, fmt: str) -> None:
    if fmt == "parquet":
        pq.write_table(table, path, filesystem=filesystem)
        return
    with filesystem.open_output_stream(path) as out:
        if fmt == "csv":
            pacsv.write_csv(table, out)
            return
        for row in table.to_pylist():
            row["timestamp"] = row["timestamp"].isoformat()
            row["details"] = json.loads(row["details"])
            out.write((json.dumps(row, sort_keys=True) + "\n").encode())
