"""Printing Arrow results for people (aligned text) and for scripts (CSV, JSON lines)."""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from typing import Any

import pyarrow as pa

FORMATS = ("table", "csv", "json")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def to_csv(table: pa.Table) -> str:
    """Header line, then one line per row; NULL is an empty field; lists/structs as JSON."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow([_cell(v) for v in row.values()])
    return out.getvalue()


def to_json_lines(table: pa.Table) -> str:
    return "".join(json.dumps(row, default=_cell) + "\n" for row in table.to_pylist())


def to_text(table: pa.Table, max_rows: int = 50, max_width: int = 48) -> str:
    """An aligned text table, long cells cut, at most ``max_rows`` rows."""
    rows = table.slice(0, max_rows).to_pylist()
    cells = [[_clip(_cell(v), max_width) for v in row.values()] for row in rows]
    header = table.column_names
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    line = "+".join("-" * (w + 2) for w in widths)
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths)), line]
    out += [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    more = table.num_rows - len(rows)
    out.append(f"({table.num_rows} row{'s' if table.num_rows != 1 else ''}" + (f", {more} not shown)" if more else ")"))
    return "\n".join(out) + "\n"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render(table: pa.Table, fmt: str) -> str:
    return {"table": to_text, "csv": to_csv, "json": to_json_lines}[fmt](table)
