"""The vector search family: the VECTOR INDEX statements (its top-k query runner is declared in
``raise_.engine.query_hooks``).

An index is administered with its group: creating or dropping one needs ``admin`` on the group
(audited CREATE and DELETE of ``<group>/vector_index:<name>``); SHOW VECTOR INDEXES lists only
the indexes of groups the principal may see. Index names are unique in their project, and a
namespace ``DROP ... CASCADE`` removes the indexes inside it with their files. Searching
through an index is a query (see ``runner``), authorized and audited as one.
"""
from __future__ import annotations

import uuid
import weakref
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from grammar.ast import GroupRef
from grammar.errors import AlreadyExists, NotFound, ValidationError
from grammar.vectors import CreateVectorIndex, DropVectorIndex, ShowVectorIndexes
from raise_.engine import names, registry, results
from raise_.engine.models import model_lookup
from raise_.engine.families import Family, Kind, Statement, acknowledged
from raise_.engine.resolve import group_of, project_of
from raise_.engine.security.audit import Event
from raise_.engine.security.authorize import control
from raise_.engine.security.checks import needs_nothing, on_target
from raise_.engine.vectors import index

if TYPE_CHECKING:
    from raise_.engine.session import Session

UNKNOWN_INDEX = "RAISE-N600"
UNKNOWN_FEATURE = "RAISE-N601"
UNKNOWN_MODEL = "RAISE-N602"
INDEX_EXISTS = "RAISE-A600"
NOT_AN_EMBEDDING = "RAISE-V606"

INDEX_SCHEMA = pa.schema([
    ("name", pa.string()), ("project", pa.string()), ("group", pa.string()), ("feature", pa.string()),
    ("method", pa.string()), ("metric", pa.string()), ("m", pa.int64()), ("ef_construction", pa.int64()),
    ("ef_search", pa.int64()), ("model", pa.string()), ("dimension", pa.int64()), ("table_version", pa.int64()), ("vectors", pa.int64()),
])


def index_key(session: "Session", ref) -> tuple[str, str]:
    """(project path, catalog key) of the index ``ref`` names."""
    project = names.join(*project_of(session, ref.project))
    return project, names.join(project, names.check_name(ref.name, "vector index"))


def create_index(session: "Session", stmt: CreateVectorIndex) -> pa.Table:
    group = group_of(session, stmt.group)
    column = _embedding(session, group, stmt.feature)
    settings = index.options(dict(stmt.options))
    if settings["model"] is not None and model_lookup(session)(settings["model"]) is None:
        raise NotFound(f"no model {settings['model']!r} to embed text queries of {stmt.feature!r} with; "
                       "CREATE MODEL registers one", code=UNKNOWN_MODEL, name=settings["model"])
    name = stmt.name or f"{group.name}_{stmt.feature}_{stmt.method}"
    project, key = index_key(session, GroupRef(name=name, project=tuple(group.project)))
    if session.catalog.get(index.KIND, key) is not None or _covering(session, group, stmt.feature, settings):
        if stmt.if_not_exists:
            return results.ddl("CREATE VECTOR INDEX", key)
        raise AlreadyExists(f"vector index {name!r} already exists, or another index of {stmt.feature!r} "
                            f"with metric {settings['metric']!r} does: DROP VECTOR INDEX it first",
                            code=INDEX_EXISTS, name=name)
    record = {"name": name, "project": project, "group": group.key, "group_name": group.name, "uri": group.uri,
              "feature": stmt.feature, "column": column[0], "dim": column[1], "method": stmt.method, **settings,
              "directory": str(index.directory(session, group, f"{name}-{uuid.uuid4().hex[:8]}"))}
    built = index.build(session, {**record, "key": key}, group)
    session.on_rollback(lambda: index.remove_files(session, built))
    index.store(session, built)
    return results.ddl("CREATE VECTOR INDEX", key, built["rows"])


def _embedding(session: "Session", group: Any, feature: str) -> tuple[str, int]:
    found = index.feature_column(session, group, feature)
    if found is not None:
        return found
    current = registry.current_features(session.catalog, group.key)
    if feature not in current:
        raise NotFound(f"feature group {group.name!r} has no feature {feature!r}; features: "
                       f"{', '.join(sorted(current)) or 'none'}", code=UNKNOWN_FEATURE, name=feature)
    kind = f"derived {current[feature].dtype}" if current[feature].derived_as is not None else current[feature].dtype
    raise ValidationError(f"{feature!r} is a {kind} feature: a vector index needs a stored fixed-size "
                          "embedding such as float32[384]", code=NOT_AN_EMBEDDING, name=feature)


def _covering(session: "Session", group: Any, feature: str, settings: dict[str, Any]) -> bool:
    return any(r["feature"] == feature and r["metric"] == settings["metric"] and r["uri"] == group.uri
               for r in index.records(session, group.key))


def drop_index(session: "Session", stmt: DropVectorIndex) -> pa.Table:
    _, key = index_key(session, stmt.index)
    record = session.catalog.get(index.KIND, key)
    if record is None:
        if stmt.if_exists:
            return results.ddl("DROP VECTOR INDEX", key)
        raise NotFound(f"vector index {key!r} does not exist", code=UNKNOWN_INDEX, name=stmt.index.name)
    _drop_record(session, record)
    return results.ddl("DROP VECTOR INDEX", key, 1)


def _drop_record(session: "Session", record: dict[str, Any]) -> None:
    session.catalog.delete(index.KIND, record["key"])
    session.after_commit(lambda: index.remove_files(session, record))


def show_indexes(session: "Session", stmt: ShowVectorIndexes) -> pa.Table:
    if stmt.within is not None:
        group = group_of(session, stmt.within)
        found = index.records(session, group.key)
    elif session.project is not None:
        found = session.catalog.list(index.KIND, parent=names.join(*session.project))
    else:
        found = index.records(session)
    live = [r for r in found if _group_uri(session, r["group"]) == r["uri"]]  # not a dropped group's
    return results.rows(INDEX_SCHEMA, [{**r, "group": r["group_name"], "dimension": r["dim"],
                                        "table_version": r["version"], "vectors": r["rows"]}
                                       for r in sorted(live, key=lambda r: r["key"])])


#: Per engine: (statement, principal, project) -> (catalog generation, the listing then).
_LISTINGS: "weakref.WeakKeyDictionary[Any, dict[tuple, tuple[int, pa.Table]]]" = weakref.WeakKeyDictionary()


def show_prepared(session: "Session", stmt: ShowVectorIndexes, params: tuple) -> pa.Table:
    """SHOW VECTOR INDEXES prepared (as the SDK asks it before a search without ``metric=``):
    the listing run as text once per catalog generation, principal and project. The listing
    has no audit events (``needs_nothing``), and what it shows changes only with the catalog."""
    from grammar import render

    generation = session.catalog.generation()
    held = _LISTINGS.setdefault(session.engine, {})
    key = (stmt, session.principal, session.project)
    found = held.get(key)
    if generation is not None and found is not None and found[0] == generation:
        return found[1]
    table = session.execute(render(stmt))
    if generation is not None:
        if len(held) >= 256:
            held.clear()
        held[key] = (generation, table)
    return table


def _group_uri(session: "Session", key: str) -> str | None:
    record = registry.group_at(session.catalog, key)
    return record.uri if record is not None else None


# -- authorization ---------------------------------------------------------------------------


def _create_rule(session, ac, s: CreateVectorIndex):
    group = group_of(session, s.group)
    name = s.name or f"{group.name}_{s.feature}_{s.method}"
    return on_target(session, group.key, "admin"), [Event("CREATE", f"{group.key}/vector_index:{name}",
                                                          {"kind": "vector_index", "feature": s.feature})]


def _drop_rule(session, ac, s: DropVectorIndex):
    project, key = index_key(session, s.index)
    record = session.catalog.get(index.KIND, key)
    target = record["group"] if record is not None else project
    return on_target(session, target, "admin"), [Event("DELETE", f"{target}/vector_index:{s.index.name}",
                                                       {"kind": "vector_index"})]


def visible_indexes(session: "Session", statement: ShowVectorIndexes, table: pa.Table) -> pa.Table:
    """SHOW VECTOR INDEXES without the indexes of groups the principal may not see."""
    if table.num_rows == 0:
        return table
    ac = control(session)
    paths = [f"{p}/{g}" for p, g in zip(table.column("project").to_pylist(), table.column("group").to_pylist())]
    return table.filter(pa.array([ac.visible(p) for p in paths], pa.bool_()))


def _ddl(handler, rule) -> Statement:
    return Statement(handler=handler, rule=rule, schema=results.DDL_SCHEMA, listing=acknowledged)


FAMILY = Family(
    name="vectors",
    statements={
        CreateVectorIndex: _ddl(create_index, _create_rule),
        DropVectorIndex: _ddl(drop_index, _drop_rule),
        ShowVectorIndexes: Statement(handler=show_indexes, rule=needs_nothing, schema=INDEX_SCHEMA,
                                     listing=visible_indexes, prepared=show_prepared),
    },
    kinds=(Kind(name=index.KIND, within="project", drop=_drop_record),),
)
