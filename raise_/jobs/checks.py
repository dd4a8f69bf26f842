"""Quality checks a job runs over its output before writing it: ``NullCheck``, ``RangeCheck``,
``RowCountCheck`` and the blob package's ``BlobIntegrityCheck``.

Every check has ``name``, ``severity`` (``CheckSeverity.ERROR``: a failure aborts the run
before anything is written; ``WARNING``: the run records it and goes on) and
``check(data) -> CheckReport`` usable on its own (a pyarrow Table, a DataFrame, or rows).

>>> import pyarrow as pa
>>> NullCheck(name="ids", column="user_id").check(pa.table({"user_id": [1, None]})).result
<CheckResult.FAILED: 'failed'>
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from grammar.errors import ValidationError
from grammar.jobs import JobCheck
from raise_.blobs.checks import BlobIntegrityCheck, CheckResult, CheckSeverity

__all__ = ["NullCheck", "RangeCheck", "RowCountCheck", "CheckReport", "as_check", "check_from", "table_of"]

BAD_CHECK = "RAISE-V505"


@dataclass(frozen=True, slots=True)
class CheckReport:
    """A check's outcome: ``result`` (``CheckResult``) and the figures in ``details``."""

    name: str
    result: CheckResult
    severity: CheckSeverity
    details: dict[str, Any]

    @property
    def passed(self) -> bool:
        return self.result is CheckResult.PASSED


def table_of(data: Any) -> pa.Table:
    """``data`` (Arrow, pandas, polars, rows, or columns) as a pyarrow Table."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False)
    if module == "polars":
        return data.to_arrow()
    if isinstance(data, Mapping):
        return pa.table(dict(data))
    if isinstance(data, (list, tuple)) and all(isinstance(row, Mapping) for row in data):
        return pa.Table.from_pylist(list(data))
    raise ValidationError(f"expected a pyarrow Table, a DataFrame or a list of rows, got {type(data).__name__}",
                          code=BAD_CHECK, name=type(data).__name__)


def _severity(value: Any) -> CheckSeverity:
    try:
        return CheckSeverity(value)
    except ValueError:
        raise ValidationError(f"severity must be one of {', '.join(s.name for s in CheckSeverity)}, got {value!r}",
                              code=BAD_CHECK, name=str(value)) from None


def _bound(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{name} must be a number, got {value!r}", code=BAD_CHECK, name=name)
    return value


class _Check:
    kind: str
    name: str
    severity: CheckSeverity

    def _report(self, failed: bool, details: dict[str, Any]) -> CheckReport:
        outcome = CheckResult.PASSED
        if failed:
            outcome = CheckResult.FAILED if self.severity is CheckSeverity.ERROR else CheckResult.WARNING
        return CheckReport(self.name, outcome, self.severity, details)

    def _column(self, table: pa.Table, column: str) -> pa.ChunkedArray:
        if column not in table.column_names:
            raise ValidationError(f"check {self.name!r}: no column {column!r}; columns: {', '.join(table.column_names)}",
                                  code=BAD_CHECK, name=column)
        return table.column(column)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.settings())})"


class NullCheck(_Check):
    """At most ``max_null_rate`` (0 to 1) of ``column`` may be NULL."""

    kind = "nulls"

    def __init__(self, name: str, column: str, max_null_rate: float = 0.0,
                 severity: CheckSeverity | str = CheckSeverity.ERROR) -> None:
        self.name, self.column = name, column
        self.max_null_rate = _bound(max_null_rate, "max_null_rate")
        self.severity = _severity(severity)

    def settings(self) -> tuple[tuple[str, Any], ...]:
        return (("name", self.name), ("column", self.column), ("max_null_rate", self.max_null_rate),
                ("severity", self.severity.value))

    def check(self, data: Any) -> CheckReport:
        table = table_of(data)
        values = self._column(table, self.column)
        rate = values.null_count / len(values) if len(values) else 0.0
        return self._report(rate > self.max_null_rate, {"row_count": len(values), "null_count": values.null_count,
                                                        "null_rate": rate, "max_null_rate": self.max_null_rate})


class RangeCheck(_Check):
    """Every non-NULL value of ``column`` lies in ``[min_value, max_value]`` (either may be open)."""

    kind = "range"

    def __init__(self, name: str, column: str, min_value: float | None = None, max_value: float | None = None,
                 severity: CheckSeverity | str = CheckSeverity.ERROR) -> None:
        self.name, self.column = name, column
        self.min_value, self.max_value = _bound(min_value, "min_value"), _bound(max_value, "max_value")
        self.severity = _severity(severity)

    def settings(self) -> tuple[tuple[str, Any], ...]:
        return (("name", self.name), ("column", self.column), ("min_value", self.min_value),
                ("max_value", self.max_value), ("severity", self.severity.value))

    def check(self, data: Any) -> CheckReport:
        values = self._column(table_of(data), self.column)
        outside = pa.scalar(False)
        if self.min_value is not None:
            outside = pc.or_(outside, pc.less(values, self.min_value))
        if self.max_value is not None:
            outside = pc.or_(outside, pc.greater(values, self.max_value))
        count = pc.sum(pc.cast(outside, pa.int64())).as_py() or 0 if len(values) else 0
        extremes = pc.min_max(values).as_py() if len(values) else {"min": None, "max": None}
        return self._report(count > 0, {"row_count": len(values), "out_of_range_count": count,
                                        "min": extremes["min"], "max": extremes["max"],
                                        "min_value": self.min_value, "max_value": self.max_value})


class RowCountCheck(_Check):
    """The output has at least ``min_rows`` and at most ``max_rows`` rows."""

    kind = "row_count"
    column = None

    def __init__(self, name: str, min_rows: int | None = None, max_rows: int | None = None,
                 severity: CheckSeverity | str = CheckSeverity.ERROR) -> None:
        self.name = name
        self.min_rows, self.max_rows = _bound(min_rows, "min_rows"), _bound(max_rows, "max_rows")
        self.severity = _severity(severity)

    def settings(self) -> tuple[tuple[str, Any], ...]:
        return (("name", self.name), ("min_rows", self.min_rows), ("max_rows", self.max_rows),
                ("severity", self.severity.value))

    def check(self, data: Any) -> CheckReport:
        rows = table_of(data).num_rows
        failed = (self.min_rows is not None and rows < self.min_rows) or \
            (self.max_rows is not None and rows > self.max_rows)
        return self._report(failed, {"row_count": rows, "min_rows": self.min_rows, "max_rows": self.max_rows})


_BLOB_SETTINGS = ("column", "verify_checksum", "verify_existence", "max_missing_rate", "max_invalid_rate",
                  "sample_rate", "seed")
_KINDS: dict[str, type] = {"nulls": NullCheck, "range": RangeCheck, "row_count": RowCountCheck,
                           "blob_integrity": BlobIntegrityCheck}


def as_check(check: Any) -> JobCheck:
    """The ``CHECK name kind (...)`` form of a check object."""
    if isinstance(check, BlobIntegrityCheck):
        settings = tuple((k, getattr(check, k)) for k in _BLOB_SETTINGS) + (("severity", check.severity.value),)
        return JobCheck(name=check.name, kind="blob_integrity", settings=settings)
    if not isinstance(check, _Check):
        raise ValidationError(f"a quality check is NullCheck, RangeCheck, RowCountCheck or BlobIntegrityCheck, "
                              f"got {check!r}", code=BAD_CHECK, name=type(check).__name__)
    return JobCheck(name=check.name, kind=check.kind,
                    settings=tuple((k, v) for k, v in check.settings() if k != "name" and v is not None))


def check_from(spec: JobCheck) -> Any:
    """The check object a ``CHECK`` clause describes."""
    cls = _KINDS.get(spec.kind)
    if cls is None:
        raise ValidationError(f"unknown check kind {spec.kind!r}; kinds: {', '.join(_KINDS)}", code=BAD_CHECK,
                              name=spec.kind)
    try:
        return cls(name=spec.name, **dict(spec.settings))
    except TypeError as error:
        raise ValidationError(f"check {spec.name!r} ({spec.kind}): {error}", code=BAD_CHECK, name=spec.name) from None
