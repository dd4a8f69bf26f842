"""What a query reads, found on DataFusion's logical plans.

Feature groups are views over hidden tables (``__raise_g<id>``, ``__raise_g<id>_at_<version>``
for time travel) whose physical column names are recorded in the feature records
(``"column"``). Views are inlined before optimization, so every value a query can return or
test comes from a ``TableScan`` of a hidden table in the optimized plan: the scan's schema
lists the columns it reads (projection pushdown already dropped the others), and its
``filters`` may test more columns. The optimizer does not change what a value depends on
except to drop inputs it proved irrelevant.

Two limits are handled conservatively:

- Scans inside uncorrelated scalar subqueries are not reachable through ``inputs()``; they do
  show in ``display_indent()``. A plan whose text shows more scans than the walk found cannot
  be fully resolved, and ``UnresolvablePlan`` is raised instead of guessing.
- Which derived features a query names is not visible after optimization (their expressions
  are inlined). The unoptimized plan names them as columns of their view (``g.ctr``,
  ``c.ctr`` through a CTE): every derived feature of a scanned group whose name appears there
  as a column reference counts as read. That may over-count (another relation's column of the
  same name), never under-count.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

HIDDEN = re.compile(r"^__raise_g(\d+)(?:_at_\w+)?$")
#: How DataFusion names the scans of its built-in table functions that compute rows from their
#: literal arguments alone (they take no column or subquery), so they read no stored data.
#: ``unnest`` is no scan at all. Any other table function could read what Raise cannot check.
GENERATED = frozenset({"generate_series()", "range()"})
_SHOWN_SCAN = re.compile(r"^\s*TableScan: (\S+)", re.M)


class UnresolvablePlan(Exception):
    """The plan holds parts whose reads cannot be enumerated (e.g. a scalar subquery)."""


@dataclass
class Scan:
    """One table scan: the table, the columns it reads, and the text of its pushed filters."""

    table: str
    columns: set[str] = field(default_factory=set)
    filters: list[str] = field(default_factory=list)

    @property
    def generated(self) -> bool:
        """Whether this scans a built-in table function that reads no stored data."""
        return self.table in GENERATED

    @property
    def group_id(self) -> int | None:
        match = HIDDEN.match(self.table)
        return int(match.group(1)) if match else None

    def reads(self, physical: str) -> bool:
        """Whether the scan reads ``physical`` (as a column, or inside a pushed filter)."""
        if physical in self.columns:
            return True
        pattern = re.compile(rf"(?<![\w@~\-]){re.escape(physical)}(?![\w@~.\-])")
        return any(pattern.search(text) for text in self.filters)


def _nodes(plan: Any) -> Iterator[Any]:
    stack = [plan]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.inputs())


def scans(dataframe: Any) -> list[Scan]:
    """Every table scan of ``dataframe``'s optimized plan; ``UnresolvablePlan`` when the plan
    shows scans the walk cannot reach.

    A recursive CTE's work table is not a source (its rows come from the CTE's own terms, whose
    scans are listed) and is left out; DataFusion's ``DESCRIBE table`` lists columns the way
    ``information_schema`` does and is reported as a scan of ``information_schema.describe``.
    """
    plan = dataframe.optimized_logical_plan()
    found, recursive, described = [], set(), []
    for node in _nodes(plan):
        variant = node.to_variant()
        kind = type(variant).__name__
        if kind == "RecursiveQuery":
            recursive.add(variant.name())
        elif kind == "DescribeTable":
            described.append(Scan("information_schema.describe"))
        elif kind == "TableScan":
            table = variant.table_name()
            prefix = table + "."
            columns = {n[len(prefix):] if n.startswith(prefix) else n for n in variant.schema().field_names()}
            found.append(Scan(table, columns, [str(f) for f in variant.filters()]))
    shown = _SHOWN_SCAN.findall(plan.display_indent())
    if len(shown) != len(found):
        raise UnresolvablePlan(f"{len(shown)} table scans in the plan, {len(found)} reachable")
    return [s for s in found if s.table not in recursive or s.group_id is not None] + described


def unoptimized_text(dataframe: Any) -> str:
    return dataframe.logical_plan().display_indent()


def hidden_tables_in(text: str) -> set[int]:
    """Group ids of the hidden tables an (unoptimized) plan text scans."""
    ids = set()
    for table in _SHOWN_SCAN.findall(text):
        match = HIDDEN.match(table)
        if match:
            ids.add(int(match.group(1)))
    return ids


def names_column(text: str, label: str) -> bool:
    """Whether plan text refers to a column called ``label`` of some relation (``x.label``)."""
    return re.search(rf"\.{re.escape(label)}(?![\w@~.\-])", text) is not None
