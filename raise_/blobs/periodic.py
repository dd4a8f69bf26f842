"""PERIODIC integrity: registries whose policy says ``IntegrityMode.PERIODIC`` are re-validated
on a schedule.

A PERIODIC registry is due when its least recently validated reference (or one never
validated) is older than the policy's ``cache_validation_seconds``: a valid result is trusted
that long, then checked again (``DEFAULT_PERIOD``, a day, when the policy says 0). A due
registry is validated whole with one ``VALIDATE BLOBS`` statement run as the registry's
owner, so each outcome is recorded on its reference and the validation is audited like one
a person runs. ``raise serve`` does this on every pass of its job scheduler
(``--jobs-interval``); ``raise blobs validate-due`` runs one pass from an external cron.

>>> validate_due(engine.session(principal=None)).to_pylist()                  # doctest: +SKIP
[{'registry': 'acme/ml/vision/images', 'checked': 4, 'valid': 3, 'missing': 1, ...}]
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from grammar import blobs as sql, render
from grammar.errors import RaiseError
from raise_.blobs.integrity import BlobStatus, IntegrityMode, IntegrityPolicy
from raise_.blobs.store import BLOB_KIND, REGISTRY_KIND
from raise_.engine import names

if TYPE_CHECKING:
    from raise_.engine.session import Session

__all__ = ["DEFAULT_PERIOD", "PERIODIC_SCHEMA", "due_registries", "validate_due"]

#: How often a PERIODIC registry whose policy has no ``cache_validation_seconds`` is validated.
DEFAULT_PERIOD = 86400.0
PERIODIC_SCHEMA = pa.schema([
    ("registry", pa.string()), ("checked", pa.int64()), ("valid", pa.int64()), ("missing", pa.int64()),
    ("size_mismatch", pa.int64()), ("checksum_mismatch", pa.int64()), ("unreachable", pa.int64()),
    ("error", pa.string()),
])


def _period(policy: IntegrityPolicy) -> timedelta:
    return timedelta(seconds=policy.cache_validation_seconds or DEFAULT_PERIOD)


def _is_due(session: "Session", record: dict[str, Any], now: datetime) -> bool:
    stamps = [r.get("validated_at") for r in session.catalog.list(BLOB_KIND, parent=record["key"])]
    if not stamps:
        return False
    if any(s is None for s in stamps):
        return True
    oldest = min(datetime.fromisoformat(s) for s in stamps)
    return oldest + _period(IntegrityPolicy.from_dict(record["policy"])) <= now


def due_registries(session: "Session", within: tuple[str, ...] | None = None,
                   now: datetime | None = None) -> list[dict[str, Any]]:
    """The PERIODIC registries (under the ``within`` namespace, if given) due for validation."""
    now = now or datetime.now(timezone.utc)
    prefix = names.join(*within) + "/" if within else None
    records = session.catalog.list(REGISTRY_KIND, prefix=prefix)
    return [r for r in sorted(records, key=lambda r: r["key"])
            if r["policy"]["mode"] == IntegrityMode.PERIODIC.value and _is_due(session, r, now)]


def validate_due(session: "Session", within: tuple[str, ...] | None = None,
                 now: datetime | None = None) -> pa.Table:
    """Validate every due PERIODIC registry once; a row of counts per registry (``error`` when
    its owner may no longer validate it: the pass goes on with the others)."""
    rows = []
    for record in due_registries(session, within, now):
        row = {"registry": record["key"], "checked": 0, "valid": 0, "missing": 0, "size_mismatch": 0,
               "checksum_mismatch": 0, "unreachable": 0, "error": None}
        owner = session.engine.session(principal=record.get("owner"), project=tuple(record["project"]))
        statement = sql.ValidateBlobs(registry=sql.RegistryRef(name=record["name"], project=tuple(record["project"])))
        try:
            statuses = owner.execute(render(statement)).column("status").to_pylist()
        except RaiseError as error:
            row["error"] = f"[{error.code}] {error.message}"
        else:
            row["checked"] = len(statuses)
            for status in BlobStatus:
                row[status.value] = statuses.count(status.value)
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=PERIODIC_SCHEMA)
