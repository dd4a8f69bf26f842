"""``MultimodalSource`` as a job source: a run reads the references a scan finds, never the bytes.

>>> from raise_.jobs.sources import as_source
>>> as_source(MultimodalSource(name="product_images", uri_prefix="s3://products/images/")).kind  # doctest: +SKIP
'multimodal'

``CREATE JOB ... FROM multimodal (uri_prefix = '...', content_types = ('image/png', ...))``
scans the prefix when the job runs and hands the transform one row per blob: ``ref`` (a
``blob_ref`` struct, as a feature group stores it), ``name`` (the path under the prefix),
``uri``, ``content_type``, ``size_bytes`` and ``checksum``. With ``registry`` (the registry's
``org/domain/project/name``) the run also records the references there, through the job
owner's REGISTER BLOBS, as validated by the scan's own hashing. A job ``ON CHANGE`` of such a
source runs when the listing under the prefix changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from grammar import blobs as sql, render
from grammar.errors import ValidationError
from grammar.jobs import JobSource
from raise_.blobs.columns import blob_array
from raise_.blobs.sources import MultimodalSource, _fresh, _relative
from raise_.blobs.locations import parse_prefix
from raise_.jobs.base import after_write

if TYPE_CHECKING:
    from raise_.engine.session import Session

__all__ = ["KIND", "ScanSource", "job_source", "source_of", "references_table", "REFERENCE_COLUMNS"]

KIND = "multimodal"
BAD_MULTIMODAL = "RAISE-V315"
_SETTINGS = ("uri_prefix", "content_types", "compute_checksums", "recursive", "hash_algorithm", "registry")
REFERENCE_COLUMNS = pa.schema([("ref", blob_array([]).type), ("name", pa.string()), ("uri", pa.string()),
                               ("content_type", pa.string()), ("size_bytes", pa.int64()), ("checksum", pa.string())])


def job_source(source: MultimodalSource) -> JobSource:
    """The ``FROM multimodal (...)`` form of ``source`` (its registry by its full path)."""
    settings: list[tuple[str, Any]] = [("uri_prefix", source.uri_prefix)]
    if source.content_types:
        settings.append(("content_types", tuple(c.value for c in source.content_types)))
    settings += [("compute_checksums", source.compute_checksums), ("recursive", source.recursive),
                 ("hash_algorithm", source.hash_algorithm.value)]
    if source.registry is not None:
        settings.append(("registry", "/".join((*source.registry.project, source.registry.name))))
    return JobSource(kind=KIND, settings=tuple(settings), alias=source.name)


@dataclass(frozen=True)
class ScanSource:
    """A job's multimodal source: what to scan, and the registry path its references go to."""

    source: MultimodalSource
    registry: str | None

    @property
    def name(self) -> str:
        return self.source.name


def source_of(spec: JobSource) -> ScanSource:
    """The source a ``FROM multimodal`` item describes."""
    settings = dict(spec.settings)
    unknown = sorted(set(settings) - set(_SETTINGS))
    if unknown:
        raise ValidationError(f"multimodal source has no setting {unknown[0]!r}; settings: {', '.join(_SETTINGS)}",
                              code=BAD_MULTIMODAL, name=unknown[0])
    if "uri_prefix" not in settings:
        raise ValidationError("a multimodal source needs uri_prefix = '...'", code=BAD_MULTIMODAL, name=spec.alias)
    registry = settings.pop("registry", None)
    if registry is not None and (not isinstance(registry, str) or len(registry.split("/")) != 4):
        raise ValidationError(f"a multimodal source's registry is org/domain/project/name, got {registry!r}",
                              code=BAD_MULTIMODAL, name=str(registry))
    types = settings.pop("content_types", None)
    types = [types] if isinstance(types, str) else types
    return ScanSource(MultimodalSource(name=spec.alias or "source", content_types=types, **settings), registry)


def references_table(session: "Session", scan: ScanSource) -> pa.Table:
    """The rows a run reads from a multimodal source: one per blob the scan finds, by URI;
    recorded in the source's registry, once the run has written, when it names one."""
    source, registry = scan.source, scan.registry
    refs = source.scan()
    if registry is not None and refs:
        after_write(lambda: _register(session, registry, refs))
    base = parse_prefix(source.uri_prefix).path
    names = [_relative(base, ref.location.path) if ref.scheme == "file" else ref.uri[len(source.uri_prefix):]
             for ref in refs]
    return pa.table([blob_array(refs), pa.array(names, pa.string()), pa.array([r.uri for r in refs], pa.string()),
                     pa.array([r.content_type.value if r.content_type else None for r in refs], pa.string()),
                     pa.array([r.size_bytes for r in refs], pa.int64()),
                     pa.array([r.checksum for r in refs], pa.string())], schema=REFERENCE_COLUMNS)


def _register(session: "Session", registry: str, refs: list) -> None:
    """REGISTER BLOBS as the job's owner: the scan's hashing is the validation recorded."""
    from raise_.blobs.registry import _entry

    *project, name = registry.split("/")
    stamp = datetime.now(timezone.utc)
    entries = tuple(_entry(ref, _fresh(ref, stamp) if ref.checksum else None) for ref in refs)
    session.execute(render(sql.RegisterBlobs(registry=sql.RegistryRef(name=name, project=tuple(project)),
                                             entries=entries)))
