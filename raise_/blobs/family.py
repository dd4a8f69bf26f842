"""The blob registry statements in the engine: handlers, authorization rules and ``FAMILY``.

A registry is administered with its project, like a model: creating, dropping it and
registering or changing references need ``admin`` there (audited CREATE, DELETE and WRITE),
describing it and listing its references need to see the project, and SHOW BLOB REGISTRIES
lists only the registries of projects the principal may see. Recording validation outcomes
needs only ``read`` on the project, so whoever may read the references may check them:
VALIDATE BLOBS, and a REGISTER BLOBS whose every entry is an outcome (``VALIDATED ... AT``) of
a reference registered exactly as it is (what ``BlobRegistry.validate`` sends). Outcomes sent
by a principal who does not administer the registry are not taken on trust: the engine
validates those blobs itself and records its own results. Both are audited as a WRITE of kind
``blob_validation``. A namespace ``DROP ... CASCADE`` removes its registries and their
references.

REGISTER BLOBS stores every entry or none: under a policy that validates on write (STRICT,
ON_WRITE) an entry without a recorded validation is validated here first, and the policy's
refusal stores nothing. VALIDATE BLOBS validates the selected references against their blobs
and records each outcome.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from grammar.blobs import (
    BlobEntry, CreateBlobRegistry, DescribeBlobRegistry, DropBlobRegistry, RegisterBlobs, RegistryRef,
    ShowBlobRegistries, ShowBlobs, ValidateBlobs,
)
from grammar.errors import AlreadyExists, NotFound, ValidationError
from raise_.blobs.content import content_type as as_content_type, guess_content_type
from raise_.blobs.integrity import IntegrityPolicy, validate_references
from raise_.blobs.reference import create_reference
from raise_.blobs.store import (
    BLOB_KIND, BLOB_SCHEMA, REGISTRY_KIND, REGISTRY_SCHEMA, VALIDATION_SCHEMA, blob_record, blob_row, fields_of,
    reference_of_record, registry_id_of, validation_row,
)
from raise_.engine import names, registry, results
from raise_.engine.families import Family, Kind, Statement, acknowledged, checked_by_rule
from raise_.engine.resolve import project_of
from raise_.engine.security.audit import Event
from raise_.engine.security.authorize import control
from raise_.engine.security.checks import creating, needs_nothing, on_target

if TYPE_CHECKING:
    from raise_.engine.session import Session

UNKNOWN_REGISTRY = "RAISE-N302"
BAD_METADATA = "RAISE-V312"
BAD_INSTANT = "RAISE-V313"


def registry_key(session: "Session", ref: RegistryRef) -> tuple[tuple[str, ...], str]:
    project = project_of(session, ref.project)
    names.check_name(ref.name, "blob registry")
    return project, names.join(*project, ref.name)


def policy_of(pairs: tuple[tuple[str, Any], ...] | None) -> IntegrityPolicy:
    """The policy a POLICY clause writes (options not written take the custom form's
    defaults); without one, ``IntegrityPolicy.on_write()``."""
    return IntegrityPolicy.on_write() if pairs is None else IntegrityPolicy(**dict(pairs))


def registry_record(session: "Session", key: str, name: str) -> dict[str, Any]:
    """The registry at ``key`` (``NotFound`` naming the project's registries if none)."""
    record = session.catalog.get(REGISTRY_KIND, key)
    if record is None:
        project = key.rsplit("/", 1)[0]
        others = [r["name"] for r in session.catalog.list(REGISTRY_KIND, parent=project)]
        raise NotFound(f"blob registry {key!r} does not exist" +
                       (f"; registries here: {', '.join(others)}" if others else
                        "; CREATE BLOB REGISTRY creates one"), code=UNKNOWN_REGISTRY, name=name)
    return record


# -- registries ------------------------------------------------------------------------------


def create_registry(session: "Session", stmt: CreateBlobRegistry) -> pa.Table:
    catalog = session.catalog
    project, key = registry_key(session, stmt.registry)
    existing = catalog.get(REGISTRY_KIND, key)
    if existing is not None and stmt.conflict != "update":
        if stmt.conflict == "skip":
            return results.ddl("CREATE BLOB REGISTRY", key, 0)
        raise AlreadyExists(f"blob registry {key!r} already exists; CREATE OR REPLACE BLOB REGISTRY changes "
                            "its policy", name=stmt.registry.name)
    policy = policy_of(stmt.policy)
    registry.create_namespace(catalog, project, owner=session.principal, if_not_exists=True, create_parents=True)
    record = {"name": stmt.registry.name, "project": list(project), "policy": policy.to_dict(),
              "description": stmt.description if stmt.description is not None or existing is None
              else existing.get("description"),
              "owner": existing["owner"] if existing else session.principal}
    catalog.put(REGISTRY_KIND, key, record, parent=names.join(*project))
    return results.ddl("CREATE BLOB REGISTRY", key, 1)


def drop_registry(session: "Session", stmt: DropBlobRegistry) -> pa.Table:
    _, key = registry_key(session, stmt.registry)
    if session.catalog.get(REGISTRY_KIND, key) is None:
        if stmt.if_exists:
            return results.ddl("DROP BLOB REGISTRY", key, 0)
        registry_record(session, key, stmt.registry.name)
    for record in session.catalog.list(BLOB_KIND, parent=key):
        session.catalog.delete(BLOB_KIND, record["key"])
    session.catalog.delete(REGISTRY_KIND, key)
    return results.ddl("DROP BLOB REGISTRY", key, 1)


def describe_registry(session: "Session", stmt: DescribeBlobRegistry) -> pa.Table:
    _, key = registry_key(session, stmt.registry)
    return results.rows(REGISTRY_SCHEMA, [_registry_row(session, registry_record(session, key, stmt.registry.name))])


def show_registries(session: "Session", stmt: ShowBlobRegistries) -> pa.Table:
    if stmt.within is None and session.project is None:
        records = session.catalog.list(REGISTRY_KIND)
    else:
        project = project_of(session, stmt.within)
        registry.namespace(session.catalog, project)
        records = session.catalog.list(REGISTRY_KIND, parent=names.join(*project))
    return results.rows(REGISTRY_SCHEMA, [_registry_row(session, r) for r in records])


def _registry_row(session: "Session", record: dict[str, Any]) -> dict[str, Any]:
    count = len(session.catalog.list(BLOB_KIND, parent=record["key"]))
    return {**record, "project": names.join(*record["project"]), "path": record["key"], "references": count}


# -- references ------------------------------------------------------------------------------


def register_blobs(session: "Session", stmt: RegisterBlobs) -> pa.Table:
    project, key = registry_key(session, stmt.registry)
    policy = IntegrityPolicy.from_dict(registry_record(session, key, stmt.registry.name)["policy"])
    refs = [_reference(entry) for entry in stmt.entries]
    outcomes = [(e.status, e.validated_at) for e in stmt.entries]
    if not control(session).allows("admin", names.join(*project)):
        # a reader's outcomes (the rule let nothing else through): the engine's own, not theirs
        outcomes = [(r.status.value, r.checked_at.isoformat()) for r in validate_references(refs)]
    pending = [i for i, (status, _) in enumerate(outcomes) if status is None]
    if policy.validates_on_write and pending:
        for i, result in zip(pending, validate_references([refs[i] for i in pending])):
            policy.enforce(result)
            outcomes[i] = (result.status.value, result.checked_at.isoformat())
    for ref, (status, at) in zip(refs, outcomes):
        session.catalog.put(BLOB_KIND, f"{key}/{registry_id_of(ref.uri)}", blob_record(ref, status, at), parent=key)
    return results.ddl("REGISTER BLOBS", key, len(refs))


def _reference(entry: BlobEntry):
    metadata = {}
    if entry.metadata is not None:
        try:
            metadata = json.loads(entry.metadata)
        except ValueError:
            metadata = None
        if not isinstance(metadata, dict):
            raise ValidationError(f"METADATA of {entry.uri!r} must be a JSON object, got {entry.metadata!r}",
                                  code=BAD_METADATA, name=entry.uri)
    if entry.validated_at is not None:
        try:
            datetime.fromisoformat(entry.validated_at)
        except ValueError:
            raise ValidationError(f"VALIDATED ... AT of {entry.uri!r} must be an ISO 8601 instant, got "
                                  f"{entry.validated_at!r}", code=BAD_INSTANT, name=entry.uri) from None
    # without CONTENT TYPE, the extension's (or none, as a BlobReference allows)
    kind = entry.content_type if entry.content_type is not None else guess_content_type(entry.uri)
    return create_reference(entry.uri, kind, entry.checksum, hash_algorithm=entry.algorithm or "sha256",
                            size_bytes=entry.size_bytes, etag=entry.etag, version_id=entry.version_id,
                            metadata=metadata)


def _selected(session: "Session", stmt: ShowBlobs | ValidateBlobs) -> tuple[str, list[dict[str, Any]]]:
    """The registry's key and its references that the statement's filters select, by URI."""
    _, key = registry_key(session, stmt.registry)
    registry_record(session, key, stmt.registry.name)
    wanted_id = stmt.registry_id if stmt.uri is None else registry_id_of(stmt.uri)
    if stmt.uri is not None and stmt.registry_id is not None and stmt.registry_id != wanted_id:
        return key, []
    if wanted_id is not None:
        found = session.catalog.get(BLOB_KIND, f"{key}/{wanted_id}")
        records = [found] if found is not None else []
    else:
        records = session.catalog.list(BLOB_KIND, parent=key)
    kind = None if stmt.content_type is None else as_content_type(stmt.content_type).value
    picked = [r for r in records if (kind is None or r["reference"]["content_type"] == kind)
              and (stmt.prefix is None or r["reference"]["uri"].startswith(stmt.prefix))]
    return key, sorted(picked, key=lambda r: r["reference"]["uri"])


def show_blobs(session: "Session", stmt: ShowBlobs) -> pa.Table:
    key, records = _selected(session, stmt)
    return results.rows(BLOB_SCHEMA, [blob_row(key, r) for r in records])


def validate_blobs(session: "Session", stmt: ValidateBlobs) -> pa.Table:
    key, records = _selected(session, stmt)
    found = validate_references([reference_of_record(r) for r in records], verify_checksum=stmt.verify_checksum)
    for record, result in zip(records, found):
        stored = {k: v for k, v in record.items() if k not in ("key", "created_at", "updated_at")}
        stored.update(status=result.status.value, validated_at=result.checked_at.isoformat())
        session.catalog.put(BLOB_KIND, record["key"], stored, parent=key)
    return results.rows(VALIDATION_SCHEMA, [validation_row(r) for r in found])


# -- authorization ---------------------------------------------------------------------------


def _paths(session: "Session", ref: RegistryRef) -> tuple[str, str]:
    """(project path, audit resource) of a registry; ``blob_registry:`` keeps it apart from groups."""
    project = names.join(*project_of(session, ref.project))
    return project, f"{project}/blob_registry:{ref.name}"


def _create_rule(session, ac, s: CreateBlobRegistry):
    _, resource = _paths(session, s.registry)
    return creating(session, resource, Event("CREATE", resource, {"kind": "blob_registry"}))


def _drop_rule(session, ac, s: DropBlobRegistry):
    project, resource = _paths(session, s.registry)
    return on_target(session, project, "admin"), [Event("DELETE", resource, {"kind": "blob_registry"})]


def _register_rule(session, ac, s: RegisterBlobs):
    project, resource = _paths(session, s.registry)
    if _outcomes_only(session, s):
        return on_target(session, project, "read"), [_validation_event(resource, len(s.entries))]
    return on_target(session, project, "admin"), [Event("WRITE", resource, {"kind": "blob",
                                                                            "references": len(s.entries)})]


def _outcomes_only(session: "Session", s: RegisterBlobs) -> bool:
    """Whether every entry records a validation outcome of a reference registered with the
    same stored fields and metadata: nothing about the references themselves changes."""
    _, key = registry_key(session, s.registry)
    for entry in s.entries:
        record = session.catalog.get(BLOB_KIND, f"{key}/{registry_id_of(entry.uri)}")
        if entry.status is None or record is None:
            return False
        try:
            ref = _reference(entry)
        except ValidationError:  # the handler reports it to whoever may register
            return False
        if fields_of(ref) != record["reference"] or dict(ref.metadata) != (record.get("metadata") or {}):
            return False
    return True


def _validation_event(resource: str, count: int | None = None) -> Event:
    details: dict[str, Any] = {"kind": "blob_validation"}
    if count is not None:
        details["references"] = count
    return Event("WRITE", resource, details)


def _validate_rule(session, ac, s: ValidateBlobs):
    project, resource = _paths(session, s.registry)
    return on_target(session, project, "read"), [_validation_event(resource)]


def _see_rule(session, ac, s: DescribeBlobRegistry | ShowBlobs):
    return on_target(session, _paths(session, s.registry)[0], "see"), []


def visible_registries(session: "Session", statement: ShowBlobRegistries, table: pa.Table) -> pa.Table:
    """SHOW BLOB REGISTRIES without the registries of projects the principal may not see."""
    if table.num_rows == 0:
        return table
    ac = control(session)
    return table.filter(pa.array([ac.visible(p) for p in table.column("project").to_pylist()], pa.bool_()))


def _drop_record(kind: str):
    def drop(session: "Session", record: dict[str, Any]) -> None:
        session.catalog.delete(kind, record["key"])
    return drop


def _ddl(handler, rule) -> Statement:
    return Statement(handler=handler, rule=rule, schema=results.DDL_SCHEMA, listing=acknowledged)


FAMILY = Family(
    name="blobs",
    statements={
        CreateBlobRegistry: _ddl(create_registry, _create_rule),
        DropBlobRegistry: _ddl(drop_registry, _drop_rule),
        RegisterBlobs: _ddl(register_blobs, _register_rule),
        DescribeBlobRegistry: Statement(handler=describe_registry, rule=_see_rule, schema=REGISTRY_SCHEMA,
                                        listing=checked_by_rule),
        ShowBlobRegistries: Statement(handler=show_registries, rule=needs_nothing, schema=REGISTRY_SCHEMA,
                                      listing=visible_registries),
        ShowBlobs: Statement(handler=show_blobs, rule=_see_rule, schema=BLOB_SCHEMA, listing=checked_by_rule),
        ValidateBlobs: Statement(handler=validate_blobs, rule=_validate_rule, schema=VALIDATION_SCHEMA,
                                 listing=checked_by_rule),
    },
    kinds=(Kind(name=REGISTRY_KIND, within="project", drop=_drop_record(REGISTRY_KIND)),
           Kind(name=BLOB_KIND, within="project", drop=_drop_record(BLOB_KIND))),
)
