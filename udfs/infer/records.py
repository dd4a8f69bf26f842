"""What the inference layer is told about a model: ``ModelRecord`` and ``BatchConfig``.

A ``ModelRecord`` is the catalog's model entry as the runners need it (the engine builds it
from the stored record; ``raise_.inference.ModelSpec`` compiles to the CREATE MODEL that stores
it). ``BatchConfig`` is the spec's batching configuration; its fields are the options of
``CREATE MODEL ... BATCH (...)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from grammar.errors import ValidationError
from grammar.models import BATCH_OPTIONS, FRAMEWORKS, PRECISIONS


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchConfig:
    """How rows are grouped into model calls, and what happens when a call fails.

    ``batch_size`` rows go to the model at once. With ``dynamic_batching`` inputs are grouped
    by length and a batch holds as many rows as fit the padded-token budget of ``batch_size``
    rows of average length (at least 1, at most ``max_batch_size``): short texts travel in
    bigger batches, long ones in smaller. ``prefetch_batches`` batches are prepared ahead
    (tokenized, padded) by ``num_workers`` threads while the model runs. A call that fails or
    runs past ``timeout_seconds`` is retried up to ``max_retries`` times when ``retry_failed``.

    >>> BatchConfig(batch_size=32, max_batch_size=256, dynamic_batching=True).max_batch_size
    256
    """

    batch_size: int = 32
    prefetch_batches: int = 2
    num_workers: int = 1
    max_batch_size: int | None = None
    dynamic_batching: bool = False
    timeout_seconds: float | None = None
    retry_failed: bool = False
    max_retries: int = 3

    def __post_init__(self) -> None:
        for name in ("batch_size", "num_workers"):
            _check_int(name, getattr(self, name), 1)
        for name in ("prefetch_batches", "max_retries"):
            _check_int(name, getattr(self, name), 0)
        if self.max_batch_size is not None:
            _check_int("max_batch_size", self.max_batch_size, self.batch_size)
        if self.timeout_seconds is not None and not (
                isinstance(self.timeout_seconds, (int, float)) and self.timeout_seconds > 0):
            raise ValidationError(f"timeout_seconds must be a positive number, got {self.timeout_seconds!r}",
                                  code="RAISE-V201", name="timeout_seconds")

    @property
    def attempts(self) -> int:
        """How many times one batch is tried before its rows count as failed."""
        return 1 + (self.max_retries if self.retry_failed else 0)

    @property
    def largest_batch(self) -> int:
        return self.max_batch_size or self.batch_size

    def options(self) -> tuple[tuple[str, Any], ...]:
        """The options that differ from the defaults, as ``CREATE MODEL ... BATCH`` pairs."""
        default = BatchConfig()
        return tuple((f.name, getattr(self, f.name)) for f in fields(self)
                     if getattr(self, f.name) != getattr(default, f.name))

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> "BatchConfig":
        unknown = set(options or {}) - set(BATCH_OPTIONS)
        if unknown:
            raise ValidationError(f"unknown batch option(s) {', '.join(sorted(unknown))}; expected "
                                  f"{', '.join(BATCH_OPTIONS)}", code="RAISE-V201")
        return cls(**dict(options or {}))


def _check_int(name: str, value: Any, least: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ValidationError(f"{name} must be an integer of at least {least}, got {value!r}",
                              code="RAISE-V201", name=name)


@dataclass(frozen=True, slots=True, kw_only=True)
class Column:
    """A model input or output as SQL sees it: a column name and a Raise dtype string."""

    name: str
    dtype: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelRecord:
    """A registered model: where it lives, how to run it, what goes in and comes out.

    ``inputs``/``outputs`` are the declared columns (empty: read them from the model).
    ``location`` is where a local URI resolved when the model was registered (absolute).
    """

    name: str
    uri: str
    framework: str
    version: str | None = None
    task: str | None = None
    inputs: tuple[Column, ...] = ()
    outputs: tuple[Column, ...] = ()
    precision: str = "fp32"
    batch: BatchConfig = field(default_factory=BatchConfig)
    description: str | None = None
    location: str | None = None

    def __post_init__(self) -> None:
        if self.framework not in FRAMEWORKS:
            raise ValidationError(f"unknown framework {self.framework!r}; expected one of "
                                  f"{', '.join(FRAMEWORKS)}", code="RAISE-V202", name=self.framework)
        if self.precision not in PRECISIONS:
            raise ValidationError(f"unknown precision {self.precision!r}; expected one of "
                                  f"{', '.join(PRECISIONS)}", code="RAISE-V203", name=self.precision)
