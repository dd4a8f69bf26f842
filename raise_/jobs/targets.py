"""Where a job writes: ``Target(feature_group, features, write_mode, key_columns)``.

``features`` maps an output column to the feature it fills (``{"clicks": "daily_clicks"}``);
with a mapping, the group's key and event-time columns and the mapped columns are written and
other output columns are left out. Without one, every output column is written by its name.
``write_mode`` defaults to ``upsert`` when there are key columns (the target's or the
group's), else ``overwrite`` for a full refresh and ``append`` for an incremental run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from grammar.errors import ValidationError
from grammar.jobs import WRITE_MODES

__all__ = ["Target", "as_target"]

BAD_TARGET = "RAISE-V508"


@dataclass(frozen=True, slots=True)
class Target:
    """A feature group (a name, a path or a group object) and how rows go into it."""

    feature_group: str
    features: tuple[tuple[str, str], ...] | None = None
    write_mode: str | None = None
    key_columns: tuple[str, ...] | None = None

    def __init__(self, feature_group: Any, features: Mapping[str, str] | None = None, write_mode: str | None = None,
                 key_columns: Sequence[str] | None = None) -> None:
        path = getattr(feature_group, "qualified_name", feature_group)
        if not isinstance(path, str) or not path:
            raise ValidationError(f"Target needs a feature group name, got {feature_group!r}", code=BAD_TARGET,
                                  name=repr(feature_group))
        if write_mode is not None and write_mode not in WRITE_MODES:
            raise ValidationError(f"unknown write_mode {write_mode!r}; modes: {', '.join(WRITE_MODES)}",
                                  code=BAD_TARGET, name=str(write_mode))
        if isinstance(key_columns, str):
            raise ValidationError("key_columns is a list of column names", code=BAD_TARGET, name=key_columns)
        object.__setattr__(self, "feature_group", path)
        object.__setattr__(self, "features", tuple(dict(features).items()) if features else None)
        object.__setattr__(self, "write_mode", write_mode)
        object.__setattr__(self, "key_columns", tuple(key_columns) if key_columns else None)

    @property
    def mapping(self) -> dict[str, str]:
        return dict(self.features or ())


def as_target(target: Any) -> Target:
    """``Target`` as given, or one for a plain group name or group object."""
    return target if isinstance(target, Target) else Target(target)
