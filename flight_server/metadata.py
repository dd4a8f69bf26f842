"""Catalog browsing for SQL clients: GetCatalogs, GetDbSchemas, GetTables, GetPrimaryKeys.

Raise's namespaces appear as catalog = organization, db_schema = ``domain/project`` and
table = feature group, or live table (of type TABLE too: a materialized result; it has no key). Filter patterns use SQL LIKE rules (``%``, ``_``, ``\\`` escapes) and
are matched here in Python against the names the session may see: no SQL is built from them.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Callable, Iterable

import pyarrow as pa

from flight_server import flight_sql_pb2 as pb
from flight_server.sql_info import TABLE_TYPES
from grammar.errors import RaiseError
from raise_.engine import security
from raise_.types import from_arrow

if TYPE_CHECKING:
    from raise_.engine import Session, TableInfo

CATALOGS_SCHEMA = pa.schema([pa.field("catalog_name", pa.string(), nullable=False)])

DB_SCHEMAS_SCHEMA = pa.schema([
    pa.field("catalog_name", pa.string()),
    pa.field("db_schema_name", pa.string(), nullable=False),
])

TABLES_SCHEMA = pa.schema([
    pa.field("catalog_name", pa.string()),
    pa.field("db_schema_name", pa.string()),
    pa.field("table_name", pa.string(), nullable=False),
    pa.field("table_type", pa.string(), nullable=False),
])

TABLES_WITH_SCHEMA_SCHEMA = TABLES_SCHEMA.append(pa.field("table_schema", pa.binary(), nullable=False))

PRIMARY_KEYS_SCHEMA = pa.schema([
    pa.field("catalog_name", pa.string()),
    pa.field("db_schema_name", pa.string()),
    pa.field("table_name", pa.string(), nullable=False),
    pa.field("column_name", pa.string(), nullable=False),
    pa.field("key_name", pa.string()),
    pa.field("key_sequence", pa.int32(), nullable=False),
])

_KEY_FIELDS = ("pk_catalog_name", "pk_db_schema_name", "pk_table_name", "pk_column_name",
               "fk_catalog_name", "fk_db_schema_name", "fk_table_name", "fk_column_name")

#: GetImportedKeys / GetExportedKeys: feature groups have no foreign keys, so always empty.
FOREIGN_KEYS_SCHEMA = pa.schema(
    [pa.field(name, pa.string(), nullable=name.endswith(("catalog_name", "schema_name")))
     for name in _KEY_FIELDS]
    + [pa.field("key_sequence", pa.int32(), nullable=False), pa.field("fk_key_name", pa.string()),
       pa.field("pk_key_name", pa.string()), pa.field("update_rule", pa.uint8(), nullable=False),
       pa.field("delete_rule", pa.uint8(), nullable=False)]
)


@lru_cache(maxsize=256)
def like(pattern: str | None) -> Callable[[str], bool]:
    """A matcher for a LIKE pattern: ``%`` any run, ``_`` one character, ``\\`` escapes."""
    if pattern is None:
        return lambda _name: True
    parts, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    regex = re.compile("".join(parts), re.DOTALL)
    return lambda name: regex.fullmatch(name) is not None


def _optional(message, field: str) -> str | None:
    return getattr(message, field) if message.HasField(field) else None


def _namespaces(session: "Session") -> tuple[list[str], list[tuple[str, str]]]:
    """Organizations and (organization, ``domain/project``) pairs the principal may see, plus
    those holding groups it may see."""
    catalog = session.catalog
    orgs = set(security.visible_paths(session, [r["key"] for r in catalog.list("organization")]))
    projects = set()
    for key in security.visible_paths(session, [r["key"] for r in catalog.list("project")]):
        org, domain, project = key.split("/")
        projects.add((org, f"{domain}/{project}"))
    for table in session.tables():
        orgs.add(table.org)
        projects.add((table.org, table.schema))
    return sorted(orgs), sorted(projects)


def catalogs_table(session: "Session") -> pa.Table:
    orgs, _ = _namespaces(session)
    return pa.Table.from_pydict({"catalog_name": orgs}, schema=CATALOGS_SCHEMA)


def db_schemas_table(session: "Session", command: pb.CommandGetDbSchemas) -> pa.Table:
    catalog = _optional(command, "catalog")
    matches = like(_optional(command, "db_schema_filter_pattern"))
    _, projects = _namespaces(session)
    rows = [(org, schema) for org, schema in projects
            if (catalog is None or org == catalog) and matches(schema)]
    return pa.Table.from_pylist(
        [{"catalog_name": org, "db_schema_name": schema} for org, schema in rows],
        schema=DB_SCHEMAS_SCHEMA,
    )


def _selected_tables(session: "Session", catalog: str | None, schema_matches, table_matches,
                     types: Iterable[str]) -> list["TableInfo"]:
    wanted_types = set(types)
    if wanted_types and not wanted_types & set(TABLE_TYPES):
        return []
    tables = [t for t in _tables(session)
              if (catalog is None or t.org == catalog) and schema_matches(t.schema)
              and table_matches(t.name)]
    return sorted(tables, key=lambda t: (t.org, t.schema, t.name))


def _tables(session: "Session") -> list["TableInfo"]:
    """The feature groups and the live tables the principal may read."""
    from raise_.analytics import live
    from raise_.engine.session import TableInfo

    tables = session.tables()
    for record, schema in live.readable(session):
        org, domain, project = record["project"]
        tables.append(TableInfo(org, f"{domain}/{project}", record["name"], [], schema))
    return tables


def tables_table(session: "Session", command: pb.CommandGetTables) -> pa.Table:
    tables = _selected_tables(
        session, _optional(command, "catalog"), like(_optional(command, "db_schema_filter_pattern")),
        like(_optional(command, "table_name_filter_pattern")), command.table_types,
    )
    columns = {
        "catalog_name": [t.org for t in tables],
        "db_schema_name": [t.schema for t in tables],
        "table_name": [t.name for t in tables],
        "table_type": [TABLE_TYPES[0]] * len(tables),
    }
    if not command.include_schema:
        return pa.Table.from_pydict(columns, schema=TABLES_SCHEMA)
    columns["table_schema"] = [annotated_schema(t).serialize().to_pybytes() for t in tables]
    return pa.Table.from_pydict(columns, schema=TABLES_WITH_SCHEMA_SCHEMA)


def annotated_schema(table: "TableInfo") -> pa.Schema:
    """The group's view schema with the Flight SQL column metadata BI tools read."""
    fields = []
    for field in table.arrow_schema:
        metadata = {
            "ARROW:FLIGHT:SQL:CATALOG_NAME": table.org,
            "ARROW:FLIGHT:SQL:DB_SCHEMA_NAME": table.schema,
            "ARROW:FLIGHT:SQL:SCHEMA_NAME": table.schema,      # the key arrow-go's clients read
            "ARROW:FLIGHT:SQL:TABLE_NAME": table.name,
            "ARROW:FLIGHT:SQL:TYPE_NAME": _type_name(field.type),
            "ARROW:FLIGHT:SQL:IS_AUTO_INCREMENT": "0",
            "ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE": "1" if pa.types.is_string(field.type) else "0",
            "ARROW:FLIGHT:SQL:IS_READ_ONLY": "0",
            "ARROW:FLIGHT:SQL:IS_SEARCHABLE": "1",
        }
        fields.append(field.with_metadata({**(field.metadata or {}), **{k.encode(): v.encode()
                                                                          for k, v in metadata.items()}}))
    return pa.schema(fields)


def _type_name(arrow_type: pa.DataType) -> str:
    """The Raise dtype users declared (``int64``, ``float32[512]``), else Arrow's name."""
    try:
        return from_arrow(arrow_type)
    except RaiseError:
        return str(arrow_type)


def primary_keys_table(session: "Session", command: pb.CommandGetPrimaryKeys) -> pa.Table:
    """A feature group's key columns, in declaration order (exact names, not patterns)."""
    catalog, schema = _optional(command, "catalog"), _optional(command, "db_schema")
    rows = []
    for table in sorted(session.tables(), key=lambda t: (t.org, t.schema, t.name)):
        if table.name != command.table or catalog not in (None, table.org) or schema not in (None, table.schema):
            continue
        for sequence, column in enumerate(table.keys, start=1):
            rows.append({"catalog_name": table.org, "db_schema_name": table.schema,
                         "table_name": table.name, "column_name": column, "key_name": None,
                         "key_sequence": sequence})
    return pa.Table.from_pylist(rows, schema=PRIMARY_KEYS_SCHEMA)


def foreign_keys_table() -> pa.Table:
    return FOREIGN_KEYS_SCHEMA.empty_table()
