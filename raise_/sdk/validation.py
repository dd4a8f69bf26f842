"""``ValidationResult``: what ``VALIDATE CREATE FEATURE`` found, as Python objects.

>>> result = group.validate_feature("ctr", dtype="float64",
...                                 derived_from="click_count / impression_count")  # doctest: +SKIP
>>> result.valid, result.inferred_type, [r.name for r in result.references]       # doctest: +SKIP
(True, 'float64', ['click_count', 'impression_count'])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grammar.errors import RaiseError
from raise_.sdk import html

__all__ = ["ValidationResult", "ValidationIssue", "Reference"]


@dataclass(frozen=True)
class Reference:
    """A feature the expression reads: as written (``path``), its ``name``, the catalog key it
    resolves to (``target``), its ``dtype`` and whether it ``exists`` yet."""

    path: str
    name: str
    target: str | None = None
    dtype: str | None = None
    exists: bool = False

    def __repr__(self) -> str:
        return f"Reference({self.path}{'' if self.exists else ', missing'})"


@dataclass(frozen=True)
class ValidationIssue:
    """An error or warning with a stable ``code`` (``RAISE-V040``) and the ``name`` it is about."""

    code: str
    message: str
    name: str | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class ValidationResult:
    """``valid`` is False when there is any error; warnings never make a result invalid."""

    valid: bool
    inferred_type: str | None
    references: tuple[Reference, ...] = ()
    errors: tuple[ValidationIssue, ...] = ()
    warnings: tuple[ValidationIssue, ...] = ()

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "ValidationResult":
        """From the one row ``VALIDATE CREATE FEATURE`` returns."""
        return cls(
            valid=bool(row["valid"]),
            inferred_type=row.get("inferred_type"),
            references=tuple(Reference(**ref) for ref in row.get("references") or ()),
            errors=tuple(ValidationIssue(**issue) for issue in row.get("errors") or ()),
            warnings=tuple(ValidationIssue(**issue) for issue in row.get("warnings") or ()),
        )

    @classmethod
    def from_error(cls, error: RaiseError) -> "ValidationResult":
        """A result for a definition refused before it could be sent (e.g. a syntax error)."""
        issue = ValidationIssue(error.code, str(error.message), error.name)
        return cls(valid=False, inferred_type=None, errors=(issue,))

    def __bool__(self) -> bool:
        return self.valid

    def __repr__(self) -> str:
        parts = [f"valid={self.valid}", f"inferred_type={self.inferred_type!r}",
                 f"references={[r.name for r in self.references]}"]
        if self.errors:
            parts.append(f"errors={[str(e) for e in self.errors]}")
        if self.warnings:
            parts.append(f"warnings={[str(w) for w in self.warnings]}")
        return f"ValidationResult({', '.join(parts)})"

    def _repr_html_(self) -> str:
        rows = [("error", str(e)) for e in self.errors] + [("warning", str(w)) for w in self.warnings]
        rows += [("reference", f"{r.path} ({r.dtype or 'missing'})") for r in self.references]
        title = f"Validation: {'valid' if self.valid else 'invalid'}, inferred {self.inferred_type}"
        return html.grid(title, ("kind", "detail"), rows)
