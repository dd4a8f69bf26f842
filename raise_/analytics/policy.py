"""Refresh policies of live tables and conditions of alerts, as the SDK writes them.

>>> RefreshPolicy.cron("0 */6 * * *")
RefreshPolicy(type="cron", cron="0 */6 * * *")
>>> Condition.BETWEEN(0.1, 0.2)
Condition.BETWEEN(0.1, 0.2)
"""
from __future__ import annotations

from dataclasses import dataclass

from grammar.analytics import CONDITIONS, REFRESH_KINDS, SCHEDULES, check_condition, check_cron
from grammar.errors import ValidationError

__all__ = ["RefreshPolicy", "Condition", "as_policy"]


@dataclass(frozen=True)
class RefreshPolicy:
    """When a live table is recomputed: ``on_change()`` (its group's table moved; the default),
    ``hourly()``, ``daily()``, ``cron("0 */6 * * *")`` (checked by croniter) or ``manual()``."""

    type: str
    expression: str | None = None  # the cron schedule of ``cron(...)``

    def __post_init__(self) -> None:
        if self.type not in REFRESH_KINDS:
            raise ValidationError(f"unknown refresh policy {self.type!r}; expected one of {', '.join(REFRESH_KINDS)}",
                                  code="RAISE-V410", name=str(self.type))
        if self.type == "cron":
            check_cron(self.expression)

    @staticmethod
    def on_change() -> "RefreshPolicy":
        return RefreshPolicy("on_change")

    @staticmethod
    def hourly() -> "RefreshPolicy":
        return RefreshPolicy("hourly")

    @staticmethod
    def daily() -> "RefreshPolicy":
        return RefreshPolicy("daily")

    @staticmethod
    def cron(expression: str) -> "RefreshPolicy":
        return RefreshPolicy("cron", expression)

    @staticmethod
    def manual() -> "RefreshPolicy":
        return RefreshPolicy("manual")

    @property
    def schedule(self) -> str | None:
        """The cron schedule of a scheduled policy (hourly: ``0 * * * *``, daily: ``0 0 * * *``)."""
        return self.expression or SCHEDULES.get(self.type)

    def __repr__(self) -> str:
        return f'RefreshPolicy(type="{self.type}"' + (f', cron="{self.expression}")' if self.expression else ")")


def as_policy(value: "RefreshPolicy | str") -> RefreshPolicy:
    """``"on_change"``, ``"hourly"``, ... or a ``RefreshPolicy``."""
    if isinstance(value, RefreshPolicy):
        return value
    if isinstance(value, str) and value in REFRESH_KINDS and value != "cron":
        return RefreshPolicy(value)
    raise ValidationError(f"refresh= takes a RefreshPolicy or one of on_change, hourly, daily, manual; "
                          f"got {value!r}", code="RAISE-V410", name=repr(value))


@dataclass(frozen=True)
class Condition:
    """What makes an alert fire: ``Condition.GREATER_THAN(0.05)`` and the spec's eight others."""

    name: str
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in self.values):
            raise ValidationError(f"condition {self.name} takes numbers, got {tuple(self.values)!r}",
                                  code="RAISE-V411", name=str(self.name))
        name, values = check_condition(self.name, tuple(self.values))
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "values", values)

    def __repr__(self) -> str:
        return f"Condition.{self.name}(" + ", ".join(f"{v:g}" for v in self.values) + ")"


def _factory(name: str, arity: int):
    def make(*values: float) -> Condition:
        return Condition(name, tuple(values))
    make.__name__ = name
    make.__doc__ = f"``{name}({', '.join(['low', 'high'] if arity == 2 else ['value'])})``"
    return staticmethod(make)


for _name, _arity in CONDITIONS.items():
    setattr(Condition, _name, _factory(_name, _arity))
