"""Catalog keys and name rules for the namespace hierarchy.

``org/domain/project/group/feature@version``: each level's key is the ``/``-joined path of
names above it, so a key sorts and prefixes the way the hierarchy nests.
"""
from __future__ import annotations

import re

from grammar.errors import NotFound, ValidationError

LEVELS = ("organization", "domain", "project")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
_VERSION = re.compile(r"^v([1-9][0-9]{0,5})$")


def check_name(name: str, what: str) -> str:
    """Names: letters, digits, ``_``, ``-``, ``.``; no ``/`` or ``@`` (they are path syntax)."""
    if not isinstance(name, str) or not _NAME.match(name) or name.lower().startswith("__raise_"):
        raise ValidationError(
            f"invalid {what} name {name!r}: use letters, digits, '_', '-' or '.' (at most 128, "
            "not starting with '-', '.' or the reserved '__raise_')",
            code="RAISE-V002",
            name=str(name),
        )
    return name


_PRINCIPAL = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+\-]{0,63}(@[A-Za-z0-9][A-Za-z0-9.\-]{0,126})?$")


def check_principal(name: str) -> str:
    """User and principal-group names: ``alice`` or an e-mail style ``alice@acme.com``."""
    if not isinstance(name, str) or not _PRINCIPAL.match(name):
        raise ValidationError(
            f"invalid principal {name!r}: use a name like 'alice' or 'alice@acme.com'",
            code="RAISE-V002", name=str(name),
        )
    return name


def version_number(version: str) -> int:
    match = _VERSION.match(version or "")
    if not match:
        raise ValidationError(
            f"invalid version {version!r}: versions are v1, v2, …", code="RAISE-V003", name=str(version)
        )
    return int(match.group(1))


def join(*parts: str) -> str:
    return "/".join(parts)


def feature_key(group_key: str, name: str, version: str) -> str:
    return f"{group_key}/{name}@{version}"


def split_version(text: str) -> tuple[str, str | None]:
    """``"user_embedding@v1"`` -> ``("user_embedding", "v1")``; no ``@`` -> version None."""
    name, sep, version = text.partition("@")
    return name, (version if sep else None)


def complete_path(path: tuple[str, ...], current: tuple[str, ...] | None, depth: int) -> tuple[str, ...]:
    """Fill a relative namespace path of ``depth`` names from the current project context.

    ``("fraud",)`` with current ``("acme", "ml", "rec")`` and depth 3 is ``("acme", "ml", "fraud")``.
    """
    if len(path) == depth:
        return path
    missing = depth - len(path)
    if len(path) > depth or current is None or len(current) < missing:
        want = "/".join(LEVELS[:depth])
        raise NotFound(
            f"cannot resolve {'/'.join(path)!r}: give the full path ({want}) or USE a project first",
            name="/".join(path),
        )
    return tuple(current[:missing]) + path
