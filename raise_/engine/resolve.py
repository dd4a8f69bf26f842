"""Resolving statement references against the session's current project."""
from __future__ import annotations

from typing import TYPE_CHECKING

from grammar import ast
from raise_.engine import names, registry
from raise_.engine.records import FeatureVersion, GroupRecord

if TYPE_CHECKING:
    from raise_.engine.session import Session


def project_of(session: "Session", given: tuple[str, ...] | None) -> tuple[str, ...]:
    return names.complete_path(tuple(given or ()), session.project, 3)


def group_of(session: "Session", ref: ast.GroupRef) -> GroupRecord:
    return registry.group(session.catalog, project_of(session, ref.project), ref.name)


def feature_of(session: "Session", ref: ast.FeatureRef) -> tuple[GroupRecord, FeatureVersion]:
    """(group record, feature version record) a reference names."""
    group = group_of(session, ref.group)
    return group, registry.feature(session.catalog, group.key, ref.name, ref.version)
