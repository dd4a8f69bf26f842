"""``FeatureStore``: the entry point, a façade over the namespace hierarchy.

>>> fs = FeatureStore("acme/mlplatform/recommendation")            # doctest: +SKIP
>>> user_signals = fs.create_feature_group("user-signals")          # doctest: +SKIP
>>> user_signals.create_feature("click_count", dtype="int64")       # doctest: +SKIP
Feature(user-signals/click_count@v1, dtype=int64)

The store runs embedded (``home=``, default ``$RAISE_HOME`` or ``./.raise``) or against a
Raise server (``url="grpc://host:port"``, ``user=``, ``password=``). Every call is compiled
to Raise SQL and sent through the connection; ``fs.history`` lists the SQL sent so far.
Organizations, domains and projects named by a context (the store's, or one ``with_context``
switched to) are created on first use, by navigation or creation, owned by the user who
creates them.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import pyarrow as pa

from grammar import ast
from grammar.errors import NotFound, ValidationError
from raise_.client import Connection, connect
from raise_.sdk.security import AuditClient
from raise_.sdk import compile as sql
from raise_.sdk import html
from raise_.sdk.context import Executor
from raise_.sdk.dtypes import DTypeLike
from raise_.sdk.feature import Feature, FeatureInfo, describe
from raise_.sdk.group import FeatureGroup, GroupInfo, describe_group
from raise_.sdk.namespaces import Domain, Organization, Project, namespace_object

if TYPE_CHECKING:
    from raise_.sdk.search import SearchResult
    from raise_.analytics import Alert, Analysis, AnalysisJob, AnalysisResult, Condition, Freshness
    from raise_.jobs.airflow import TransformsClient
    from raise_.jobs.client import DeploymentResult, Job
    from raise_.analytics.dashboard import Dashboard

__all__ = ["FeatureStore"]

_LEVELS = ("organization", "domain", "project")
_SEARCH_FILTERS = ("tags", "dtype", "owner", "status", "is_derived", "group")


class FeatureStore:
    """A connection to a Raise store with a current context (organization/domain/project)."""

    def __init__(self, path: str | None = None, *, org: str | None = None, domain: str | None = None,
                 project: str | None = None, home: str | None = None, user: str | None = None,
                 password: str | None = None, url: str | None = None,
                 connection: Connection | None = None) -> None:
        if path is not None and any(v is not None for v in (org, domain, project)):
            raise ValidationError("give the context as a path or as org=/domain=/project=, not both",
                                  name=str(path))
        context = _split(path) if path is not None else _levels(org, domain, project)
        if connection is None:
            connection = connect(
                url, home=home, user=user or os.environ.get("RAISE_USER"),
                password=password or os.environ.get("RAISE_PASSWORD"),
                project=context if len(context) == 3 else None,
                organization=context[0] if context else None,
            )
        self._executor = Executor(connection)
        self._context = context
        self._executor.name_context(context)

    @classmethod
    def _scoped(cls, executor: Executor, context: tuple[str, ...]) -> "FeatureStore":
        store = cls.__new__(cls)
        store._executor, store._context = executor, context
        executor.name_context(context)
        return store

    def with_context(self, org: str | None = None, domain: str | None = None,
                     project: str | None = None) -> "FeatureStore":
        """The same connection with another context. Changing a level drops the levels below
        it unless they are given: ``with_context(project="fraud-detection")`` keeps the
        organization and domain."""
        given = (org, domain, project)
        first = next((i for i, v in enumerate(given) if v is not None), None)
        if first is None:
            return self
        kept = self._context[:first]
        if len(kept) < first:
            raise ValidationError(f"cannot set the {_LEVELS[first]} without the levels above it",
                                  name=str(given[first]))
        return FeatureStore._scoped(self._executor, kept + _levels(*given[first:], offset=first))

    # -- context ---------------------------------------------------------------------------

    @property
    def context(self) -> str:
        """``org/domain/project`` (as far as it is set)."""
        return "/".join(self._context)

    @property
    def connection(self) -> Connection:
        return self._executor.connection

    @property
    def history(self) -> list[str]:
        """The Raise SQL this store's connection has sent, oldest first."""
        return self._executor.history

    def close(self) -> None:
        self._executor.connection.close()

    def __enter__(self) -> "FeatureStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _at(self, depth: int) -> tuple[str, ...]:
        if len(self._context) < depth:
            raise ValidationError(
                f"this needs a {_LEVELS[depth - 1]} in the context (now {self.context or 'empty'!r}): "
                "use FeatureStore('org/domain/project') or with_context(...)", name=self.context)
        return self._context[:depth]

    # -- namespaces ------------------------------------------------------------------------

    def create_organization(self, name: str, **options: Any) -> Organization:
        """Create an organization (options: ``description``, ``tags``, ``owner``, ``if_exists``)."""
        return self._create_namespace((name,), options)

    def organization(self, name: str | None = None) -> Organization:
        """An organization (default: the context's, created if missing)."""
        return self._namespace((name,) if name else self._at(1))

    def list_organizations(self, tags: Iterable[str] | None = None) -> list[Organization]:
        return self._list("organizations", None, tags)

    def create_domain(self, name: str, **options: Any) -> Domain:
        """Create a domain in the context's organization (created if missing)."""
        return self._create_namespace((*self._at(1), name), options)

    def domain(self, name: str | None = None) -> Domain:
        """A domain of the context's organization (default: the context's domain).

        The namespaces of the contexts opened on this connection (this store's and those it
        was switched from or to with ``with_context``) are created on first use, as by
        ``create_feature_group``; any other name that does not exist raises ``NotFound``."""
        return self._namespace((*self._at(1), name) if name else self._at(2))

    def list_domains(self, tags: Iterable[str] | None = None) -> list[Domain]:
        return self._list("domains", self._at(1), tags)

    def create_project(self, name: str, **options: Any) -> Project:
        """Create a project in the context's domain (created if missing)."""
        return self._create_namespace((*self._at(2), name), options)

    def project(self, name: str | None = None) -> Project:
        """A project of the context's domain (default: the context's project, created if
        missing)."""
        return self._namespace((*self._at(2), name) if name else self._at(3))

    def list_projects(self, tags: Iterable[str] | None = None) -> list[Project]:
        return self._list("projects", self._at(2), tags)

    def _create_namespace(self, path: tuple[str, ...], options: dict[str, Any]) -> Any:
        if len(path) > 1:
            self._executor.ensure_namespaces(path[:-1])
        self._executor.run(sql.create_namespace(_LEVELS[len(path) - 1], path, **options))
        self._executor.created(path)
        return self._namespace(path)

    def _namespace(self, path: tuple[str, ...]) -> Any:
        if self._executor.is_named(path):
            self._executor.ensure_namespaces(path)
        row = self._executor.run(ast.Describe(kind=_LEVELS[len(path) - 1], target=path)).to_pylist()[0]
        return namespace_object(self, row)

    def _list(self, kind: str, within: tuple[str, ...] | None, tags: Iterable[str] | None) -> list[Any]:
        table = self._executor.run(ast.Show(kind=kind, within=within, tags=sql.tags_of(tags)))
        return [namespace_object(self, row) for row in table.to_pylist()]

    # -- feature groups --------------------------------------------------------------------

    def create_feature_group(self, name: str, **options: Any) -> FeatureGroup:
        """Create a feature group in the context's project (created if missing).

        Options: ``key_columns`` (``["user_id"]``, each int64, or ``{"user_id": "string"}``),
        ``timestamp_column`` (the event-time column), ``description``, ``tags``, ``owner``,
        ``if_exists`` (``"error"`` or ``"skip"``).
        """
        project = self._at(3)
        statement = sql.create_group(project, name, **options)
        self._executor.ensure_namespaces(project)
        self._executor.run(statement)
        return FeatureGroup(self._executor, project, name)

    def feature_group(self, name: str) -> FeatureGroup:
        """An existing feature group of the context's project (``NotFound`` otherwise)."""
        project = self._at(3)
        info = describe_group(self._executor, sql.group_ref(project, name))
        return FeatureGroup(self._executor, project, name, info)

    def list_feature_groups(self, tags: Iterable[str] | None = None) -> list[FeatureGroup]:
        project = self._at(3)
        table = self._executor.run(ast.Show(kind="feature groups", within=project, tags=sql.tags_of(tags)))
        return [FeatureGroup(self._executor, project, row["name"], GroupInfo.from_row(row))
                for row in table.to_pylist()]

    # -- features by path ------------------------------------------------------------------

    def create_feature(self, path: str, dtype: DTypeLike, **options: Any) -> Feature:
        """``fs.create_feature("user-signals/click_count", dtype="int64")``: the group must
        exist; options as ``FeatureGroup.create_feature``."""
        project, group, name = sql.split_feature_path(path, self._context)
        return FeatureGroup(self._executor, project, group).create_feature(name, dtype, **options)

    def search(self, feature: str, query: Any, top_k: int = 10, **options: Any) -> "SearchResult":
        """``fs.search(feature="item-signals.item_embedding", query=vector, top_k=10)``: a
        vector search of the feature at that path (``group.feature`` or ``.../group/feature``),
        as ``FeatureGroup.search``."""
        from raise_.sdk.search import dotted_path

        project, group, name = sql.split_feature_path(dotted_path(feature), self._context)
        return FeatureGroup(self._executor, project, group).search(feature=name, query=query, top_k=top_k,
                                                                   **options)

    def feature(self, path: str) -> Feature:
        """``fs.feature("user-signals/click_count")`` or ``".../user_embedding@v1"``."""
        project, group, name = sql.split_feature_path(path, self._context)
        return Feature(self._executor, describe(self._executor, sql.feature_ref(project, group, name)))

    def search_features(self, query: str | None = None, **filters: Any) -> list[Feature]:
        """Features of the context's project whose name, group, description or tags contain
        ``query`` (case-insensitive), filtered by ``tags=`` (all of them), ``dtype=``,
        ``owner=``, ``status=``, ``is_derived=`` or ``group=``."""
        unknown = sorted(set(filters) - set(_SEARCH_FILTERS))
        if unknown:
            raise ValidationError(f"search_features() filters by {', '.join(_SEARCH_FILTERS)}; got "
                                  f"{', '.join(unknown)}", name=unknown[0])
        project = self._at(3)
        self._executor.use(project)
        table = self._executor.run(ast.Show(kind="features", tags=sql.tags_of(filters.pop("tags", None))))
        found = [Feature(self._executor, FeatureInfo.from_row(row)) for row in table.to_pylist()]
        return [f for f in found if _matches(f, query) and all(getattr(f, k) == v for k, v in filters.items())]

    # -- analytics -------------------------------------------------------------------------

    def analyze(self, analysis: "Analysis", freshness: "Freshness | None" = None, *,
                group: str | None = None) -> "AnalysisResult":
        """``group.analyze(analysis, freshness)`` for the group of the context's project that
        has the analysis' features (or ``group=`` when several do)."""
        from raise_.analytics.runner import analyze, resolve_group

        project = self._at(3)
        name = group or resolve_group(self._executor, project, analysis)
        return analyze(self._executor, project, name, analysis, freshness)

    def analyze_async(self, analysis: "Analysis", *, group: str | None = None,
                      freshness: "Freshness | None" = None) -> "AnalysisJob":
        """Start ``analyze`` in a background worker and return its job at once:
        ``job.status`` (pending, running, completed, failed), ``job.wait(timeout=)``,
        ``job.refresh()``, ``job.result()``."""
        from raise_.analytics.jobs import submit

        self._at(3)  # a missing project fails here, not in the worker
        return submit(self._executor, analysis, lambda: self.analyze(analysis, freshness, group=group))

    def create_alert(self, name: str, analysis: "Analysis", condition: "Condition",
                     notify: Sequence[str] = (), channels: Sequence[str] | None = None,
                     check_interval: str = "1h", *, group: str | None = None) -> "Alert":
        """An alert on ``analysis`` over the project's group that has its features (or
        ``group=``): checked every ``check_interval`` by ``raise alerts check`` (or
        ``check_alerts()``), it writes a message per channel (default ``email``) to the local
        outbox when ``condition`` starts to hold."""
        from raise_.analytics.objects import create_alert
        from raise_.analytics.runner import resolve_group

        project = self._at(3)
        name_of_group = group or resolve_group(self._executor, project, analysis)
        return create_alert(self._executor, project, name_of_group, name, analysis, condition, notify,
                            channels or ("email",), check_interval)

    def list_alerts(self) -> "list[Alert]":
        """The analytics alerts of the context's project, each with its ``status``."""
        from raise_.analytics.objects import list_alerts

        return list_alerts(self._executor, self._at(3))

    def check_alerts(self, *, force: bool = False) -> list[dict[str, Any]]:
        """Check the project's due alerts now (``force``: all); one row per alert checked."""
        from raise_.analytics.objects import check_alerts

        return check_alerts(self._executor, self._at(3), force)

    # -- transforms ------------------------------------------------------------------------

    @property
    def transforms(self) -> "TransformsClient":
        """How this store's jobs deploy: ``fs.transforms.use_airflow(config, airflow_url)``,
        ``fs.transforms.generate_dag(job)``."""
        from raise_.jobs.airflow import TransformsClient

        if "_transforms" not in self.__dict__:
            self._transforms = TransformsClient(self)
        return self._transforms

    # -- jobs ------------------------------------------------------------------------------

    def create_job(self, name: str, sources: Any, transform: Any, target: Any, **options: Any) -> "Job":
        """A job of the context's project (``CREATE JOB``): ``sources``, ``transform``
        (``SQLTransform``, a ``@python_transform`` function, an inference transform),
        ``target`` (a ``Target`` or a group name), and ``schedule=``, ``incremental=``,
        ``quality_checks=``, ``executor=`` (``"local"``, ``"ray"``), ``tags=``,
        ``description=``, ``replace=``. It runs once ``activate()``d or deployed, or when triggered."""
        from raise_.jobs.client import create_job

        return create_job(self._executor, self._at(3), name, sources=sources, transform=transform,
                          target=target, **options)

    def get_job(self, name: str) -> "Job":
        from raise_.jobs.client import get_job

        return get_job(self._executor, self._at(3), name)

    def list_jobs(self, status: str | None = None, tags: Sequence[str] | None = None) -> "list[Job]":
        """The project's jobs; ``status`` (``created``, ``active``, ``paused``) and ``tags`` filter."""
        from raise_.jobs.client import list_jobs

        return list_jobs(self._executor, self._at(3), status, tags)

    def trigger_job(self, job: Any) -> str:
        """Run a job (or job name) now; the run's id (``job.runs[-1]`` has its outcome)."""
        from raise_.jobs.client import trigger_job

        return trigger_job(self._executor, self._at(3), job)

    def deploy_job(self, job: Any) -> "DeploymentResult":
        """Schedule a job: as an Airflow DAG when ``fs.transforms.use_airflow(...)`` configured
        one, else with the store's own scheduler (``raise serve``, ``raise jobs run-due``)."""
        from raise_.jobs.client import deploy_job

        airflow = getattr(getattr(self, "transforms", None), "airflow_config", None)
        return deploy_job(self._executor, self._at(3), job, airflow)

    # -- dashboards ------------------------------------------------------------------------

    def create_dashboard(self, name: str, description: str | None = None) -> "Dashboard":
        """An empty dashboard in the context's project (``CREATE DASHBOARD``): add parameters
        and charts, then ``render(format=)`` or ``publish()``."""
        from raise_.analytics.dashboard import create_dashboard

        return create_dashboard(self._executor, self._at(3), name, description)

    def dashboard(self, name: str) -> "Dashboard":
        """An existing dashboard of the context's project."""
        from raise_.analytics.dashboard import Dashboard

        board = Dashboard(self._executor, self._at(3), name)
        board.describe()  # a missing dashboard fails here
        return board

    def list_dashboards(self) -> "list[Dashboard]":
        """The dashboards of the context's project (``SHOW DASHBOARDS``)."""
        from raise_.analytics.dashboard import list_dashboards

        return list_dashboards(self._executor, self._at(3))

    # -- SQL -------------------------------------------------------------------------------

    def sql(self, query: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run Raise SQL in the context's project: ``fs.sql('SELECT ctr FROM "user-signals"')``."""
        try:
            if len(self._context) == 3:
                return self._executor.query(self._context, query, params)
            return self._executor.send(query, params)
        finally:
            self._executor.forget_current()

    # -- serving ---------------------------------------------------------------------------

    def get_training_data(self, entities: Any, features: Sequence[Any], *, timestamp_column: str = "event_time",
                          ttl: Any = None, inclusive: bool = True) -> pa.Table:
        """A point-in-time correct training set: for each entity row, each requested feature's
        value in its group's latest row at or before the row's ``timestamp_column``
        (``inclusive=False``: strictly before; rows older than ``ttl``, a ``timedelta`` or
        ``"7d"``, count as none). One output row per entity row, in their order, NULL where
        there is no such row; the entity columns, then one column per feature.

        ``entities``: a pyarrow Table, pandas or polars DataFrame, list of dicts, or a SQL
        query; ``features``: ``"group.feature"`` (``"group.feature@v1"``, full paths) or
        ``Feature`` objects. Compiles to one ``ASOF LEFT JOIN`` query (see ``fs.history``).

        >>> fs.get_training_data(labels, ["user-signals.click_count"])     # doctest: +SKIP
        """
        from raise_.serving import training

        return training.get_training_data(self._executor, self._at(3), entities, features,
                                          timestamp_column, ttl, inclusive)

    def materialize(self, features_or_groups: Any, since: int | None = None) -> pa.Table:
        """Copy the newest row per key of the named groups (or of the groups of the named
        features) into the online store, incrementally from the Delta change feed (``since``:
        from the changes after that table version). Returns each group's online status."""
        from raise_.serving import lookup

        return lookup.materialize(self._executor, self._at(3), features_or_groups, since)

    def get_online_features(self, features: Sequence[Any], entity_rows: Sequence[dict[str, Any]]) -> Any:
        """The online values of ``features`` for each entity row (``[{"user_id": 1}, ...]``),
        in that order, NULL for unknown keys: ``.to_dict()``, ``.to_arrow()``, ``.to_pandas()``."""
        from raise_.serving import lookup

        return lookup.get_online_features(self._executor, self._at(3), features, entity_rows)

    # -- display ---------------------------------------------------------------------------

    @property
    def audit(self) -> AuditClient:
        """The audit log: ``fs.audit.query(resource=\"user-signals/*\", actions=[\"READ\"])``."""
        return AuditClient(self._executor)

    def __repr__(self) -> str:
        return f"FeatureStore({self.context!r}, connection={self._executor.connection!r})"

    def _repr_html_(self) -> str:
        rows: list[tuple[str, Any]] = [("context", self.context), ("connection", repr(self.connection))]
        if len(self._context) == 3:
            try:
                groups = ", ".join(g.name for g in self.list_feature_groups()) or "none"
            except NotFound:
                groups = "none (the project is created on first use)"
            rows.append(("feature groups", groups))
        return html.card("FeatureStore", rows)


def _matches(feature: Feature, query: str | None) -> bool:
    if not query:
        return True
    text = " ".join([feature.name, feature.group, feature.description or "", *feature.tags]).lower()
    return query.lower() in text


def _split(path: str) -> tuple[str, ...]:
    if not isinstance(path, str):
        raise ValidationError(f"the context path is a string such as 'acme/ml/rec', got {path!r}",
                              name=repr(path))
    parts = tuple(path.strip("/").split("/"))
    if not 1 <= len(parts) <= 3 or not all(parts):
        raise ValidationError(f"invalid context {path!r}: write org, org/domain or org/domain/project",
                              name=path)
    return parts


def _levels(org: str | None, domain: str | None = None, project: str | None = None, *,
            offset: int = 0) -> tuple[str, ...]:
    """The given levels as a path; a level may not be given without the ones above it."""
    given = [v for v in (org, domain, project)]
    path: list[str] = []
    for index, value in enumerate(given):
        if value is None:
            if any(v is not None for v in given[index + 1:]):
                raise ValidationError(f"the {_LEVELS[offset + index + 1]} needs a "
                                      f"{_LEVELS[offset + index]}", name=str(given[index + 1]))
            break
        if not isinstance(value, str) or not value or "/" in value:
            raise ValidationError(f"invalid {_LEVELS[offset + index]} name {value!r}", name=str(value))
        path.append(value)
    return tuple(path)
