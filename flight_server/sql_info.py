"""What the server tells clients about itself: SqlInfo, XdbcTypeInfo, table types.

``sql_info_table`` answers CommandGetSqlInfo (ADBC's ``adbc_get_info``, JDBC's
``DatabaseMetaData``): server name and version, SQL grammar level, identifier quoting and
case, and that transactions are not supported (every statement commits on its own).
Codes and the result layout follow the Flight SQL specification.
"""
from __future__ import annotations

import importlib.metadata
from typing import Iterable, Union

import pyarrow as pa

# SqlInfo codes (Flight SQL ``SqlInfo`` enum).
SERVER_NAME, SERVER_VERSION, SERVER_ARROW_VERSION, SERVER_READ_ONLY = 0, 1, 2, 3
SERVER_SQL, SERVER_SUBSTRAIT, SERVER_TRANSACTION, SERVER_CANCEL = 4, 5, 8, 9
STATEMENT_TIMEOUT, TRANSACTION_TIMEOUT = 100, 101

#: How long an unused prepared statement or connection state lives (reported in SqlInfo 100).
STATEMENT_IDLE_S = 3600


class Int32(int):
    """An SqlInfo value sent in the union's ``int32_bitmask`` slot (enums and bitmasks)."""


Value = Union[str, bool, int, Int32, list]

_UNION_FIELDS = [
    pa.field("string_value", pa.string()),
    pa.field("bool_value", pa.bool_()),
    pa.field("bigint_value", pa.int64()),
    pa.field("int32_bitmask", pa.int32()),
    pa.field("string_list", pa.list_(pa.field("item", pa.string()))),
    pa.field("int32_to_int32_list_map", pa.map_(pa.int32(), pa.list_(pa.int32()))),
]

SQL_INFO_SCHEMA = pa.schema([
    pa.field("info_name", pa.uint32(), nullable=False),
    pa.field("value", pa.dense_union(_UNION_FIELDS), nullable=False),
])

_KEYWORDS = [
    "CASCADE", "DEPRECATE", "DERIVED", "DESCRIBE", "DOMAIN", "DOMAINS", "FEATURE", "FEATURES",
    "GROUPS", "MESSAGE", "NULLABLE", "ORGANIZATION", "ORGANIZATIONS", "OWNER", "PERMISSIVE",
    "PROJECT", "PROJECTS", "SHOW", "STANDARD", "STATUS", "STRICT", "TAGS", "USE", "VALIDATION",
    "VERSION", "VERSIONS",
]


def server_version() -> str:
    try:
        return importlib.metadata.version("raise-featurestore")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def sql_info() -> dict[int, Value]:
    """Every SqlInfo code Raise answers, with its value."""
    return {
        SERVER_NAME: "Raise",
        SERVER_VERSION: server_version(),
        SERVER_ARROW_VERSION: pa.__version__,
        SERVER_READ_ONLY: False,
        SERVER_SQL: True,
        SERVER_SUBSTRAIT: False,
        SERVER_TRANSACTION: Int32(0),          # no BeginTransaction/EndTransaction actions
        SERVER_CANCEL: False,
        STATEMENT_TIMEOUT: Int32(STATEMENT_IDLE_S * 1000),
        TRANSACTION_TIMEOUT: Int32(0),
        500: True, 501: True, 502: True,       # CREATE/DROP organization, project, feature group
        503: Int32(3),                         # unquoted identifiers fold to lower case
        504: '"',
        505: Int32(0),                         # quoted identifiers keep their case
        506: False,                            # access control hides some feature groups
        507: Int32(0),                         # NULLs sort high (last ascending)
        508: _KEYWORDS,
        513: "\\",
        514: "",
        515: True, 516: True, 520: True, 521: True,
        522: Int32(0b10),                      # GROUP BY columns beyond the select list
        523: True, 524: True,
        525: Int32(0b011),                     # ODBC minimum and core grammar
        526: Int32(0b001),                     # ANSI-92 entry level
        528: Int32(2),                         # full outer joins
        529: "project", 530: "", 531: "organization", 532: True,
        536: False, 537: False,
        538: Int32(0b0111),                    # subqueries in comparisons, EXISTS, IN
        539: True,
        540: Int32(0b11),                      # UNION and UNION ALL
        543: 128, 552: 257, 554: 128, 559: 128,
        562: Int32(0),                         # isolation: none
        563: False,                            # transactions not supported
        564: Int32(0),
        565: False, 566: False,
        572: True, 573: False, 574: False,
    }


def sql_info_table(codes: Iterable[int] = ()) -> pa.Table:
    """The CommandGetSqlInfo result for ``codes`` (all when empty); unknown codes are skipped."""
    info = sql_info()
    wanted = [c for c in codes if c in info] if codes else sorted(info)
    slots: list[list] = [[] for _ in _UNION_FIELDS]
    type_ids, offsets = [], []
    for code in wanted:
        slot = _slot(info[code])
        type_ids.append(slot)
        offsets.append(len(slots[slot]))
        slots[slot].append(info[code])
    children = [pa.array(values, type=f.type) for values, f in zip(slots, _UNION_FIELDS)]
    value = pa.UnionArray.from_dense(
        pa.array(type_ids, pa.int8()), pa.array(offsets, pa.int32()), children,
        [f.name for f in _UNION_FIELDS],
    )
    return pa.Table.from_arrays([pa.array(wanted, pa.uint32()), value], schema=SQL_INFO_SCHEMA)


def _slot(value: Value) -> int:
    if isinstance(value, str):
        return 0
    if isinstance(value, bool):
        return 1
    if isinstance(value, Int32):
        return 3
    if isinstance(value, int):
        return 2
    return 4


# -- XdbcTypeInfo ----------------------------------------------------------------------------

XDBC_TYPE_INFO_SCHEMA = pa.schema([
    pa.field("type_name", pa.string(), nullable=False),
    pa.field("data_type", pa.int32(), nullable=False),
    pa.field("column_size", pa.int32()),
    pa.field("literal_prefix", pa.string()),
    pa.field("literal_suffix", pa.string()),
    pa.field("create_params", pa.list_(pa.field("item", pa.string(), nullable=False))),
    pa.field("nullable", pa.int32(), nullable=False),
    pa.field("case_sensitive", pa.bool_(), nullable=False),
    pa.field("searchable", pa.int32(), nullable=False),
    pa.field("unsigned_attribute", pa.bool_()),
    pa.field("fixed_prec_scale", pa.bool_(), nullable=False),
    pa.field("auto_increment", pa.bool_()),
    pa.field("local_type_name", pa.string()),
    pa.field("minimum_scale", pa.int32()),
    pa.field("maximum_scale", pa.int32()),
    pa.field("sql_data_type", pa.int32(), nullable=False),
    pa.field("datetime_subcode", pa.int32()),
    pa.field("num_prec_radix", pa.int32()),
    pa.field("interval_precision", pa.int32()),
])

# (SQL name, XDBC data type, column size, literal quote, numeric radix, datetime subcode)
_TYPES = [
    ("BOOLEAN", -7, 1, None, None, None),
    ("TINYINT", -6, 3, None, 10, None),
    ("BIGINT", -5, 19, None, 10, None),
    ("BYTEA", -3, None, "'", None, None),
    ("DECIMAL", 3, 38, None, 10, None),
    ("INT", 4, 10, None, 10, None),
    ("SMALLINT", 5, 5, None, 10, None),
    ("REAL", 7, 24, None, 2, None),
    ("DOUBLE", 8, 53, None, 2, None),
    ("VARCHAR", 12, None, "'", None, None),
    ("DATE", 91, 10, "'", None, 1),
    ("TIME", 92, 18, "'", None, 2),
    ("TIMESTAMP", 93, 29, "'", None, 3),
]


def xdbc_type_info_table(data_type: int | None = None) -> pa.Table:
    """CommandGetXdbcTypeInfo: the SQL types queries can use, optionally one XDBC type."""
    rows = []
    for name, xdbc, size, quote, radix, subcode in sorted(_TYPES, key=lambda t: (t[1], t[0])):
        if data_type is not None and xdbc != data_type:
            continue
        datetime_like = subcode is not None
        rows.append({
            "type_name": name, "data_type": xdbc, "column_size": size,
            "literal_prefix": (name + " '") if datetime_like else quote, "literal_suffix": quote,
            "create_params": ["precision", "scale"] if name == "DECIMAL" else None,
            "nullable": 1, "case_sensitive": name == "VARCHAR", "searchable": 3,
            "unsigned_attribute": False if radix else None, "fixed_prec_scale": name == "DECIMAL",
            "auto_increment": False if radix else None, "local_type_name": name,
            "minimum_scale": 0 if name == "DECIMAL" else None,
            "maximum_scale": 38 if name == "DECIMAL" else None,
            "sql_data_type": 9 if datetime_like else xdbc, "datetime_subcode": subcode,
            "num_prec_radix": radix, "interval_precision": None,
        })
    return pa.Table.from_pylist(rows, schema=XDBC_TYPE_INFO_SCHEMA)


TABLE_TYPES = ("TABLE",)

TABLE_TYPES_SCHEMA = pa.schema([pa.field("table_type", pa.string(), nullable=False)])


def table_types_table() -> pa.Table:
    """CommandGetTableTypes: feature groups are the only kind of table Raise has."""
    return pa.Table.from_pydict({"table_type": list(TABLE_TYPES)}, schema=TABLE_TYPES_SCHEMA)
