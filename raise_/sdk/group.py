"""``FeatureGroup``: a set of features stored together, keyed by the group's key columns.

Feature management compiles to Raise statements (``CREATE FEATURE``, ``SHOW FEATURES``,
``VALIDATE CREATE FEATURE`` ...); ``write`` sends Arrow through the connection's ingest and
``read`` a SELECT built with sqlglot.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import pyarrow as pa

from grammar import ast
from grammar.errors import RaiseSyntaxError, ValidationError
from grammar.security import Target
from raise_.sdk.security import AccessControlled, ExternallyShared
from raise_.sdk import bulk, data, html
from raise_.sdk import compile as sql
from raise_.sdk.dtypes import DTypeLike
from raise_.sdk.feature import Feature, describe, show_features
from raise_.sdk.validation import ValidationResult
from raise_.types import to_arrow

if TYPE_CHECKING:
    from raise_.analytics import Analysis, AnalysisResult, Freshness, LiveTable, RefreshPolicy
    from raise_.sdk.context import Executor
    from raise_.sdk.search import SearchResult

__all__ = ["FeatureColumn", "FeatureGroup", "GroupInfo", "WRITE_MODES"]

WRITE_MODES = ("append", "upsert", "overwrite")
_FEATURE_FILTERS = ("dtype", "owner", "status", "is_derived", "version")


@dataclass(frozen=True)
class FeatureColumn:
    """Where one feature version lives in the group's Delta table (``column`` None: derived)."""

    feature: str  # "name@version"
    version: str
    column: str | None
    is_latest: bool
    status: str


@dataclass(frozen=True)
class GroupInfo:
    """One row of ``DESCRIBE FEATURE GROUP`` / ``SHOW FEATURE GROUPS``."""

    project: tuple[str, ...]
    name: str
    key_columns: tuple[str, ...]
    key_types: tuple[str, ...]
    timestamp_column: str | None
    description: str | None
    tags: tuple[str, ...]
    owner: str | None
    num_features: int
    created_at: str | None
    table_uri: str | None = None
    feature_columns: tuple[FeatureColumn, ...] = ()
    table_version: int | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "GroupInfo":
        return cls(
            project=tuple(row["project"].split("/")), name=row["name"],
            key_columns=tuple(row["keys"] or ()), key_types=tuple(row["key_types"] or ()),
            timestamp_column=row["timestamp_column"], description=row["description"],
            tags=tuple(row["tags"] or ()), owner=row["owner"], num_features=row["features"],
            created_at=row["created_at"], table_uri=row["table_uri"],
            feature_columns=tuple(FeatureColumn(**c) for c in row["feature_columns"] or ()),
            table_version=row.get("table_version"),
        )


def describe_group(executor: "Executor", ref: ast.GroupRef) -> GroupInfo:
    table = executor.run(ast.Describe(kind="feature group", target=ref))
    return GroupInfo.from_row(table.to_pylist()[0])


class FeatureGroup(AccessControlled, ExternallyShared):
    """Features stored together: ``fs.feature_group("user-signals")``."""

    def __init__(self, executor: "Executor", project: tuple[str, ...], name: str,
                 info: GroupInfo | None = None) -> None:
        self._executor = executor
        self._project = project
        self._name = name
        self._info = info

    # -- properties ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def project(self) -> str:
        return "/".join(self._project)

    @property
    def qualified_name(self) -> str:
        """``org/domain/project/group``."""
        return "/".join((*self._project, self._name))

    @property
    def ref(self) -> ast.GroupRef:
        return sql.group_ref(self._project, self._name)

    @property
    def info(self) -> GroupInfo:
        """The group's catalog record (read on first use; ``refresh()`` re-reads it)."""
        if self._info is None:
            self._info = describe_group(self._executor, self.ref)
        return self._info

    key_columns = property(lambda self: list(self.info.key_columns))
    timestamp_column = property(lambda self: self.info.timestamp_column)
    description = property(lambda self: self.info.description)
    tags = property(lambda self: list(self.info.tags))
    owner = property(lambda self: self.info.owner)
    table_uri = property(lambda self: self.info.table_uri,
                         doc="The group's Delta table, for reading it directly (Spark, Polars, DuckDB).")

    @property
    def physical_columns(self) -> dict[str, str | None]:
        """``"name@version"`` -> its column in the Delta table at ``table_uri`` (None: derived,
        computed by the view). Key and event-time columns keep their names."""
        return {c.feature: c.column for c in self.info.feature_columns}

    def refresh(self) -> "FeatureGroup":
        self._info = describe_group(self._executor, self.ref)
        return self

    # -- features --------------------------------------------------------------------------

    def create_feature(self, name: str, dtype: DTypeLike, **options: Any) -> Feature:
        """Create a feature (``CREATE FEATURE``) and return it.

        Options: ``description``, ``tags``, ``owner``, ``nullable``, ``default``,
        ``derived_from`` (a SQL expression over other features), ``version`` (``"v2"`` adds a
        version, e.g. for a schema change), ``validation`` (``"strict"``, ``"standard"``,
        ``"permissive"``) and ``if_exists`` (``"error"``, ``"skip"``: return the existing
        feature, ``"update"``: change its metadata or expression).
        """
        statement = sql.create_feature(self.ref, name, dtype, **_known(options, bulk.DEFINITION_KEYS))
        return self._create(statement)

    def _create(self, statement: ast.CreateFeature) -> Feature:
        created = self._executor.run(statement).column("object")[0].as_py()
        version = created.rpartition("@")[2]
        ref = ast.FeatureRef(group=self.ref, name=statement.feature.name, version=version)
        return Feature(self._executor, describe(self._executor, ref))

    def get_or_create_feature(self, name: str, dtype: DTypeLike, **options: Any) -> Feature:
        """The existing feature ``name``, or a new one (``create_feature(..., if_exists="skip")``)."""
        return self.create_feature(name, dtype, **{**options, "if_exists": "skip"})

    def feature(self, name: str) -> Feature:
        """The latest version of a feature, or a given one: ``feature("user_embedding@v1")``."""
        return Feature(self._executor, describe(self._executor, sql.feature_ref(self._project, self._name, name)))

    def list_features(self, tags: Iterable[str] | None = None, **filters: Any) -> list[Feature]:
        """The latest version of every feature, optionally only those with all ``tags`` and
        matching ``filters`` (``dtype=``, ``owner=``, ``status=``, ``is_derived=``, ``version=``)."""
        unknown = sorted(set(filters) - set(_FEATURE_FILTERS))
        if unknown:
            raise ValidationError(f"list_features() filters by {', '.join(_FEATURE_FILTERS)}; got "
                                  f"{', '.join(unknown)}", name=unknown[0])
        features = [Feature(self._executor, info) for info in show_features(self._executor, self.ref, tags)]
        return [f for f in features if all(getattr(f, k) == v for k, v in filters.items())]

    def validate_feature(self, name: str, dtype: DTypeLike, **options: Any) -> ValidationResult:
        """Check a definition without creating it (``VALIDATE CREATE FEATURE``).

        Returns ``valid``, ``inferred_type``, ``references``, ``errors`` and ``warnings``;
        a syntax error in ``derived_from`` is reported in ``errors``, not raised.
        """
        try:
            statement = sql.create_feature(self.ref, name, dtype, **_known(options, bulk.DEFINITION_KEYS))
        except RaiseSyntaxError as error:
            return ValidationResult.from_error(error)
        row = self._executor.run(ast.ValidateFeature(statement=statement)).to_pylist()[0]
        return ValidationResult.from_row(row)

    # -- bulk ------------------------------------------------------------------------------

    def create_features(self, features: Sequence[Mapping[str, Any]], **defaults: Any) -> list[Feature]:
        """Create several features from definitions (dicts with ``name``, ``dtype`` and any
        ``create_feature`` option); all or none. ``defaults`` apply to every definition."""
        return self._create_many(features, defaults)

    def _create_many(self, definitions: Sequence[Any], defaults: Mapping[str, Any],
                     source: str | None = None) -> list[Feature]:
        statements = bulk.compile_all(self.ref, definitions, defaults, source)
        return [Feature(self._executor, info) for info in bulk.create_all(self._executor, self.ref, statements)]

    def create_features_from_schema(self, schema: Mapping[str, DTypeLike] | pa.Schema, **defaults: Any) -> list[Feature]:
        """``{"click_count": "int64", "user_embedding": Embedding(512)}`` -> features; all or none."""
        return self._create_many(bulk.definitions_from_schema(schema), defaults)

    def create_features_from_file(self, path: str | Path, **defaults: Any) -> list[Feature]:
        """Definitions from a YAML file with a ``features:`` list; all or none."""
        return self._create_many(bulk.definitions_from_file(path), defaults, Path(path).name)

    # -- data ------------------------------------------------------------------------------

    def write(self, rows: Any, mode: str = "append") -> int:
        """Write rows (pyarrow Table, pandas/polars DataFrame, list of dicts, dict of columns).

        Columns are key columns, the event-time column and features by name (the latest
        version) or ``"name@v1"``. ``mode``: ``append``, ``upsert`` (by the key columns) or
        ``overwrite``. Returns the number of rows written.
        """
        if mode not in WRITE_MODES:
            raise ValidationError(f"mode must be one of {', '.join(WRITE_MODES)}, got {mode!r}", name=str(mode))
        targets = self._write_targets(data.column_names(rows))
        if mode == "upsert" and not self.info.key_columns:
            raise ValidationError(f"upsert needs key columns; {self.name!r} declares none "
                                  "(create the group with key_columns=...)", code="RAISE-V050", name=self.name)
        return self._executor.ingest(self.qualified_name, data.to_arrow_table(rows, targets), mode)

    def _write_targets(self, columns: list[str]) -> dict[str, pa.DataType]:
        info = self.refresh().info
        targets = {k: to_arrow(t) for k, t in zip(info.key_columns, info.key_types)}
        if info.timestamp_column:
            targets[info.timestamp_column] = pa.timestamp("us")
        for feature in show_features(self._executor, self.ref):
            if feature.derived_from is None:
                targets[feature.name] = to_arrow(feature.dtype)
        for column in columns:
            if "@" in column and column not in targets:
                pinned = describe(self._executor, sql.feature_ref(self._project, self._name, column))
                if pinned.derived_from is None:
                    targets[column] = to_arrow(pinned.dtype)
        return targets

    def read(self, features: Sequence[str] | None = None, *, as_of: int | str | dt.datetime | None = None,
             filter: str | None = None) -> pa.Table:
        """Rows of the group as a pyarrow Table (``.to_pandas()`` for a DataFrame).

        ``features``: names (``"ctr"``, ``"user_embedding@v1"``); the key and event-time
        columns always come first; default every current feature. ``as_of``: a table version
        (int) or a timestamp, for the rows as they were then. ``filter``: a SQL condition.
        """
        if isinstance(features, str):
            features = [features]
        columns = None
        if features is not None:
            info = self.info
            leading = [*info.key_columns, *([info.timestamp_column] if info.timestamp_column else [])]
            columns = leading + [f for f in features if f not in leading]
        query = sql.select(self._name, columns, as_of=as_of, filter=filter)
        return self._executor.query(self._project, query)

    def search(self, feature: str, query: Any, top_k: int = 10, *, features: Sequence[str] = (),
               filter: str | None = None, metric: str | None = None) -> "SearchResult":
        """The ``top_k`` rows whose ``feature`` embedding is closest to ``query`` (a vector, or a
        text the feature's INFER model embeds), with their keys, ``score`` and ``features``;
        ``filter`` is a SQL condition applied before ranking; ``metric`` (cosine, dot, l2)
        defaults to the feature's index's, else cosine. A text query is embedded by the model
        of the feature's index (``create_index(model="minilm")``).

        >>> items.search(feature="item_embedding", query=vector, top_k=5).keys  # doctest: +SKIP
        """
        from raise_.sdk import search as vector_search

        found = {}
        if metric is None or isinstance(query, str):
            found = vector_search.index_of(self._executor, self._project, self._name, feature)
        model = found.get("model") if isinstance(query, str) else None
        value = vector_search.query_value(query, model, feature)
        metric = metric or found.get("metric") or "cosine"
        text = vector_search.search_sql(group=self._name, keys=self.key_columns, feature=feature, metric=metric,
                                        top_k=top_k, features=list(features), filter=filter, model=model)
        with self._executor.lock:  # prepared once per text: per call only the vector is bound
            self._executor.use(self._project)
            table = self._executor.send_prepared(text, [value])
        return vector_search.SearchResult(table, tuple(self.key_columns), metric)

    # -- analytics -------------------------------------------------------------------------

    def analyze(self, analysis: "Analysis", freshness: "Freshness | None" = None) -> "AnalysisResult":
        """Run an analysis (``Aggregation``, ``Distribution``, ``Correlation``, ``VersionDiff``,
        ``StatTest``, ``RecordLookup``) over this group: one SQL query computed by the engine
        under the caller's rights. ``freshness``: ``Freshness.REAL_TIME`` (the default) always
        runs it; ``Freshness.WITHIN("1h")`` / ``Freshness.CACHED`` accept a cached result for
        the table's current version. ``result.from_cache`` and ``result.computed_at`` say which.
        """
        from raise_.analytics.runner import analyze

        return analyze(self._executor, self._project, self._name, analysis, freshness)

    def create_live_table(self, name: str, analysis: "Analysis", refresh: "RefreshPolicy | str" = "on_change",
                          description: str | None = None) -> "LiveTable":
        """Materialize ``analysis`` over this group as the live table ``name`` of its project
        (``CREATE LIVE TABLE``), computed now; ``refresh``: ``"on_change"`` (default),
        ``"hourly"``, ``"daily"``, ``"manual"`` or a ``RefreshPolicy`` (``RefreshPolicy.cron(...)``)."""
        from raise_.analytics.objects import create_live_table

        return create_live_table(self._executor, self._project, self._name, name, analysis, refresh, description)

    def live_table(self, name: str) -> "LiveTable":
        """An existing live table of this group's project."""
        from raise_.analytics.objects import LiveTable

        table = LiveTable(self._executor, self._project, name)
        table.describe()
        return table

    # -- lifecycle and display -------------------------------------------------------------

    def delete(self, *, cascade: bool = False) -> None:
        """Drop the group, its features and its data (``DROP FEATURE GROUP``)."""
        self._executor.run(ast.Drop(kind="feature group", target=self.ref, cascade=cascade))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FeatureGroup) and other.qualified_name == self.qualified_name

    def __hash__(self) -> int:
        return hash(self.qualified_name)

    def _security_runner(self) -> "Executor":
        return self._executor

    def _security_target(self) -> Target:
        return Target(kind="feature group", path=self.ref)

    def __repr__(self) -> str:
        return f"FeatureGroup({self.qualified_name!r})"

    def _repr_html_(self) -> str:
        rows = [(f.name, f.info.dtype, f.version, f.derived_from or "", ", ".join(f.tags))
                for f in self.list_features()]
        info = self.info
        title = (f"Feature group {self.qualified_name} (keys: {', '.join(info.key_columns) or 'none'}"
                 f"; event time: {info.timestamp_column or 'none'})")
        return html.grid(title, ("feature", "dtype", "version", "derived from", "tags"), rows)


def _known(options: Mapping[str, Any], allowed: Sequence[str]) -> dict[str, Any]:
    """``options`` if each is a ``create_feature`` option (``allowed`` less name and dtype)."""
    unknown = sorted(set(options) - set(allowed[2:]))
    if unknown:
        raise ValidationError(f"unknown option(s) {', '.join(unknown)}; options: {', '.join(allowed[2:])}",
                              name=unknown[0])
    return dict(options)
