"""``BlobIntegrityCheck``: a quality check over a column of blob references.

>>> check = BlobIntegrityCheck(name="check_image_integrity", column="image_ref",
...                            max_missing_rate=0.01, max_invalid_rate=0.0)      # doctest: +SKIP
>>> check.check(table).result                                                     # doctest: +SKIP
<CheckResult.PASSED: 'passed'>

The column may hold ``blob_ref`` structs (as a feature group's ``read()`` returns them),
``BlobReference`` objects, dicts or URI strings; ``data`` is a pyarrow Table, a pandas or polars
DataFrame, a list of row dicts, or the column's values themselves. A sampled share
(``sample_rate``, deterministic for a given ``seed``) is validated in parallel; the check
fails when the missing or invalid (size or checksum mismatch) rate of the checked references
exceeds its bound.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Mapping, Sequence

import pyarrow as pa

from grammar.errors import ValidationError
from raise_.blobs.columns import reference_of
from raise_.blobs.integrity import (
    BAD_SETTING, DEFAULT_CONCURRENCY, BlobStatus, BlobValidationResult, validate_references,
)

__all__ = ["BlobIntegrityCheck", "BlobCheckResult", "CheckResult", "CheckSeverity"]


class CheckSeverity(StrEnum):
    """How a failed check counts: ERROR fails its pipeline, WARNING only reports."""

    ERROR = "error"
    WARNING = "warning"


class CheckResult(StrEnum):
    """Outcome of a quality check."""

    PASSED = "passed"
    FAILED = "failed"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class BlobCheckResult:
    """``result`` (``CheckResult``), the counts in ``details`` and the failed validations."""

    name: str
    result: CheckResult
    severity: CheckSeverity
    details: dict[str, Any]
    failures: tuple[BlobValidationResult, ...] = field(default=(), repr=False)

    @property
    def passed(self) -> bool:
        return self.result is CheckResult.PASSED

    def _repr_html_(self) -> str:
        from raise_.sdk import html  # here: raise_.sdk itself imports this package
        return html.card(f"{self.name}: {self.result.name}", list(self.details.items()))


def _rate(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValidationError(f"{name} must be a number between 0 and 1, got {value!r}", code=BAD_SETTING, name=name)
    return float(value)


class BlobIntegrityCheck:
    """Checks that the references in ``column`` point at existing, unchanged blobs."""

    def __init__(self, name: str, column: str, verify_checksum: bool = True, verify_existence: bool = True,
                 max_missing_rate: float = 0.0, max_invalid_rate: float = 0.0, sample_rate: float = 1.0,
                 severity: CheckSeverity | str = CheckSeverity.ERROR, *, seed: int = 0,
                 max_workers: int = DEFAULT_CONCURRENCY, storage_options: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.column = column
        self.verify_checksum = bool(verify_checksum)
        self.verify_existence = bool(verify_existence)
        self.max_missing_rate = _rate(max_missing_rate, "max_missing_rate")
        self.max_invalid_rate = _rate(max_invalid_rate, "max_invalid_rate")
        self.sample_rate = _rate(sample_rate, "sample_rate")
        try:
            self.severity = CheckSeverity(severity)
        except ValueError:
            raise ValidationError(f"severity must be one of {', '.join(s.name for s in CheckSeverity)}, got "
                                  f"{severity!r}", code=BAD_SETTING, name=str(severity)) from None
        self.seed = seed
        self.max_workers = max_workers
        self.storage_options = dict(storage_options or {})

    def __repr__(self) -> str:
        return f"BlobIntegrityCheck(name={self.name!r}, column={self.column!r})"

    def check(self, data: Any) -> BlobCheckResult:
        """Validate the column's references in ``data`` and judge the rates."""
        values = _column(data, self.column)
        refs = [reference_of(v, self.column) for v in values]
        present = [r for r in refs if r is not None]
        sample = self._sample(present)
        results = validate_references(sample, verify_checksum=self.verify_checksum, max_workers=self.max_workers,
                                      options=self.storage_options) if self.verify_existence or self.verify_checksum else []
        counts = {s: sum(r.status is s for r in results) for s in BlobStatus}
        missing = counts[BlobStatus.MISSING] if self.verify_existence else 0
        invalid = counts[BlobStatus.SIZE_MISMATCH] + counts[BlobStatus.CHECKSUM_MISMATCH]
        checked = len(results)
        details = {
            "total_references": len(present), "null_references": len(refs) - len(present),
            "checked_count": checked, "valid_count": counts[BlobStatus.VALID], "missing_count": missing,
            "invalid_count": invalid, "size_mismatch_count": counts[BlobStatus.SIZE_MISMATCH],
            "checksum_mismatch_count": counts[BlobStatus.CHECKSUM_MISMATCH],
            "unreachable_count": counts[BlobStatus.UNREACHABLE],
            "missing_rate": missing / checked if checked else 0.0,
            "invalid_rate": invalid / checked if checked else 0.0,
        }
        failed = details["missing_rate"] > self.max_missing_rate or details["invalid_rate"] > self.max_invalid_rate
        outcome = CheckResult.PASSED
        if failed:
            outcome = CheckResult.FAILED if self.severity is CheckSeverity.ERROR else CheckResult.WARNING
        failures = tuple(r for r in results if not r.valid)
        return BlobCheckResult(self.name, outcome, self.severity, details, failures)

    def _sample(self, refs: list) -> list:
        if self.sample_rate >= 1.0 or not refs:
            return refs
        size = math.ceil(len(refs) * self.sample_rate)
        picked = sorted(random.Random(self.seed).sample(range(len(refs)), size))
        return [refs[i] for i in picked]


def _column(data: Any, column: str) -> Sequence[Any]:
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        if column not in data.column_names:
            raise _no_column(column, data.column_names)
        return data.column(column).to_pylist()
    if hasattr(data, "columns") and type(data).__module__.split(".")[0] in ("pandas", "polars"):
        if column not in data.columns:
            raise _no_column(column, list(data.columns))
        return list(data[column])
    if isinstance(data, Mapping):
        if column not in data:
            raise _no_column(column, list(data))
        return list(data[column])
    if isinstance(data, (list, tuple)):
        if any(isinstance(row, Mapping) and column in row for row in data):
            return [row.get(column) if isinstance(row, Mapping) else None for row in data]
        return list(data)
    raise ValidationError(f"check() takes a pyarrow Table, a DataFrame, rows or references, got "
                          f"{type(data).__name__}", code="RAISE-V304", name=type(data).__name__)


def _no_column(column: str, names: Sequence[Any]) -> ValidationError:
    return ValidationError(f"no column {column!r} to check; columns: {', '.join(map(str, names))}",
                           code="RAISE-V053", name=column)
