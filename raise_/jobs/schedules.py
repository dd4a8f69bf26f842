"""When a job runs (``Schedule``) and which rows each run reads (``IncrementalConfig``).

>>> Schedule.daily(hour=2, minute=30).cron
'30 2 * * *'
>>> Schedule.hourly(minute=15).next_run(datetime(2026, 1, 1, 10, 20, tzinfo=timezone.utc)).isoformat()
'2026-01-01T11:15:00+00:00'
>>> IncrementalConfig.incremental("event_time", lookback="1h").lookback
'1h'
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence


from grammar.errors import ValidationError

__all__ = ["Schedule", "IncrementalConfig", "interval"]

BAD_SCHEDULE = "RAISE-V502"
BAD_INCREMENTAL = "RAISE-V503"
_INTERVAL = re.compile(r"\A\s*(\d+)\s*(s|m|h|d|w)\s*\Z", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def interval(text: str, what: str = "interval") -> timedelta:
    """``"30m"`` -> 30 minutes (units s, m, h, d, w)."""
    match = _INTERVAL.match(text) if isinstance(text, str) else None
    if match is None or int(match.group(1)) == 0:
        raise ValidationError(f"{what} {text!r} is not a positive duration such as '30m', '1h' or '7d'",
                              code=BAD_SCHEDULE, name=str(text))
    return timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})


def _now() -> datetime:
    return datetime.now(timezone.utc)


class _CronAccess:
    """``Schedule.cron("0 */6 * * *")`` makes a schedule; ``schedule.cron`` is its cron text
    (None for interval, on-change and manual schedules)."""

    def __get__(self, instance: "Schedule | None", owner: type) -> Any:
        if instance is None:
            return owner._from_cron
        return instance.expression if instance.kind == "cron" else None


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a job runs: ``kind`` is ``cron``, ``every``, ``on_change`` or ``manual``.

    ``daily``/``hourly`` are cron schedules; ``on_change`` runs when one of the named sources
    (all of them by default) has a new Delta version or a changed file listing."""

    kind: str
    expression: str | None = None
    sources: tuple[str, ...] | None = None

    cron = _CronAccess()

    @classmethod
    def _from_cron(cls, expression: str) -> "Schedule":
        from croniter import croniter  # loaded here: only a schedule needs it, not every start

        if not isinstance(expression, str) or not croniter.is_valid(expression):
            raise ValidationError(f"{expression!r} is not a cron expression (minute hour day month weekday)",
                                  code=BAD_SCHEDULE, name=str(expression))
        return cls("cron", expression)

    @classmethod
    def daily(cls, hour: int = 0, minute: int = 0) -> "Schedule":
        _check_range(hour, 23, "hour")
        _check_range(minute, 59, "minute")
        return cls("cron", f"{minute} {hour} * * *")

    @classmethod
    def hourly(cls, minute: int = 0) -> "Schedule":
        _check_range(minute, 59, "minute")
        return cls("cron", f"{minute} * * * *")

    @classmethod
    def every(cls, duration: str) -> "Schedule":
        interval(duration, "Schedule.every")
        return cls("every", duration)

    @classmethod
    def on_change(cls, sources: Sequence[str] | None = None) -> "Schedule":
        return cls("on_change", None, tuple(sources) if sources else None)

    @classmethod
    def manual(cls) -> "Schedule":
        return cls("manual")

    def next_run(self, after: datetime | None = None) -> datetime | None:
        """The next time this schedule runs a job after ``after`` (now by default); None for
        on-change and manual schedules, which have no clock."""
        after = after or _now()
        if self.kind == "cron":
            from croniter import croniter

            return croniter(self.expression, after).get_next(datetime)
        if self.kind == "every":
            return after + interval(self.expression)
        return None

    def due(self, last_run: datetime | None, now: datetime | None = None) -> bool:
        """Whether a clock schedule has a run time in ``(last_run, now]`` (never run: due)."""
        if self.kind not in ("cron", "every"):
            return False
        now = now or _now()
        return last_run is None or self.next_run(last_run) <= now

    def __repr__(self) -> str:
        if self.kind == "on_change":
            return f"Schedule.on_change(sources={list(self.sources) if self.sources else None})"
        if self.kind == "manual":
            return "Schedule.manual()"
        return f"Schedule.{self.kind}({self.expression!r})"


def _check_range(value: Any, top: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise ValidationError(f"{name} must be an integer from 0 to {top}, got {value!r}", code=BAD_SCHEDULE,
                              name=name)


@dataclass(frozen=True, slots=True)
class IncrementalConfig:
    """Which source rows a run reads, and how its output is written.

    ``full``: every row, the target recomputed; ``incremental``: rows whose
    ``checkpoint_column`` is past the checkpoint (minus ``lookback``, for late rows);
    ``append``: rows past the checkpoint, appended; ``upsert``: rows past the checkpoint,
    merged on ``key_columns``. The checkpoint is the largest value a run read, committed with
    its write."""

    mode: str = "full"
    checkpoint_column: str | None = None
    lookback: str | None = None
    key_columns: tuple[str, ...] | None = None

    @classmethod
    def full(cls) -> "IncrementalConfig":
        return cls("full")

    @classmethod
    def incremental(cls, checkpoint_column: str, lookback: str | None = None) -> "IncrementalConfig":
        if lookback is not None:
            interval(lookback, "lookback")
        return cls("incremental", _column(checkpoint_column), lookback)

    @classmethod
    def append(cls, checkpoint_column: str) -> "IncrementalConfig":
        return cls("append", _column(checkpoint_column))

    @classmethod
    def upsert(cls, key_columns: Sequence[str], checkpoint_column: str) -> "IncrementalConfig":
        if isinstance(key_columns, str) or not key_columns:
            raise ValidationError("IncrementalConfig.upsert needs key_columns, a list of column names",
                                  code=BAD_INCREMENTAL, name=str(key_columns))
        return cls("upsert", _column(checkpoint_column), None, tuple(key_columns))


def _column(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise ValidationError(f"checkpoint_column must be a column name, got {name!r}", code=BAD_INCREMENTAL,
                              name=repr(name))
    return name
