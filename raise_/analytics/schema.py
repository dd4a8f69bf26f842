"""What an analysis needs to know about its group before a query runs.

``GroupSchema`` is read from the catalog (``DESCRIBE FEATURE GROUP`` and ``SHOW FEATURES``):
the columns with their dtypes, the key and event-time columns, and the Delta version of the
group's table (which keys the result cache). ``check`` refuses an analysis over a column the
group does not have, or of a type the analysis cannot use, before its query is sent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from grammar import ast
from grammar.dtypes import DType, parse_dtype
from grammar.errors import NotFound, ValidationError
from raise_.analytics.spec import (
    Aggregation, Analysis, Correlation, Distribution, RecordLookup, StatTest, VersionDiff,
)
from raise_.sdk import compile as sql
from raise_.sdk.feature import FeatureInfo, describe, show_features

if TYPE_CHECKING:
    from raise_.sdk.context import Executor

__all__ = ["GroupSchema", "load_schema", "check", "is_numeric"]

_NUMERIC_METRICS = ("sum", "avg", "stddev", "variance", "median")
_ORDERED = ("int8", "int16", "int32", "int64", "float16", "float32", "float64", "bool", "string",
            "timestamp", "date")


@dataclass(frozen=True)
class GroupSchema:
    """A group's columns as the analysis sees them (the view's plain names)."""

    project: tuple[str, ...]
    name: str
    keys: tuple[str, ...]
    timestamp: str | None
    table_version: int | None
    dtypes: dict[str, DType]
    features: dict[str, FeatureInfo]
    executor: "Executor" = field(repr=False, compare=False)
    _versions: dict[tuple[str, str], FeatureInfo] = field(default_factory=dict, repr=False, compare=False)

    @property
    def leading(self) -> tuple[str, ...]:
        """Key and event-time columns, the first columns of a record."""
        return (*self.keys, *([self.timestamp] if self.timestamp else []))

    def dtype(self, column: str) -> DType:
        found = self.dtypes.get(column)
        if found is None:
            self._hidden(column)
            raise NotFound(f"feature group {self.name!r} has no column {column!r}; columns: "
                           f"{', '.join(self.dtypes)}", code="RAISE-N400", name=column)
        return found

    def _hidden(self, column: str) -> None:
        """A feature the caller may not see is left out of SHOW FEATURES; asking the catalog
        for it raises the same PermissionDenied that a query reading it would."""
        try:
            describe(self.executor, sql.feature_ref(self.project, self.name, column))
        except NotFound:
            pass

    def version_info(self, feature: str, version: str) -> FeatureInfo:
        """The catalog record of one version of a feature (NotFound if there is none); read once."""
        key = (feature, version)
        if key not in self._versions:
            self._versions[key] = describe(self.executor, sql.feature_ref(self.project, self.name, feature, version))
        return self._versions[key]


def load_schema(executor: "Executor", project: tuple[str, ...], name: str) -> GroupSchema:
    session = getattr(executor.connection, "session", None)
    if session is None:  # over Flight: two catalog statements
        from raise_.sdk.group import describe_group  # loaded here: the SDK group side is not every start's

        ref = sql.group_ref(project, name)
        info = describe_group(executor, ref)
        features = {f.name: f for f in show_features(executor, ref)}
        return _schema(executor, project, name, info, features, info.table_version)
    with executor.lock:
        return _in_process(executor, session, project, name)


def _in_process(executor: "Executor", session: Any, project: tuple[str, ...], name: str) -> GroupSchema:
    """In the engine's process: the two statements' answers (authorized as they are, by the
    same session), remembered by the catalog until its next committed change (a grant, a new
    feature version), so a repeated analysis reads its schema in one cheap call. The table's
    Delta version is read each time: data writes do not change the catalog."""
    from raise_.engine.describe import table_version
    from raise_.sdk.group import GroupInfo

    ref = sql.group_ref(project, name)

    def read() -> tuple[GroupInfo, dict[str, FeatureInfo]]:
        info = GroupInfo.from_row(session.run(ast.Describe(kind="feature group", target=ref)).to_pylist()[0])
        rows = session.run(ast.Show(kind="features", within=ref)).to_pylist()
        return info, {f.name: f for f in map(FeatureInfo.from_row, rows)}

    key = ("analytics-schema", session.principal, session.organization, project, name)
    info, features = session.catalog.memo(key, read)
    return _schema(executor, project, name, info, features, table_version(session, info.table_uri))


def _schema(executor: "Executor", project: tuple[str, ...], name: str, info: Any,
            features: dict[str, FeatureInfo], version: int | None) -> GroupSchema:
    dtypes = {k: parse_dtype(t) for k, t in zip(info.key_columns, info.key_types)}
    if info.timestamp_column:
        dtypes[info.timestamp_column] = parse_dtype("timestamp")
    dtypes.update({n: parse_dtype(f.dtype) for n, f in features.items()})
    return GroupSchema(project, name, info.key_columns, info.timestamp_column, version,
                       dtypes, dict(features), executor)


def is_numeric(dtype: DType) -> bool:
    return dtype.kind == "primitive" and dtype.element in ("int8", "int16", "int32", "int64",
                                                           "float16", "float32", "float64")


def _comparable(dtype: DType) -> bool:
    return dtype.kind == "string" or (dtype.kind == "primitive" and dtype.element in _ORDERED)


def _needs(condition: bool, column: str, dtype: DType, what: str) -> None:
    if not condition:
        raise ValidationError(f"{what} needs {column!r} to be numeric (int or float), but it is {dtype}",
                              code="RAISE-V404", name=column)


def check(analysis: Analysis, schema: GroupSchema) -> None:
    """Raise before any query if ``analysis`` reads a missing column or a column of a type it
    cannot use."""
    for column in analysis.columns():
        if "@" not in column:
            schema.dtype(column)
    _CHECKS[type(analysis)](analysis, schema)


def _aggregation(analysis: Aggregation, schema: GroupSchema) -> None:
    dtype = schema.dtype(analysis.feature)
    for metric in analysis.metrics:
        if metric in _NUMERIC_METRICS:
            _needs(is_numeric(dtype), analysis.feature, dtype, f"metric {metric!r}")
        elif metric in ("min", "max", "distinct_count") and not _comparable(dtype):
            raise ValidationError(f"metric {metric!r} needs a scalar feature; {analysis.feature!r} is {dtype}",
                                  code="RAISE-V404", name=analysis.feature)
    if analysis.window is not None and schema.timestamp is None:
        raise ValidationError(f"window= groups rows by event time, but {schema.name!r} has no "
                              "timestamp_column", code="RAISE-V406", name=schema.name)
    for column in analysis.group_by or ():
        if not _comparable(schema.dtype(column)):
            raise ValidationError(f"group_by {column!r} must be a scalar column", code="RAISE-V404", name=column)


def _distribution(analysis: Distribution, schema: GroupSchema) -> None:
    dtype = schema.dtype(analysis.feature)
    _needs(is_numeric(dtype), analysis.feature, dtype, "a distribution")
    if analysis.segment_by and not _comparable(schema.dtype(analysis.segment_by)):
        raise ValidationError(f"segment_by {analysis.segment_by!r} must be a scalar column",
                              code="RAISE-V404", name=analysis.segment_by)


def _correlation(analysis: Correlation, schema: GroupSchema) -> None:
    for feature in analysis.features:
        dtype = schema.dtype(feature)
        _needs(is_numeric(dtype), feature, dtype, f"a {analysis.method} correlation")


def _version_diff(analysis: VersionDiff, schema: GroupSchema) -> None:
    if analysis.feature not in schema.features:
        schema.dtype(analysis.feature)
        raise NotFound(f"{analysis.feature!r} is a key or event-time column, not a versioned feature",
                       code="RAISE-N400", name=analysis.feature)
    for version in (analysis.version_a, analysis.version_b):
        dtype = parse_dtype(schema.version_info(analysis.feature, version).dtype)
        if "distribution" in analysis.compare and not (dtype.kind == "embedding" or _comparable(dtype)):
            raise ValidationError(f"the distribution of {analysis.feature}@{version} ({dtype}) cannot be "
                                  "compared: it is neither a scalar nor an embedding", code="RAISE-V404",
                                  name=f"{analysis.feature}@{version}")


def _stat_test(analysis: StatTest, schema: GroupSchema) -> None:
    dtype = schema.dtype(analysis.feature)
    if analysis.test == "chi_squared":
        if not _comparable(dtype):
            raise ValidationError(f"chi_squared counts the values of {analysis.feature!r}, which must be "
                                  f"scalar, not {dtype}", code="RAISE-V404", name=analysis.feature)
    else:
        _needs(is_numeric(dtype), analysis.feature, dtype, f"a {analysis.test}")
    if not _comparable(schema.dtype(analysis.segment_by)):
        raise ValidationError(f"segment_by {analysis.segment_by!r} must be a scalar column",
                              code="RAISE-V404", name=analysis.segment_by)


def _record_lookup(analysis: RecordLookup, schema: GroupSchema) -> None:
    return None


_CHECKS = {
    Aggregation: _aggregation, Distribution: _distribution, Correlation: _correlation,
    VersionDiff: _version_diff, StatTest: _stat_test, RecordLookup: _record_lookup,
}
