"""Analytics: analyses of a feature group's data, run by the engine as SQL.

>>> from raise_ import Aggregation, Freshness
>>> result = user_signals.analyze(Aggregation(feature="click_count", metrics=["sum"]))  # doctest: +SKIP
>>> result.metrics                                                                       # doctest: +SKIP
{'sum': 150000}

An analysis is a spec (``spec``) that compiles to one SQL query over its group
(``compile``); the engine computes it like any query, under the caller's rights, and
``finish`` turns the small table it returns into the result (``results``). ``freshness``
caches results by table version; ``jobs`` runs analyses in the background. Live tables
(``live``) and alerts (``alerts``) are catalog objects whose analyses the engine runs itself
(``inside``); ``objects`` is their SDK side.
"""
from raise_.analytics.freshness import Freshness
from raise_.analytics.jobs import AnalysisJob
from raise_.analytics.objects import Alert, LiveTable, RefreshEvent
from raise_.analytics.policy import Condition, RefreshPolicy
from raise_.analytics.results import (
    AggregationResult, AnalysisResult, CorrelationResult, DistributionResult, RecordLookupResult,
    StatTestResult, VersionDiffResult,
)
from raise_.analytics.spec import (
    Aggregation, Analysis, Correlation, Distribution, RecordLookup, StatTest, VersionDiff,
)

__all__ = [
    "Analysis", "Aggregation", "Distribution", "Correlation", "VersionDiff", "StatTest",
    "RecordLookup", "Freshness", "AnalysisJob", "AnalysisResult", "AggregationResult",
    "DistributionResult", "CorrelationResult", "VersionDiffResult", "StatTestResult",
    "RecordLookupResult", "RefreshPolicy", "Condition", "LiveTable", "RefreshEvent", "Alert",
]
