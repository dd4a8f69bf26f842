"""Analyses as specs: frozen values that say what to compute, not how.

Each analysis checks its own arguments when it is built (an unknown metric, a malformed
window or a bad ``bins`` fails here, before anything is sent), round-trips through a plain
dict (``Analysis.from_dict(a.to_dict()) == a``, so a catalog object such as a live table can
store one as JSON), and compiles to one SQL query over its group (``raise_.analytics.compile``).

>>> Aggregation(feature="click_count", metrics=["sum"], window="7d").to_dict()["window"]
'7d'
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence

from grammar.errors import ValidationError

__all__ = [
    "Analysis", "Aggregation", "Distribution", "Correlation", "VersionDiff", "StatTest",
    "RecordLookup", "Duration", "parse_duration", "AGGREGATION_METRICS", "ROLLING_METRICS",
    "DISTRIBUTION_METRICS", "CORRELATION_METHODS", "STAT_TESTS", "PERCENTILES",
]

AGGREGATION_METRICS = ("count", "sum", "avg", "min", "max", "null_rate", "stddev", "variance",
                       "median", "distinct_count")
# Metrics a trailing window can combine exactly from per-window partial aggregates.
ROLLING_METRICS = ("count", "sum", "avg", "min", "max", "null_rate", "stddev", "variance")
DISTRIBUTION_METRICS = ("histogram", "percentiles")
PERCENTILES = (50, 75, 90, 95, 99)
CORRELATION_METHODS = ("pearson", "spearman", "kendall")
STAT_TESTS = ("ttest", "mann_whitney", "chi_squared", "ks_test")
VERSION_DIFF_PARTS = ("schema", "distribution")

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": ("SECONDS", 1), "m": ("MINUTES", 60), "h": ("HOURS", 3600), "d": ("DAYS", 86400),
          "w": ("DAYS", 7 * 86400)}


@dataclass(frozen=True, slots=True)
class Duration:
    """A length of time written the spec's way (``"7d"``, ``"1h"``, ``"30m"``, ``"2w"``)."""

    text: str
    count: int  # in ``unit`` (weeks count as 7 days)
    unit: str  # the SQL interval unit: SECONDS, MINUTES, HOURS or DAYS
    seconds: int

    def times(self, factor: int) -> "Duration":
        """This duration ``factor`` times over."""
        return Duration(f"{factor}x{self.text}", self.count * factor, self.unit, self.seconds * factor)

    @property
    def timedelta(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.seconds)


def parse_duration(text: Any, what: str = "window") -> Duration:
    """``"7d"`` -> 7 days; a count and one of s, m, h, d, w (RAISE-V402 otherwise)."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if not match or int(match.group(1)) == 0:
        raise ValidationError(
            f"{what} {text!r} is not a duration: write a positive count and a unit, e.g. '30s', "
            "'15m', '1h', '7d' or '2w'", code="RAISE-V402", name=str(text))
    count, letter = int(match.group(1)), match.group(2)
    unit, seconds = _UNITS[letter]
    sql_count = count * 7 if letter == "w" else count
    return Duration(f"{count}{letter}", sql_count, unit, count * seconds)


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{what} is a column name, got {value!r}", code="RAISE-V405", name=repr(value))
    return value


def _names(value: Any, what: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    """A name or a list of names as a tuple."""
    names = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, (list, tuple)) else None
    if names is None or not all(isinstance(n, str) and n for n in names) or (not names and not allow_empty):
        raise ValidationError(f"{what} is a name or a list of names, got {value!r}",
                              code="RAISE-V405", name=repr(value))
    if len(set(names)) != len(names):
        raise ValidationError(f"{what} names a column twice: {list(names)}", code="RAISE-V405",
                              name=repr(value))
    return names


def _choices(values: Any, allowed: Sequence[str], what: str, code: str) -> tuple[str, ...]:
    chosen = _names(values, what)
    for value in chosen:
        if value not in allowed:
            raise ValidationError(f"unknown {what[:-1] if what.endswith('s') else what} {value!r}; "
                                  f"choose from {', '.join(allowed)}", code=code, name=value)
    return chosen


def _positive(value: Any, what: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(f"{what} must be an integer >= {minimum}, got {value!r}",
                              code="RAISE-V405", name=repr(value))
    return value


class Analysis:
    """Base of every analysis spec: ``to_dict()`` / ``Analysis.from_dict()`` and the columns
    it reads (checked against the group before its query runs)."""

    kind: ClassVar[str]
    _kinds: ClassVar[dict[str, type["Analysis"]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Analysis._kinds[cls.kind] = cls

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "aggregation", "feature": ..., ...}``: JSON-ready, lists for tuples."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {"kind": self.kind, **{k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> "Analysis":
        """The analysis ``to_dict()`` described (its arguments are checked again)."""
        kind = data.get("kind") if isinstance(data, Mapping) else None
        cls = Analysis._kinds.get(kind)
        if cls is None:
            raise ValidationError(f"not an analysis: kind {kind!r}; kinds: {', '.join(Analysis._kinds)}",
                                  code="RAISE-V400", name=str(kind))
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields - {"kind"})
        if unknown:
            raise ValidationError(f"{cls.__name__} has no argument {unknown[0]!r}; arguments: "
                                  f"{', '.join(sorted(fields))}", code="RAISE-V400", name=unknown[0])
        return cls(**{k: v for k, v in data.items() if k != "kind"})

    def columns(self) -> tuple[str, ...]:
        """Every column of the group this analysis reads."""
        raise NotImplementedError

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)


@dataclass(frozen=True, kw_only=True)
class Aggregation(Analysis):
    """Metrics of one feature, optionally per ``group_by`` column(s) and per tumbling ``window``
    of the group's event time (``date`` holds each window's start; windows are aligned to
    1970-01-01 00:00 UTC). ``rolling=True, periods=N``: the last N windows, each with the
    metric over the trailing N windows. NULLs are left out as SQL does; ``null_rate`` is the
    share of NULLs over all rows; ``stddev``/``variance`` are sample statistics (n - 1)."""

    kind: ClassVar[str] = "aggregation"
    feature: str
    metrics: Sequence[str] = ("count", "sum", "avg", "min", "max", "null_rate")
    window: str | None = None
    group_by: str | Sequence[str] | None = None
    rolling: bool = False
    periods: int | None = None

    def __post_init__(self) -> None:
        _name(self.feature, "feature")
        self._set("metrics", _choices(self.metrics, AGGREGATION_METRICS, "metrics", "RAISE-V401"))
        if self.window is not None:
            self._set("window", parse_duration(self.window).text)
        if self.group_by is not None:
            self._set("group_by", _names(self.group_by, "group_by"))
        if not isinstance(self.rolling, bool):
            raise ValidationError(f"rolling is True or False, got {self.rolling!r}", code="RAISE-V405",
                                  name=repr(self.rolling))
        self._check_rolling()

    def _check_rolling(self) -> None:
        if not self.rolling:
            if self.periods is not None:
                raise ValidationError("periods= applies to rolling=True aggregations", code="RAISE-V405",
                                      name="periods")
            return
        if self.window is None:
            raise ValidationError("a rolling aggregation needs window= (the length of one period)",
                                  code="RAISE-V402", name="window")
        self._set("periods", _positive(self.periods, "periods"))
        for metric in self.metrics:
            if metric not in ROLLING_METRICS:
                raise ValidationError(f"metric {metric!r} cannot roll over trailing windows; rolling "
                                      f"metrics: {', '.join(ROLLING_METRICS)}", code="RAISE-V401", name=metric)

    @property
    def duration(self) -> Duration | None:
        return None if self.window is None else parse_duration(self.window)

    def columns(self) -> tuple[str, ...]:
        return (self.feature, *(self.group_by or ()))


@dataclass(frozen=True, kw_only=True)
class Distribution(Analysis):
    """A feature's histogram (``bins`` equal-width bins from its minimum to its maximum, the
    last bin closed, as ``numpy.histogram``; segments share the edges) and percentiles p50,
    p75, p90, p95, p99 by linear interpolation (``numpy.percentile``'s default, SQL's
    ``PERCENTILE_CONT``), optionally per ``segment_by`` value."""

    kind: ClassVar[str] = "distribution"
    feature: str
    metrics: Sequence[str] = ("histogram", "percentiles")
    bins: int = 10
    segment_by: str | None = None

    def __post_init__(self) -> None:
        _name(self.feature, "feature")
        self._set("metrics", _choices(self.metrics, DISTRIBUTION_METRICS, "metrics", "RAISE-V401"))
        self._set("bins", _positive(self.bins, "bins"))
        if self.bins > 10_000:
            raise ValidationError(f"bins must be at most 10000, got {self.bins}", code="RAISE-V405",
                                  name=str(self.bins))
        if self.segment_by is not None:
            _name(self.segment_by, "segment_by")

    def columns(self) -> tuple[str, ...]:
        return (self.feature, *([self.segment_by] if self.segment_by else []))


@dataclass(frozen=True, kw_only=True)
class Correlation(Analysis):
    """Pairwise correlation of numeric features over the rows where all of them are set
    (``df.dropna().corr(method)`` in pandas). Pearson and Spearman (Pearson over average ranks)
    run in SQL; Kendall's tau-b brings the rows back and uses ``scipy.stats.kendalltau``."""

    kind: ClassVar[str] = "correlation"
    features: Sequence[str]
    method: str = "pearson"

    def __post_init__(self) -> None:
        self._set("features", _names(self.features, "features"))
        if len(self.features) < 2:
            raise ValidationError("a correlation needs at least two features", code="RAISE-V405",
                                  name=repr(list(self.features)))
        _choices(self.method, CORRELATION_METHODS, "method", "RAISE-V401")

    def columns(self) -> tuple[str, ...]:
        return tuple(self.features)


@dataclass(frozen=True, kw_only=True)
class VersionDiff(Analysis):
    """What changed between two versions of a feature: ``schema`` (every catalog attribute
    that differs) and ``distribution`` (PSI and KL divergence; see ``raise_.analytics.stats``
    for the binning and, for embeddings, the L2-norm projection)."""

    kind: ClassVar[str] = "version_diff"
    feature: str
    version_a: str
    version_b: str
    compare: Sequence[str] = ("schema", "distribution")

    def __post_init__(self) -> None:
        _name(self.feature, "feature")
        for name in ("version_a", "version_b"):
            value = getattr(self, name)
            if not isinstance(value, str) or not re.fullmatch(r"v\d+", value):
                raise ValidationError(f"{name} is a version such as 'v1', got {value!r}", code="RAISE-V405",
                                      name=repr(value))
        self._set("compare", _choices(self.compare, VERSION_DIFF_PARTS, "compare", "RAISE-V401"))

    def columns(self) -> tuple[str, ...]:
        return (f"{self.feature}@{self.version_a}", f"{self.feature}@{self.version_b}")


@dataclass(frozen=True, kw_only=True)
class StatTest(Analysis):
    """A two-sample test of ``feature`` between the rows whose ``segment_by`` is ``control``
    and those whose ``segment_by`` is ``treatment``: ``ttest`` (Welch), ``mann_whitney``,
    ``chi_squared`` (segment x value contingency table) or ``ks_test``; ``confidence`` is the
    level of the confidence interval of the difference (treatment - control)."""

    kind: ClassVar[str] = "stat_test"
    feature: str
    test: str
    segment_by: str
    control: Any
    treatment: Any
    confidence: float = 0.95

    def __post_init__(self) -> None:
        _name(self.feature, "feature")
        _name(self.segment_by, "segment_by")
        _choices(self.test, STAT_TESTS, "test", "RAISE-V401")
        for name in ("control", "treatment"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise ValidationError(f"{name} is a value of {self.segment_by!r} (a string or a number), "
                                      f"got {value!r}", code="RAISE-V407", name=repr(value))
        if self.control == self.treatment:
            raise ValidationError(f"control and treatment are the same segment {self.control!r}",
                                  code="RAISE-V407", name=repr(self.control))
        if isinstance(self.confidence, bool) or not isinstance(self.confidence, float) \
                or not 0 < self.confidence < 1:
            raise ValidationError(f"confidence is a level between 0 and 1, got {self.confidence!r}",
                                  code="RAISE-V405", name=repr(self.confidence))

    def columns(self) -> tuple[str, ...]:
        return (self.feature, self.segment_by)


@dataclass(frozen=True, kw_only=True)
class RecordLookup(Analysis):
    """Rows to look at: ``sample=N`` draws N rows at random (the same rows for the same
    ``seed`` and data), ``filter=`` keeps rows matching a SQL condition (authorized like any
    query), ``limit=`` caps the rows returned (default 100). Key and event-time columns come
    first in each record."""

    kind: ClassVar[str] = "record_lookup"
    features: Sequence[str]
    sample: int | None = None
    filter: str | None = None
    limit: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        self._set("features", _names(self.features, "features"))
        if self.sample is not None:
            _positive(self.sample, "sample")
        if self.limit is not None:
            _positive(self.limit, "limit")
        if self.seed is not None:
            _positive(self.seed, "seed", minimum=0)
        if self.filter is not None and (not isinstance(self.filter, str) or not self.filter.strip()):
            raise ValidationError("filter is a SQL condition such as \"user_tier = 'gold'\"",
                                  code="RAISE-V405", name=repr(self.filter))

    def columns(self) -> tuple[str, ...]:
        return tuple(self.features)

    @property
    def rows(self) -> int:
        """How many rows the lookup returns at most."""
        caps = [n for n in (self.sample, self.limit) if n is not None]
        return min(caps) if caps else 100

