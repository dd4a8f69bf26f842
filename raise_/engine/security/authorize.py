"""Authorization of queries, writes and catalog listings.

Queries: every feature column a query reads (``plans``) needs ``read`` on that feature; key and
event-time columns, and a scan that reads no column (``COUNT(*)``), need the group to be
visible (readable itself, or one of its features readable). A derived feature needs ``read``
on itself and on every feature upstream of it (lineage edges, followed through derived
features of the same organization), so it cannot leak what it is computed from. A plan that
cannot be fully resolved, a hidden table column that no feature owns, or a table Raise does
not know is refused. ``information_schema`` lists the columns of the groups a query opened, so
it is allowed only when every feature of those groups is readable.

Writes: ``write`` on every feature written; the key columns come with them (a write of key
columns only needs ``write`` on the group); ``overwrite`` replaces every row and so needs
``write`` on the group and all its features.

Every refusal raises ``AccessDenied`` (``PermissionDenied``) with the refused events, which the
statement's audit scope records as DENIED; allowed reads and writes become READ, QUERY and
WRITE events.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import pyarrow as pa

from raise_.engine import families, registry
from raise_.engine.names import split_version
from raise_.engine.records import FeatureVersion, GroupRecord
from raise_.engine.ingest import SEQUENCE_COLUMN
from raise_.engine.security import grants, plans, principals
from raise_.engine.security.acl import AccessControl, level_of
from raise_.engine.security.audit import Event
from raise_.engine.security.audit_scope import AccessDenied, allow, deny

if TYPE_CHECKING:
    from raise_.engine.session import Session

_VERBS = {"read": "read", "write": "write", "admin": "administer", "see": "see"}


def control(session: "Session") -> AccessControl:
    """A fresh access checker for the session's principal (one per statement)."""
    return AccessControl(session.catalog, session.principal)


@dataclass(frozen=True)
class Need:
    """One permission a statement needs, and the audit event it stands for (if any)."""

    permission: str
    path: str
    event: Event | None = None


def holds(ac: AccessControl, need: Need) -> bool:
    if need.permission == "see":
        return ac.visible(need.path)
    return ac.allows(need.permission, need.path)


def check(session: "Session", ac: AccessControl, needs: Sequence[Need], extra: Iterable[Event] = ()) -> list[Event]:
    """Raise ``AccessDenied`` (recording the refused events) unless every need holds; the
    events of the needs otherwise, plus ``extra``."""
    refused = [n for n in needs if not holds(ac, n)]
    if refused:
        first = refused[0]
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        message = (f"{principals.actor(ac.principal)} may not {_VERBS[first.permission]} "
                   f"{_describe(first.path)}{more}")
        events = [n.event for n in refused if n.event] or [n.event for n in needs if n.event] or list(extra)
        raise deny(session, AccessDenied(message, events=events, name=first.path))
    return [n.event for n in needs if n.event] + list(extra)


def _describe(path: str) -> str:
    return f"{level_of(path)} {path!r}" if path else "this"


# -- queries ---------------------------------------------------------------------------------


@dataclass
class GroupReads:
    """What a query reads of one group."""

    group: GroupRecord
    features: dict[str, set[str]] = field(default_factory=dict)  # feature path -> versions
    group_columns: bool = False
    unmapped: set[str] = field(default_factory=set)
    derived: dict[str, FeatureVersion] = field(default_factory=dict)  # label -> version record


def authorize_query(session: "Session", dataframe: Any, context: Any = None, *, audit_reads: bool = True) -> None:
    """Refuse ``dataframe`` (a planned DataFusion query) unless the principal may read everything
    it touches; otherwise add its READ/QUERY events to the statement's audit scope.

    ``context`` is the ``QueryContext`` that planned it (needed to judge ``information_schema``);
    ``audit_reads=False`` checks without recording reads (preparing a statement).
    """
    needs, queries = query_needs(session, dataframe, context)
    events = check(session, control(session), needs, queries)
    if audit_reads:
        allow(session, events)


def query_needs(session: "Session", dataframe: Any, context: Any = None) -> tuple[list[Need], list[Event]]:
    """What reading ``dataframe`` needs, and the QUERY events it records (``authorize_query``
    checks them; a prepared query keeps them to check per execution)."""
    ac = control(session)
    project = "/".join(session.project or ())
    try:
        found = plans.scans(dataframe)
    except plans.UnresolvablePlan as error:
        raise deny(session, AccessDenied(
            "the query's plan has parts whose reads Raise cannot check (an uncorrelated scalar subquery); "
            "rewrite it as a join or a CTE", code="RAISE-P004", name=project,
            events=[Event("QUERY", project, {"reason": str(error)})])) from None
    by_id = {g.id: g for g in registry.all_groups(session.catalog)}
    reads = _reads(session.catalog, found, plans.unoptimized_text(dataframe), by_id)
    needs = [n for r in reads.values() for n in _read_needs(session.catalog, r)]
    needs += _other_tables(session, ac, [s for s in found if s.group_id not in by_id], context)
    queries = [Event("QUERY", r.group.key, {"features": sorted(r.features)}) for r in reads.values()]
    return needs, queries or [Event("QUERY", project, {})]


def _reads(catalog: Any, found: list[plans.Scan], text: str, by_id: dict[int, dict]) -> dict[str, GroupReads]:
    reads: dict[str, GroupReads] = {}
    for scan in found:
        group = by_id.get(scan.group_id) if scan.group_id is not None else None
        if group is None:
            continue
        entry = reads.setdefault(group.key, GroupReads(group))
        _map_columns(catalog, scan, entry)
    for group_id in plans.hidden_tables_in(text):
        if group_id in by_id:
            entry = reads.setdefault(by_id[group_id].key, GroupReads(by_id[group_id]))
            _derived_named(catalog, entry, text)
    return reads


def _map_columns(catalog: Any, scan: plans.Scan, entry: GroupReads) -> None:
    group = entry.group
    group_columns = group.group_columns | {SEQUENCE_COLUMN}  # write order, read by cross-group joins
    owners = {r.column: r for r in registry.versions(catalog, group.key) if r.column}
    read = {c for c in scan.columns} | {c for c in owners.keys() | group_columns if scan.reads(c)}
    if not scan.columns:
        entry.group_columns = True
    for column in read:
        if column in group_columns:
            entry.group_columns = True
        elif column in owners:
            record = owners[column]
            entry.features.setdefault(f"{group.key}/{record.name}", set()).add(record.version)
        else:
            entry.unmapped.add(column)


def _derived_named(catalog: Any, entry: GroupReads, text: str) -> None:
    current = registry.current_features(catalog, entry.group.key)
    for record in registry.versions(catalog, entry.group.key):
        if record.derived_as is None or record.status == "archived":
            continue
        labels = [f"{record.name}@{record.version}"]
        if (plain := current.get(record.name)) is not None and plain.key == record.key:
            labels.append(record.name)
        if any(plans.names_column(text, label) for label in labels):
            entry.derived[labels[0]] = record
            entry.features.setdefault(f"{entry.group.key}/{record.name}", set()).add(record.version)


def _read_needs(catalog: Any, reads: GroupReads) -> list[Need]:
    group_key = reads.group.key
    needs = [Need("see", group_key)] if reads.group_columns else []
    for path, versions in sorted(reads.features.items()):
        needs.append(Need("read", path, Event("READ", path, {"versions": sorted(versions)})))
    if reads.unmapped:
        needs.append(Need("admin", group_key, Event("READ", group_key, {"columns": sorted(reads.unmapped)})))
    seen = set(reads.features)
    for record in reads.derived.values():
        for path in sorted(upstream_paths(catalog, record) - seen):
            seen.add(path)
            needs.append(Need("read", path, Event("READ", path, {"via": f"{group_key}/{record.name}"})))
    return needs


def upstream_paths(catalog: Any, record: FeatureVersion) -> set[str]:
    """Feature paths a derived feature reads, through derived features of its organization;
    another organization's feature (``@org/...``) is a leaf: its grant shares its value."""
    found: set[str] = set()
    stack, seen = [record], {record.key}
    while stack:
        current = stack.pop()
        for target, _ in catalog.edges_from("lineage", current.key):
            external = target.startswith("@")
            head, _, last = target.lstrip("@").rpartition("/")
            name, version = split_version(last)
            found.add(f"{head}/{name}")
            if external:
                continue
            upstream = [r for r in registry.versions(catalog, head, name)
                        if r.derived_as is not None and (not version or r.version == version)]
            for item in upstream[-1:]:
                if item.key not in seen:
                    seen.add(item.key)
                    stack.append(item)
    return found


def _other_tables(session: "Session", ac: AccessControl, others: list[plans.Scan], context: Any) -> list[Need]:
    """Scans of tables that are no feature group: ``information_schema`` as described above;
    built-in table functions that generate rows (``generate_series``, ``range``) and tables whose
    reads were checked on their own (``context.checked``: as-of join results, temporary tables)
    are allowed; any other table (a hidden name of no group) is refused."""
    needs: list[Need] = []
    for scan in others:
        if ac.superuser or scan.generated or scan.table in getattr(context, "checked", ()):
            continue
        if (declared := families.table_needs(session, scan.table)) is not None:
            needs.extend(declared)
            continue
        if not scan.table.startswith("information_schema.") or context is None:
            raise deny(session, AccessDenied(
                f"the query reads {scan.table!r}, whose contents Raise cannot check", code="RAISE-P005",
                name=scan.table, events=[Event("QUERY", "", {"table": scan.table})]))
        for view in getattr(context, "views", {}).values():
            group = view.group
            needs.extend(Need("read", f"{group.key}/{r.name}")
                         for r in registry.versions(ac.catalog, group.key))
            needs.append(Need("see", group.key))
    return needs


# -- writes ----------------------------------------------------------------------------------


def authorize_write(session: "Session", group: GroupRecord, columns: Iterable[str], mode: str = "append",
                    rows: int | None = None) -> None:
    """Refuse writing ``columns`` (names as ingest takes them: ``f``, ``"f@v2"``, keys) into
    ``group`` unless allowed; otherwise add WRITE events to the audit scope."""
    ac = control(session)
    catalog = session.catalog
    current = registry.current_features(catalog, group.key)
    details = {"mode": mode, **({"rows": rows} if rows is not None else {})}
    written: dict[str, set[str]] = {}
    for column in columns:
        name, version = split_version(column)
        if column in group.group_columns or name not in current:
            continue
        written.setdefault(name, set()).add(version or current[name].version)
    if mode == "overwrite":
        written.update({n: written.get(n, set()) for n in current if current[n].derived_as is None})
    needs = [Need("write", f"{group.key}/{n}", Event("WRITE", f"{group.key}/{n}",
                                                        {**details, "versions": sorted(v)}))
             for n, v in sorted(written.items())]
    if not needs or mode == "overwrite":
        needs.append(Need("write", group.key, Event("WRITE", group.key, details)))
    allow(session, check(session, ac, needs))


# -- listings ----------------------------------------------------------------------------------


def visible_groups(session: "Session", records: Iterable[GroupRecord]) -> list[GroupRecord]:
    """The feature group records the principal may see (Flight GetTables, get_objects)."""
    ac = control(session)
    return [r for r in records if ac.visible(r.key)]


def visible_paths(session: "Session", paths: Iterable[str]) -> list[str]:
    """The namespace or group paths (``acme``, ``acme/ml/rec``) the principal may see
    (Flight GetCatalogs and GetDbSchemas list only these)."""
    ac = control(session)
    return [p for p in paths if ac.visible(p)]


def visible_schema(session: "Session", group: GroupRecord, schema: pa.Schema) -> pa.Schema:
    """``schema`` (a group view's) without the feature columns the principal may not read."""
    ac = control(session)
    keep = [f for f in schema if _column_visible(ac, group, f.name)]
    return pa.schema(keep, metadata=schema.metadata)


def _column_visible(ac: AccessControl, group: GroupRecord, label: str) -> bool:
    if label in group.group_columns:
        return True
    name, version = split_version(label)
    return feature_readable(ac, group.key, name, version)


def feature_readable(ac: AccessControl, group_key: str, name: str, version: str | None = None) -> bool:
    """``read`` on the feature and, for a derived version (the given one, else the current),
    on everything upstream of it: what a query of that column would need."""
    if not ac.allows("read", f"{group_key}/{name}"):
        return False
    records = registry.versions(ac.catalog, group_key, name)
    chosen = [r for r in records if r.version == version] if version else [registry.latest(records)]
    return all(ac.allows("read", path) for record in chosen if record and record.derived_as is not None
               for path in upstream_paths(ac.catalog, record))


def visible_rows(session: "Session", statement: Any, table: pa.Table) -> pa.Table:
    """The listing filter of the core SHOW statements: rows of objects the principal may not
    see are left out, and so are lineage entries naming features it may not read; a group's
    feature count counts only the features it may read."""
    table = readable_parts(session, statement, table)
    if table.num_rows == 0:
        return table
    ac = control(session)
    if statement.kind in ("features", "versions"):
        keep = []
        for qualified in table.column("qualified_name").to_pylist():
            path, _, version = qualified.rpartition("@")
            group_key, _, name = path.rpartition("/")
            keep.append(feature_readable(ac, group_key, name, version))
    else:
        keep = [ac.visible(p) for p in table.column("path").to_pylist()]
    table = table.filter(pa.array(keep, pa.bool_()))
    if statement.kind == "feature groups" and table.num_rows:
        counts = [sum(feature_readable(ac, key, name) for name in registry.current_features(ac.catalog, key))
                  for key in table.column("path").to_pylist()]
        index = table.column_names.index("features")
        table = table.set_column(index, "features", pa.array(counts, pa.int64()))
    return table


def readable_parts(session: "Session", statement: Any, table: pa.Table) -> pa.Table:
    """The listing filter of DESCRIBE: lineage entries (``upstream``/``downstream``) and a
    group's feature columns naming features the principal may not read are left out; the
    object itself was checked by the statement's rule."""
    if table.num_rows and "upstream" in table.column_names:
        table = _filter_lineage(control(session), table)
    if table.num_rows and "feature_columns" in table.column_names:
        table = _filter_feature_columns(control(session), table)
    return table


def _key_readable(ac: AccessControl, key: str) -> bool:
    """A lineage entry (``[@]org/domain/project/group/feature[@vN]``) the principal may read."""
    path, version = split_version(key.lstrip("@"))
    group_key, _, name = path.rpartition("/")
    return feature_readable(ac, group_key, name, version)


def _filter_lineage(ac: AccessControl, table: pa.Table) -> pa.Table:
    for column in ("upstream", "downstream"):
        kept = [[k for k in keys or [] if _key_readable(ac, k)] for keys in table.column(column).to_pylist()]
        index = table.column_names.index(column)
        table = table.set_column(index, table.schema.field(column), pa.array(kept, table.schema.field(column).type))
    return table


def _filter_feature_columns(ac: AccessControl, table: pa.Table) -> pa.Table:
    """A group row's feature versions, without those the principal may not read."""
    field = table.schema.field("feature_columns")
    kept = [[c for c in columns or [] if feature_readable(ac, path, *split_version(c["feature"]))]
            for path, columns in zip(table.column("path").to_pylist(), table.column("feature_columns").to_pylist())]
    return table.set_column(table.column_names.index("feature_columns"), field, pa.array(kept, field.type))
