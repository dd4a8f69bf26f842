"""Temporary tables: rows a client hands the engine for its own queries (the entity rows of a
training set), held by the session in memory.

They are sent like any bulk data (in-process as Arrow, over Flight SQL as a
``CommandStatementIngest`` with ``temporary=true``, what ``adbc_ingest(..., temporary=True)``
sends), read by name in the session's queries and dropped with the session. They hold the
client's own rows, so reading them needs no grant; they cannot shadow a feature group.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pyarrow as pa

from grammar.errors import AlreadyExists, ValidationError

if TYPE_CHECKING:
    from raise_.engine.session import Session

_NAME = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]{0,127}\Z")


def create_temporary(session: "Session", name: str, table: pa.Table) -> int:
    """Hold ``table`` as ``name`` in ``session`` (replacing a temporary table of that name)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(f"temporary table name {name!r} must be a plain identifier (letters, digits, _)",
                              code="RAISE-V175", name=str(name))
    if session.project is not None and any(
            g["name"].lower() == name.lower() for g in session.catalog.list("group")
            if tuple(g["project"]) == session.project):
        raise AlreadyExists(f"{name!r} is a feature group of the current project; name the temporary "
                            "table otherwise", code="RAISE-A170", name=name)
    session.temporary[name] = table
    return table.num_rows
