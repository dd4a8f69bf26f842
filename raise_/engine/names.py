"""Catalog keys and the one rule for names in the namespace hierarchy.

``org/domain/project/group/feature@version``: each level's key is the ``/``-joined path of
names above it, so a key sorts and prefixes the way the hierarchy nests.

The rule (``check_name``), for organizations, domains, projects, feature groups, features,
key and event-time columns, models, audit alerts and the organizations grants name: 1 to 128
characters of letters, digits, ``_``, ``-`` and ``.``; not starting with ``-`` or ``.``; no
``..``; not starting with the reserved ``__raise_``. Quoting (``"user-signals"``) lets SQL spell
a name that is not a plain identifier (a ``-``, a leading digit, mixed case kept as written); it
never widens the rule, so ``/``, ``@``, backslashes, ``..``, spaces and control characters are
refused however they are written. Users and principal groups follow ``check_principal``
(``alice`` or ``alice@acme.com``). ``check_statement`` applies the rules to every name a parsed
statement carries before authorization or any handler sees it; ingest targets go through
``group_path``. Names never become file paths (tables live under numbered locations), but
keys are ``/``-joined, so a name must not be able to add a level.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Iterator

from grammar.errors import NotFound, ValidationError

LEVELS = ("organization", "domain", "project")
MAX_NAME_CHARS = 128
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
_VERSION = re.compile(r"^v([1-9][0-9]{0,5})$")


def check_name(name: str, what: str) -> str:
    """A name under the rule above, or ``ValidationError`` RAISE-V002 naming it."""
    if (not isinstance(name, str) or not _NAME.match(name) or ".." in name
            or name.lower().startswith("__raise_")):
        raise ValidationError(
            f"invalid {what} name {str(name)[:200]!r}: use letters, digits, '_', '-' or '.' (at most "
            f"{MAX_NAME_CHARS}, not starting with '-' or '.', no '..', not the reserved '__raise_')",
            code="RAISE-V002",
            name=str(name)[:200],
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


# -- every name of a statement ----------------------------------------------------------------

#: Fields holding a name or a path of names, by field name, and what the rule calls them.
_NAME_FIELDS = {"path": "namespace", "within": "namespace", "target": "namespace",
                "timestamp": "timestamp column", "organization": "organization"}
_PRINCIPAL_FIELDS = ("members", "principal")


def check_statement(statement: Any) -> None:
    """Apply the name rules to every name ``statement`` (a ``grammar`` AST node) carries."""
    for kind, value, what in _names(statement):
        if kind == "principal":
            check_principal(value)
        elif kind == "version":
            version_number(value)
        else:
            check_name(value, what)


def _names(node: Any) -> Iterator[tuple[str, str, str]]:
    cls = type(node).__name__
    for field in dataclasses.fields(node):
        value = getattr(node, field.name)
        if value is None or field.name in ("description", "message", "owner", "uri", "expires"):
            continue
        if dataclasses.is_dataclass(value):
            yield from _ref(value) if type(value).__name__ in _REFS else _names(value)
        elif field.name in _PRINCIPAL_FIELDS or (field.name == "name" and "PrincipalGroup" in cls):
            yield from (("principal", v, "principal") for v in _strings(value))
        elif field.name in _NAME_FIELDS:
            yield from (("name", v, _NAME_FIELDS[field.name]) for v in _strings(value))
        elif field.name == "features" and cls == "GrantAccess":
            yield from (("name", v, "feature") for v in value if v != "*")
        elif field.name == "keys":
            yield from (("name", column.name, "key column") for column in value)
        elif field.name == "name" and "Alert" in cls:
            yield "name", value, "audit alert"


def _ref(ref: Any) -> Iterator[tuple[str, str, str]]:
    """A GroupRef, FeatureRef or ModelRef: its names and its project's."""
    cls = type(ref).__name__
    if cls == "FeatureRef":
        yield from _ref(ref.group)
        yield "name", ref.name, "feature"
        if ref.version is not None:
            yield "version", ref.version, "version"
        return
    yield "name", ref.name, _REFS[cls]
    yield from (("name", part, "namespace") for part in ref.project or ())


_REFS = {"GroupRef": "feature group", "FeatureRef": "feature", "ModelRef": "model"}


def _strings(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(v for v in value if isinstance(v, str))


def group_path(name: str, current: tuple[str, ...] | None) -> tuple[tuple[str, ...], str]:
    """``org/domain/project/group``, ``domain/project/group`` or ``group`` (ingest targets,
    ``VERSION AS OF``) as (project path, group name), every part checked."""
    project, _, group = name.rpartition("/")
    given = tuple(project.split("/")) if project else ()
    for part in given:
        check_name(part, "namespace")
    return complete_path(given, current, 3), check_name(group, "feature group")
