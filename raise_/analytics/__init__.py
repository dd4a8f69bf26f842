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

Names are loaded on first use, so that the engine's analytics statements (``alerts``,
``live``) load without the SDK side and its results (pandas, HTML).
"""
from __future__ import annotations

from raise_.lazy import exports

#: Where each public name lives.
_MODULES: dict[str, tuple[str, ...]] = {
    "raise_.analytics.freshness": ("Freshness",),
    "raise_.analytics.jobs": ("AnalysisJob",),
    "raise_.analytics.objects": ("Alert", "LiveTable", "RefreshEvent"),
    "raise_.analytics.policy": ("Condition", "RefreshPolicy"),
    "raise_.analytics.results": (
        "AggregationResult", "AnalysisResult", "CorrelationResult", "DistributionResult",
        "RecordLookupResult", "StatTestResult", "VersionDiffResult",
    ),
    "raise_.analytics.spec": (
        "Aggregation", "Analysis", "Correlation", "Distribution", "RecordLookup", "StatTest", "VersionDiff",
    ),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "Analysis", "Aggregation", "Distribution", "Correlation", "VersionDiff", "StatTest",
    "RecordLookup", "Freshness", "AnalysisJob", "AnalysisResult", "AggregationResult",
    "DistributionResult", "CorrelationResult", "VersionDiffResult", "StatTestResult",
    "RecordLookupResult", "RefreshPolicy", "Condition", "LiveTable", "RefreshEvent", "Alert",
]


__getattr__, __dir__ = exports(__name__, {name: _EXPORTS[name] for name in __all__})
