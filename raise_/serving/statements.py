"""The online store family: MATERIALIZE, SHOW ONLINE STATUS and LOOKUP ONLINE in the engine.

MATERIALIZE copies the newest row per key of a group's stored features (their current
versions) into the online store. The first run reads the table; later runs read only the
Delta Change Data Feed since the version the last one reached, so they cost in proportion to
the rows written in between (an overwrite, or a changed feature set, reads the table again).
Its status (``last_materialized``, the table version, rows written, keys held) is a catalog
record of kind ``online`` beside the group, listed by SHOW ONLINE STATUS.

Rules: MATERIALIZE needs ``write`` on the group and ``read`` on each feature it copies;
LOOKUP ONLINE needs ``read`` on each feature it returns (audited as one READ of the group that
names them); SHOW ONLINE STATUS lists only the groups the principal may see. LOOKUP takes bound
keys (``?``), so a Flight SQL client prepares it once and executes it per request (``prepared``:
parsed once, resolved once per catalog generation).
"""
from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from grammar.errors import ValidationError
from grammar.serving import LookupOnline, Materialize, Parameter, ShowOnlineStatus
from raise_.engine import names, registry, results
from raise_.engine.families import Family, Kind, Statement, checked_by_rule
from raise_.engine.ingest import SEQUENCE_COLUMN
from raise_.engine.resolve import project_of
from raise_.engine.security.audit import Event
from raise_.engine.security.authorize import Need, control
from raise_.engine.security.checks import needs_nothing, on_target
from raise_.serving import derived as online_derived, prepared, progress
from raise_.serving.online import OnlineStore, from_stored, latest_rows, open_store

if TYPE_CHECKING:
    from raise_.engine.session import Session

KIND = "online"
STATUS_SCHEMA = pa.schema([
    ("project", pa.string()), ("group", pa.string()), ("last_materialized", pa.string()),
    ("version", pa.int64()), ("rows", pa.int64()), ("keys", pa.int64()), ("features", pa.list_(pa.string())),
])
_STORES: dict[tuple[str, str], OnlineStore] = {}


def store(session: "Session") -> OnlineStore:
    """The engine's online store (``online.open_store``), opened once per home and URI."""
    home = session.engine.home
    uri = os.environ.get("RAISE_ONLINE_STORE") or "sqlite"
    found = _STORES.get((str(home), uri))
    if found is None:
        found = _STORES[(str(home), uri)] = open_store(home, uri)
    return found


def _group(session: "Session", ref) -> dict[str, Any]:
    return registry.group(session.catalog, project_of(session, ref.project), ref.name)


def _stored_features(session: "Session", group: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Feature name -> its current version's record, for the features the table stores."""
    return {name: r for name, r in sorted(registry.current_features(session.catalog, group["key"]).items())
            if r.get("derived_as") is None and r["status"] != "archived"}


# -- MATERIALIZE -------------------------------------------------------------------------------


def materialize(session: "Session", stmt: Materialize) -> pa.Table:
    group = _group(session, stmt.group)
    features = _stored_features(session, group)
    table = session.engine.storage.latest(group["uri"])
    state = session.catalog.get(KIND, group["key"])
    if table is None:
        return _status_table(session, group, state)
    since = stmt.since if stmt.since is not None else (state or {}).get("version")
    # a changed feature set, an overwrite or another online store (a new URI) starts afresh
    full = since is None or state is None or state.get("features") != sorted(features) \
        or state.get("store") != _store_name(session) or _rewritten(table, since)
    columns = [r["column"] for r in features.values()]
    with progress.bar(2, f"materialize {group['name']}") as shown:
        rows = _read(group, table, columns, None if full else since)
        shown.update()
        written = 0 if rows is None else store(session).write(
            _table(group), [k["name"] for k in group["keys"]], columns, rows, replace=full)
        shown.update()
    record = {
        "group": group["key"], "project": list(group["project"]), "version": table.version(), "columns": columns,
        "features": sorted(features), "rows": written, "keys": store(session).count(_table(group)),
        "store": _store_name(session),
        "last_materialized": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    session.catalog.put(KIND, group["key"], record, parent=names.join(*group["project"]))
    return _status_table(session, group, record)


def _store_name(session: "Session") -> str:
    return repr(store(session))


def _read(group: dict[str, Any], table: Any, columns: list[str], since: int | None) -> pa.Table | None:
    """The newest row per key among the table's rows (``since`` None) or the rows changed
    after version ``since``, as the online store takes them (keys, time, stamp, features)."""
    keys = [k["name"] for k in group["keys"]]
    time = group.get("timestamp")
    wanted = [*keys, *([time] if time else []), SEQUENCE_COLUMN, *columns]
    if since is None:
        present = {f.name for f in table.schema().fields}
        rows = pa.table(table.to_pyarrow_table(columns=[c for c in wanted if c in present]))
    elif since >= table.version():
        return None
    else:
        rows = _changes(table, since, wanted)
    rows = latest_rows(_complete(rows, wanted), keys, time, SEQUENCE_COLUMN)
    rows = rows.rename_columns([*keys, *(["__time"] if time else []), "__seq", *columns])
    if not time:
        rows = rows.add_column(len(keys), "__time", pa.nulls(rows.num_rows, pa.timestamp("us")))
    return rows


def _rewritten(table: Any, since: int) -> bool:
    """Whether a commit after ``since`` replaced rows (an overwrite): the change feed of an
    overwrite lists removals, so such a run reads the table again."""
    for entry in table.history():
        if entry.get("version", -1) > since:
            mode = (entry.get("operationParameters") or {}).get("mode", "")
            if entry.get("operation") not in ("WRITE", "MERGE", "CREATE TABLE") or str(mode).lower() == "overwrite":
                return True
    return False


def _changes(table: Any, since: int, wanted: list[str]) -> pa.Table:
    reader = table.load_cdf(starting_version=since + 1)
    changes = pa.RecordBatchReader.from_stream(reader).read_all()
    inserted = pc.is_in(changes.column("_change_type").cast(pa.string()), pa.array(["insert", "update_postimage"]))
    changes = changes.select([c for c in wanted if c in changes.column_names])
    # the feed comes with view types (string_view) that not every Arrow kernel takes
    plain = pa.schema([pa.field(f.name, _plain(f.type)) for f in changes.schema])
    return changes.cast(plain).filter(inserted)


def _plain(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_string_view(kind):
        return pa.string()
    if pa.types.is_binary_view(kind):
        return pa.binary()
    return kind


def _complete(rows: pa.Table, wanted: list[str]) -> pa.Table:
    """Columns a table has not gained yet (a feature never written) as NULLs."""
    for name in wanted:
        if name not in rows.column_names:
            kind = pa.int64() if name == SEQUENCE_COLUMN else pa.null()
            rows = rows.append_column(name, pa.nulls(rows.num_rows, kind))
    return rows.select(wanted)


def _table(group: dict[str, Any]) -> str:
    return f"g{group['id']}"


def _status_table(session: "Session", group: dict[str, Any], state: dict[str, Any] | None) -> pa.Table:
    """One status row (a group never written has no record yet)."""
    rows = [_status_row(state)] if state else [{"project": names.join(*group["project"]), "group": group["name"],
                                                "rows": 0, "keys": 0, "features": []}]
    return results.rows(STATUS_SCHEMA, rows)


def _status_row(state: dict[str, Any]) -> dict[str, Any]:
    return {"project": names.join(*state["project"]), "group": state["group"].rsplit("/", 1)[-1],
            "last_materialized": state["last_materialized"], "version": state["version"],
            "rows": state["rows"], "keys": state["keys"], "features": state["features"]}


def show_online(session: "Session", stmt: ShowOnlineStatus) -> pa.Table:
    if stmt.within is None and session.project is None:
        records = session.catalog.list(KIND)
    else:
        records = session.catalog.list(KIND, parent=names.join(*project_of(session, stmt.within)))
    return results.rows(STATUS_SCHEMA, [_status_row(r) for r in records])


# -- LOOKUP ONLINE -----------------------------------------------------------------------------


def lookup(session: "Session", stmt: LookupOnline, plan: prepared.Plan | None = None) -> pa.Table:
    plan = plan or prepared.plan_for(session, stmt)
    asked = stmt.key if isinstance(stmt.key, tuple) else (stmt.key,)
    if plan.keys != asked:
        raise ValidationError(f"LOOKUP ONLINE {plan.group['name']!r} looks up by its key column(s) "
                              f"{', '.join(plan.keys) or '(none)'}; got {', '.join(asked)}", code="RAISE-V180",
                              name=", ".join(asked))
    values = _bind(stmt.values, session.parameters)
    found = store(session).lookup(_table(plan.group), stmt.key, values, plan.fetch) if plan.fetch else []
    if len(asked) == 1:
        keys = {asked[0]: pa.array(values, plan.key_types[0])}
    else:
        keys = {k: pa.array([v[i] for v in values], t) for i, (k, t) in enumerate(zip(asked, plan.key_types))}
    fetched = [from_stored([row[i] if row else None for row in found] if found else [None] * len(values), kind)
               for i, kind in enumerate(plan.fetch_types)]
    derived = iter(_derived(session, plan, keys, fetched) if plan.view else ())
    columns = dict(keys)
    for label, kind, (source, index) in zip(plan.labels, plan.types, plan.sources):
        if source == "stored":
            columns[label] = fetched[index]
        else:
            columns[label] = next(derived).cast(kind) if source == "derived" else pa.nulls(len(values), kind)
    return pa.table(columns)


def _derived(session: "Session", plan: prepared.Plan, keys: dict[str, pa.Array], fetched: list[pa.Array]):
    """The derived labels' values, computed over the looked-up rows (``derived``)."""
    rows = dict(keys)
    if plan.group.get("timestamp"):
        rows[plan.group["timestamp"]] = pa.nulls(len(next(iter(keys.values()))), pa.timestamp("us"))
    rows.update(zip(plan.fetch, fetched))
    labels = [label for label, (source, _) in zip(plan.labels, plan.sources) if source == "derived"]
    return online_derived.compute(session.engine, plan.view, pa.table(rows), labels)


def _bind(values: tuple, parameters: tuple) -> list[Any]:
    """The key values with their parameters bound (``?`` in order of appearance, ``$n``)."""
    position = 0

    def bound(value: Any) -> Any:
        nonlocal position
        if isinstance(value, tuple):
            return tuple(bound(v) for v in value)
        if not isinstance(value, Parameter):
            return value
        index = position if value.index is None else value.index - 1
        position += value.index is None
        if index >= len(parameters):
            raise ValidationError(f"LOOKUP ONLINE has a parameter {index + 1} but {len(parameters)} "
                                  "value(s) were bound", code="RAISE-V182")
        return parameters[index]

    return [bound(v) for v in values]


def _lookup_schema(stmt: LookupOnline) -> pa.Schema:
    # types come from the catalog at execution; a prepared statement learns the names here
    keys = stmt.key if isinstance(stmt.key, tuple) else (stmt.key,)
    return pa.schema([*[(k, pa.null()) for k in keys], *[(f, pa.null()) for f in stmt.features]])


# -- rules -------------------------------------------------------------------------------------


def _group_path(session: "Session", ref) -> str:
    return names.join(*project_of(session, ref.project), ref.name)


def _materialize_rule(session, ac, stmt: Materialize):
    path = _group_path(session, stmt.group)
    needs = on_target(session, path, "write")
    if session.catalog.get("group", path) is not None:
        needs += [Need("read", f"{path}/{name}") for name in _stored_features(session, _group(session, stmt.group))]
    return needs, [Event("WRITE", path, {"online": "materialize", "since": stmt.since})]


def _lookup_rule(session, ac, stmt: LookupOnline):
    return prepared.rule(session, stmt)


def visible_status(session: "Session", statement: Any, table: pa.Table) -> pa.Table:
    """SHOW ONLINE STATUS without the groups the principal may not see."""
    if table.num_rows == 0:
        return table
    ac = control(session)
    paths = [f"{p}/{g}" for p, g in zip(table.column("project").to_pylist(), table.column("group").to_pylist())]
    return table.filter(pa.array([ac.visible(p) for p in paths], pa.bool_()))


def _drop_in_namespace(session: "Session", record: dict[str, Any]) -> None:
    group = session.catalog.get("group", record["group"])
    if group is not None:
        store(session).drop(_table(group))
    session.catalog.delete(KIND, record["key"])


FAMILY = Family(
    name="serving",
    statements={
        Materialize: Statement(handler=materialize, rule=_materialize_rule, schema=STATUS_SCHEMA,
                               listing=checked_by_rule),
        ShowOnlineStatus: Statement(handler=show_online, rule=needs_nothing, schema=STATUS_SCHEMA,
                                    listing=visible_status),
        LookupOnline: Statement(handler=lookup, rule=_lookup_rule, schema=_lookup_schema, listing=checked_by_rule,
                                prepared=prepared.run_prepared, prepared_rows=prepared.run_rows),
    },
    kinds=(Kind(name=KIND, within="project", drop=_drop_in_namespace),),
)
