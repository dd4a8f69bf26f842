"""How fresh a result must be, and the cache that answers when it need not be recomputed.

Results are cached per connection, keyed by the group, the analysis (its dict), the group's
Delta table version and the versions of the features it reads: a write makes a new table
version and a new feature version changes what a name means, so either one makes earlier
entries unreachable. ``Freshness``:

- ``REAL_TIME`` (and ``freshness=None``): always run the query (the result is cached).
- ``WITHIN("1h")``: a cached result for the current table version computed in the last hour.
- ``CACHED``: any cached result for the current table version.
"""
from __future__ import annotations

import datetime as dt
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Hashable

from grammar.errors import ValidationError
from raise_.analytics.spec import parse_duration

if TYPE_CHECKING:
    from raise_.analytics.results import AnalysisResult

__all__ = ["Freshness", "ResultCache", "as_freshness"]


@dataclass(frozen=True)
class Freshness:
    """``Freshness.REAL_TIME``, ``Freshness.WITHIN("1h")`` or ``Freshness.CACHED``."""

    mode: str
    max_age: dt.timedelta | None = None

    REAL_TIME: ClassVar["Freshness"]  # set below: instances of the class itself
    CACHED: ClassVar["Freshness"]

    @staticmethod
    def WITHIN(age: str) -> "Freshness":  # noqa: N802 - the spec's spelling
        """A cached result computed at most ``age`` ago (``"30m"``, ``"1h"``, ``"1d"``)."""
        return Freshness("within", parse_duration(age, "freshness").timedelta)

    def accepts(self, result: "AnalysisResult", now: dt.datetime) -> bool:
        if self.mode == "cached":
            return True
        return self.mode == "within" and now - result.computed_at <= self.max_age

    def __repr__(self) -> str:
        if self.mode == "within":
            return f"Freshness.WITHIN({self.max_age})"
        return f"Freshness.{self.mode.upper()}"


Freshness.REAL_TIME = Freshness("real_time")
Freshness.CACHED = Freshness("cached")


def as_freshness(value: Any) -> Freshness:
    if value is None:
        return Freshness.REAL_TIME
    if not isinstance(value, Freshness):
        raise ValidationError(f"freshness is Freshness.REAL_TIME, Freshness.WITHIN('1h') or "
                              f"Freshness.CACHED, got {value!r}", code="RAISE-V405", name=repr(value))
    return value


class ResultCache:
    """A bounded least-recently-used map of analysis results (thread-safe: async jobs share it)."""

    def __init__(self, capacity: int = 256) -> None:
        self._entries: OrderedDict[Hashable, "AnalysisResult"] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    @staticmethod
    def key(group: str, analysis: dict[str, Any], table_version: int | None,
            feature_versions: dict[str, str]) -> Hashable:
        return (group, json.dumps(analysis, sort_keys=True, default=str), table_version,
                tuple(sorted(feature_versions.items())))

    def get(self, key: Hashable, freshness: Freshness) -> "AnalysisResult | None":
        if freshness.mode == "real_time":
            return None
        with self._lock:
            found = self._entries.get(key)
            if found is None or not freshness.accepts(found, dt.datetime.now(dt.timezone.utc)):
                return None
            self._entries.move_to_end(key)
        return found.cached()

    def put(self, key: Hashable, result: "AnalysisResult") -> None:
        with self._lock:
            self._entries[key] = result
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
