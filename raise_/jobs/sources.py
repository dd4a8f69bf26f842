"""Where a job reads: files on object storage or a filesystem, an external table, a feature group.

Each source is a value with a ``name`` (how a SQL transform and ``Schedule.on_change`` name
it; the first source is also ``source``) and its ``JobSource`` form for ``CREATE JOB``
(:func:`as_source`, :func:`source_from`). The engine reads them batch by batch
(``raise_.jobs.reading``): nothing is loaded whole.

>>> ObjectStorage(path="s3://data-lake/events/clickstream/", format="parquet").name
'clickstream'
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Sequence

from grammar.errors import ValidationError
from grammar.jobs import JobSource

__all__ = ["ObjectStorage", "FileSystem", "ColumnarSource", "FeatureGroupSource", "Source", "as_source",
           "source_from", "FORMATS"]

BAD_SOURCE = "RAISE-V504"
FORMATS = ("parquet", "csv", "json")


def _last_segment(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1].split(".")[0] or "source"


def _format(value: str) -> str:
    if value not in FORMATS:
        raise ValidationError(f"unknown source format {value!r}; formats: {', '.join(FORMATS)}", code=BAD_SOURCE,
                              name=str(value))
    return value


@dataclass(frozen=True, slots=True)
class ObjectStorage:
    """Files under an ``s3://``, ``gs://``, ``az://`` or ``file://`` prefix (``pyarrow.fs``);
    ``partition_columns`` are hive partitions (``year=2026/month=1/...``)."""

    path: str
    format: str = "parquet"
    partition_columns: tuple[str, ...] | None = None
    name: str | None = None

    def __init__(self, path: str, format: str = "parquet", partition_columns: Sequence[str] | None = None, *,
                 name: str | None = None) -> None:
        object.__setattr__(self, "path", _text(path, "path"))
        object.__setattr__(self, "format", _format(format))
        object.__setattr__(self, "partition_columns", tuple(partition_columns) if partition_columns else None)
        object.__setattr__(self, "name", name or _last_segment(path))


@dataclass(frozen=True, slots=True)
class FileSystem:
    """Files in a local or network folder; ``glob_pattern`` picks them (``*.csv``, ``**/*.parquet``)."""

    path: str
    format: str = "parquet"
    glob_pattern: str | None = None
    name: str | None = None

    def __init__(self, path: str, format: str = "parquet", glob_pattern: str | None = None, *,
                 name: str | None = None) -> None:
        object.__setattr__(self, "path", _text(path, "path"))
        object.__setattr__(self, "format", _format(format))
        object.__setattr__(self, "glob_pattern", glob_pattern)
        object.__setattr__(self, "name", name or _last_segment(path))


@dataclass(frozen=True, slots=True)
class ColumnarSource:
    """A table registered with ``CREATE EXTERNAL TABLE catalog.database.table LOCATION ...``;
    ``filter`` is a SQL condition over its columns."""

    catalog: str
    database: str
    table: str
    filter: str | None = None
    name: str | None = None

    def __init__(self, catalog: str, database: str, table: str, filter: str | None = None, *,
                 name: str | None = None) -> None:
        for label, value in (("catalog", catalog), ("database", database), ("table", table)):
            object.__setattr__(self, label, _text(value, label))
        object.__setattr__(self, "filter", filter)
        object.__setattr__(self, "name", name or table)


@dataclass(frozen=True, slots=True)
class FeatureGroupSource:
    """A feature group's rows: ``feature_group=`` or ``group=`` a name, a path
    (``org/domain/project/group``) or a group object; ``features`` limits the columns read
    (keys and the event-time column always come)."""

    feature_group: str
    features: tuple[str, ...] | None = None
    name: str | None = None

    def __init__(self, feature_group: Any = None, *, group: Any = None, features: Sequence[str] | None = None,
                 name: str | None = None) -> None:
        chosen = feature_group if feature_group is not None else group
        if chosen is None or (feature_group is not None and group is not None):
            raise ValidationError("FeatureGroupSource takes one of feature_group= or group=", code=BAD_SOURCE)
        path = getattr(chosen, "qualified_name", chosen)
        object.__setattr__(self, "feature_group", _text(path, "feature_group"))
        object.__setattr__(self, "features", tuple(features) if features else None)
        object.__setattr__(self, "name", name or self.feature_group.rsplit("/", 1)[-1])


Source = ObjectStorage | FileSystem | ColumnarSource | FeatureGroupSource
_KINDS: dict[str, type] = {"object_storage": ObjectStorage, "filesystem": FileSystem, "columnar": ColumnarSource,
                           "feature_group": FeatureGroupSource}


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{name} must be a non-empty string, got {value!r}", code=BAD_SOURCE, name=name)
    return value


def as_source(source: Any) -> JobSource:
    """The ``CREATE JOB ... FROM`` form of a source object."""
    from raise_.blobs.jobs import job_source
    from raise_.blobs.sources import MultimodalSource  # here: raise_.blobs imports the SDK

    if isinstance(source, MultimodalSource):
        return job_source(source)
    kind = next((k for k, cls in _KINDS.items() if isinstance(source, cls)), None)
    if kind is None:
        raise ValidationError(f"a job source is ObjectStorage, FileSystem, ColumnarSource, FeatureGroupSource or "
                              f"MultimodalSource, "
                              f"got {source!r}", code=BAD_SOURCE, name=type(source).__name__)
    settings = tuple((f.name, getattr(source, f.name)) for f in fields(source)
                     if f.name != "name" and getattr(source, f.name) is not None)
    return JobSource(kind=kind, settings=settings, alias=source.name)


def source_from(spec: JobSource) -> Any:
    """The source object a ``CREATE JOB ... FROM`` item describes."""
    if spec.kind == "multimodal":
        from raise_.blobs.jobs import source_of

        return source_of(spec)
    cls = _KINDS.get(spec.kind)
    if cls is None:
        raise ValidationError(f"unknown source kind {spec.kind!r}; kinds: {', '.join((*_KINDS, 'multimodal'))}",
                              code=BAD_SOURCE, name=spec.kind)
    settings = dict(spec.settings)
    allowed = {f.name for f in fields(cls)} - {"name"}
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise ValidationError(f"{spec.kind} source has no setting {unknown[0]!r}; settings: {', '.join(sorted(allowed))}",
                              code=BAD_SOURCE, name=unknown[0])
    try:
        return cls(**settings, name=spec.alias)
    except TypeError as error:
        raise ValidationError(f"{spec.kind} source: {error}", code=BAD_SOURCE, name=spec.kind) from None
