"""The model registry: CREATE/SHOW/DESCRIBE/DROP MODEL handlers and INFER's model lookup.

A model is a catalog object of kind ``model`` in a project, keyed
``<org>/<domain>/<project>/<name>`` (its parent is the project), like a feature group: INFER
names it as a group is named in FROM (``'minilm'`` in the current project, or
``'rec/minilm'``, ``'acme/ml/rec/minilm'``).

CREATE MODEL checks what can be checked offline: a local URI (a path, ``file://``, ``hf://``)
must resolve now (else ``NotFound`` naming where Raise looked) and its absolute location is
stored; an object-store URI is fetched at first use; a framework or scheme this installation
cannot run is registered with a warning (INFER then refuses it with ``Unsupported``).

A model is administered with its project: creating or dropping one needs ``admin`` there,
describing one needs to see the project, and SHOW MODELS lists only the models of projects the
principal may see. The family (``FAMILY``) also makes INFER available in every query.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pyarrow as pa

from grammar.errors import AlreadyExists, NotFound
from grammar.models import BATCH_OPTIONS, CreateModel, DescribeModel, DropModel, ModelColumn, ModelRef, ShowModels
from raise_.engine import names, registry, results
from raise_.engine.families import Family, Kind, Statement, acknowledged, checked_by_rule
from raise_.engine.resolve import project_of
from raise_.engine.security.audit import Event
from raise_.engine.security.authorize import control
from raise_.engine.security.checks import creating, needs_nothing, on_target
from udfs.infer.records import BatchConfig, Column, ModelRecord
from udfs.infer.resolve import is_local, resolve, scheme_of

if TYPE_CHECKING:
    from raise_.engine.session import Session

KIND = "model"
_COLUMN = pa.struct([("name", pa.string()), ("dtype", pa.string())])
_ARROW_OF = {int: pa.int64(), float: pa.float64(), bool: pa.bool_()}
_BATCH = pa.struct([(name, _ARROW_OF[kind]) for name, kind in BATCH_OPTIONS.items()])

MODEL_SCHEMA = pa.schema([
    ("project", pa.string()), ("name", pa.string()), ("path", pa.string()), ("uri", pa.string()),
    ("framework", pa.string()), ("version", pa.string()), ("task", pa.string()),
    ("precision", pa.string()), ("inputs", pa.list_(_COLUMN)), ("outputs", pa.list_(_COLUMN)),
    ("batch", _BATCH), ("description", pa.string()), ("owner", pa.string()),
    ("location", pa.string()), ("created_at", pa.string()), ("updated_at", pa.string()),
])

def _key(session: "Session", ref: ModelRef) -> tuple[tuple[str, ...], str]:
    project = project_of(session, ref.project)
    return project, names.join(*project, ref.name)


def create_model(session: "Session", stmt: CreateModel) -> pa.Table:
    catalog = session.catalog
    project, key = _key(session, stmt.model)
    existing = catalog.get(KIND, key)
    if existing is not None and stmt.conflict != "update":
        if stmt.conflict == "skip":
            return results.ddl("CREATE MODEL", key, 0)
        raise AlreadyExists(f"model {key!r} already exists; use CREATE OR REPLACE MODEL to change it",
                            name=stmt.model.name)
    batch = BatchConfig.from_options(dict(stmt.batch or ()))
    location, warnings = _check_source(stmt)
    registry.create_namespace(catalog, project, owner=session.principal, if_not_exists=True,
                              create_parents=True)
    record = {
        "name": stmt.model.name, "project": list(project), "uri": stmt.uri,
        "framework": stmt.framework, "version": stmt.version, "task": stmt.task,
        "precision": stmt.precision or "fp32",
        "inputs": [_column_dict(c) for c in stmt.inputs or ()],
        "outputs": [_column_dict(c) for c in stmt.outputs or ()],
        "batch": dict(batch.options()), "description": stmt.description,
        "owner": existing["owner"] if existing else session.principal, "location": location,
    }
    catalog.put(KIND, key, record, parent=names.join(*project))
    return results.ddl("CREATE MODEL", key, 1, warnings)


def _column_dict(column: ModelColumn) -> dict[str, str]:
    return {"name": column.name, "dtype": column.dtype}


def _check_source(stmt: CreateModel) -> tuple[str | None, list[str]]:
    """(resolved local location or None, warnings) for a model's URI and framework."""
    from udfs.infer.load import RUNNABLE  # the runners load when a model is registered, not every start

    warnings = []
    if stmt.framework not in RUNNABLE:
        warnings.append(f"{stmt.framework} models are registered but cannot run in this installation "
                        f"(runners: {', '.join(RUNNABLE)})")
    if not is_local(stmt.uri):
        scheme = scheme_of(stmt.uri)
        warnings.append(f"{scheme}:// is not checked now: the model is fetched when INFER first uses it")
        return None, warnings
    return str(resolve(stmt.uri, version=stmt.version).path), warnings


def show_models(session: "Session", stmt: ShowModels) -> pa.Table:
    if stmt.within is None and session.project is None:
        records = session.catalog.list(KIND)
    else:
        project = project_of(session, stmt.within)
        registry.namespace(session.catalog, project)
        records = session.catalog.list(KIND, parent=names.join(*project))
    return results.rows(MODEL_SCHEMA, [_row(r) for r in records])


def describe_model(session: "Session", stmt: DescribeModel) -> pa.Table:
    _, key = _key(session, stmt.model)
    return results.rows(MODEL_SCHEMA, [_row(_record(session, key, stmt.model.name))])


def drop_model(session: "Session", stmt: DropModel) -> pa.Table:
    _, key = _key(session, stmt.model)
    if session.catalog.get(KIND, key) is None:
        if stmt.if_exists:
            return results.ddl("DROP MODEL", key, 0)
        _record(session, key, stmt.model.name)
    session.catalog.delete(KIND, key)
    return results.ddl("DROP MODEL", key, 1)


def _record(session: "Session", key: str, name: str) -> dict[str, Any]:
    record = session.catalog.get(KIND, key)
    if record is None:
        project = key.rsplit("/", 1)[0]
        others = [r["name"] for r in session.catalog.list(KIND, parent=project)]
        raise NotFound(f"model {key!r} does not exist" + (f"; models here: {', '.join(others)}" if others
                                                          else "; CREATE MODEL registers one"),
                       code="RAISE-N211", name=name)
    return record


def _row(record: dict[str, Any]) -> dict[str, Any]:
    batch = BatchConfig.from_options(record.get("batch"))
    return {**record, "project": names.join(*record["project"]), "path": record["key"],
            "batch": {name: getattr(batch, name) for name in BATCH_OPTIONS}}


def model_record(record: dict[str, Any]) -> ModelRecord:
    """A catalog model record as the inference layer takes it."""
    return ModelRecord(
        name=record["key"], uri=record["uri"], framework=record["framework"],
        version=record.get("version"), task=record.get("task"),
        inputs=tuple(Column(**c) for c in record.get("inputs") or ()),
        outputs=tuple(Column(**c) for c in record.get("outputs") or ()),
        precision=record.get("precision") or "fp32", batch=BatchConfig.from_options(record.get("batch")),
        description=record.get("description"), location=record.get("location"),
    )


def model_lookup(session: "Session") -> Callable[[str], ModelRecord | None]:
    """INFER's model resolution for ``session``: ``'name'`` in the current project, or a path."""
    def lookup(name: str) -> ModelRecord | None:
        *project, model = name.split("/")
        path = names.complete_path(tuple(project), session.project, 3)
        record = session.catalog.get(KIND, names.join(*path, model))
        return model_record(record) if record is not None else None
    return lookup


# -- authorization ---------------------------------------------------------------------------


def _model_path(session: "Session", ref: ModelRef) -> tuple[str, str]:
    """(project path, audit resource) of a model; ``model:`` keeps it apart from group paths."""
    project = names.join(*project_of(session, ref.project))
    return project, f"{project}/model:{ref.name}"


def _create_rule(session, ac, s: CreateModel):
    _, resource = _model_path(session, s.model)
    return creating(session, resource, Event("CREATE", resource, {"kind": "model", "framework": s.framework}))


def _drop_rule(session, ac, s: DropModel):
    project, resource = _model_path(session, s.model)
    return on_target(session, project, "admin"), [Event("DELETE", resource, {"kind": "model"})]


def _describe_rule(session, ac, s: DescribeModel):
    return on_target(session, _model_path(session, s.model)[0], "see"), []


def visible_models(session: "Session", statement: ShowModels, table: pa.Table) -> pa.Table:
    """SHOW MODELS without the models of projects the principal may not see."""
    if table.num_rows == 0:
        return table
    ac = control(session)
    return table.filter(pa.array([ac.visible(p) for p in table.column("project").to_pylist()], pa.bool_()))


def _drop_in_namespace(session: "Session", record: dict[str, Any]) -> None:
    session.catalog.delete(KIND, record["key"])


FAMILY = Family(
    name="models",
    statements={
        CreateModel: Statement(handler=create_model, rule=_create_rule, schema=results.DDL_SCHEMA,
                               listing=acknowledged),
        DropModel: Statement(handler=drop_model, rule=_drop_rule, schema=results.DDL_SCHEMA, listing=acknowledged),
        DescribeModel: Statement(handler=describe_model, rule=_describe_rule, schema=MODEL_SCHEMA,
                                 listing=checked_by_rule),
        ShowModels: Statement(handler=show_models, rule=needs_nothing, schema=MODEL_SCHEMA, listing=visible_models),
    },
    kinds=(Kind(name=KIND, within="project", drop=_drop_in_namespace),),
)
