"""Creating many features at once, all or nothing.

``create_features``, ``create_features_from_schema`` and ``create_features_from_file`` build
one ``CREATE FEATURE`` per definition, then:

1. check every definition before sending anything: its fields and dtype, duplicates within
   the batch, name conflicts with existing features, and each derived expression with
   ``VALIDATE CREATE FEATURE`` (a reference to another feature of the same batch counts as
   existing);
2. send all CREATE statements as one script;
3. if a statement of the script still fails, drop what the earlier ones created and raise
   the error, so one bad definition creates none.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import pyarrow as pa

from grammar import ast
from grammar.errors import AlreadyExists, NotFound, RaiseError, RaiseSyntaxError, ValidationError
from raise_.sdk import compile as sql
from raise_.sdk.context import warn
from raise_.sdk.feature import FeatureInfo, describe, show_features
from raise_.sdk.validation import ValidationIssue, ValidationResult

if TYPE_CHECKING:
    from raise_.sdk.context import Executor

__all__ = ["DEFINITION_KEYS", "definitions_from_schema", "definitions_from_file", "compile_all", "create_all"]

DEFINITION_KEYS = ("name", "dtype", "description", "tags", "owner", "nullable", "default",
                   "derived_from", "version", "validation", "if_exists")


def definitions_from_schema(schema: Mapping[str, Any] | pa.Schema) -> list[dict[str, Any]]:
    """``{"click_count": "int64", ...}`` (or an Arrow schema) as definitions; a value may also
    be a definition without its name (``{"ctr": {"dtype": "float64", "derived_from": ...}}``)."""
    if isinstance(schema, pa.Schema):
        return [{"name": f.name, "dtype": f.type} for f in schema]
    if not isinstance(schema, Mapping):
        raise ValidationError("a schema is a dict of feature name to dtype, or an Arrow schema",
                              name=type(schema).__name__)
    return [{"name": name, **spec} if isinstance(spec, Mapping) else {"name": name, "dtype": spec}
            for name, spec in schema.items()]


def definitions_from_file(path: str | Path) -> list[dict[str, Any]]:
    """The ``features:`` list of a YAML file (or a YAML file that is a list)."""
    import yaml

    source = Path(path)
    try:
        text = source.read_text()
    except OSError as error:
        raise NotFound(f"cannot read feature file {str(source)!r}: {error.strerror}", name=str(source)) from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise RaiseSyntaxError(
            f"{source.name}: invalid YAML: {getattr(error, 'problem', None) or error}", name=str(source),
            line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None,
        ) from None
    entries = loaded.get("features") if isinstance(loaded, dict) else loaded
    if not isinstance(entries, list):
        raise ValidationError(f"{source.name}: expected a 'features:' list of definitions", name=str(source))
    return entries


def compile_all(group: ast.GroupRef, definitions: Iterable[Any], defaults: Mapping[str, Any],
                source: str | None = None) -> list[ast.CreateFeature]:
    """One ``CREATE FEATURE`` per definition; ``defaults`` fill fields a definition leaves out.

    Errors name the definition (``features.yaml: definition 2 ('ctr')``, ``source`` being
    the file) and keep their kind and code.
    """
    unknown = sorted(set(defaults) - set(DEFINITION_KEYS) - {"name"})
    if unknown or "name" in defaults:
        raise ValidationError(f"unknown option(s) {', '.join(unknown or ['name'])}; options: "
                              f"{', '.join(DEFINITION_KEYS[1:])}", name=(unknown or ["name"])[0])
    statements: list[ast.CreateFeature] = []
    for number, definition in enumerate(definitions, 1):
        statements.append(_compile_one(group, number, definition, defaults, source))
    seen: set[tuple[str, str | None]] = set()
    for number, stmt in enumerate(statements, 1):
        ident = (stmt.feature.name, stmt.version)
        if ident in seen:
            raise ValidationError(f"definition {number} ({stmt.feature.name!r}) repeats an earlier "
                                  "definition of the same feature", name=stmt.feature.name)
        seen.add(ident)
    if not statements:
        raise ValidationError("no feature definitions given", name=group.name)
    return statements


def _compile_one(group: ast.GroupRef, number: int, definition: Any, defaults: Mapping[str, Any],
                 source: str | None) -> ast.CreateFeature:
    where = f"{source}: " if source else ""
    if not isinstance(definition, Mapping):
        raise ValidationError(f"{where}definition {number} must be a mapping with name and dtype, got "
                              f"{type(definition).__name__}", name=str(number))
    label = where + f"definition {number}" + (f" ({definition['name']!r})" if "name" in definition else "")
    unknown = sorted(set(definition) - set(DEFINITION_KEYS))
    missing = [k for k in ("name", "dtype") if definition.get(k) is None]
    if unknown or missing:
        problem = f"unknown key(s) {', '.join(unknown)}" if unknown else f"missing {' and '.join(missing)}"
        raise ValidationError(f"{label}: {problem}; keys: {', '.join(DEFINITION_KEYS)}",
                              name=str(definition.get("name", number)))
    fields = {**defaults, **definition}
    name, dtype = fields.pop("name"), fields.pop("dtype")
    try:
        return sql.create_feature(group, name, dtype, **fields)
    except RaiseError as error:
        raise type(error)(f"{label}: {error.message}", code=error.code, name=error.name or str(name),
                          line=error.line, column=error.column, excerpt=error.excerpt) from None


def create_all(executor: "Executor", group: ast.GroupRef, statements: list[ast.CreateFeature]) -> list[FeatureInfo]:
    """Check every statement, then create them all in one script (or none of them)."""
    before = {info.name: info for info in show_features(executor, group)}
    _check_conflicts(executor, statements, before)
    batch = {f"{'/'.join((*group.project, group.name))}/{s.feature.name}" for s in statements}
    for stmt in statements:
        if stmt.derived_as is not None:
            _check_derived(executor, stmt, batch)
    try:
        executor.run_script(statements, warn=False)
    except RaiseError:
        _undo(executor, group, statements, before)
        raise
    after = {info.name: info for info in show_features(executor, group)}
    return [_created(executor, stmt, after) for stmt in statements]


def _check_conflicts(executor: "Executor", statements: list[ast.CreateFeature], before: dict[str, FeatureInfo]) -> None:
    for stmt in statements:
        if stmt.conflict != "error" or stmt.feature.name not in before:
            continue
        if stmt.version is None:
            raise AlreadyExists(
                f"feature {stmt.feature.name!r} already exists in {stmt.feature.group.name!r} as "
                f"{before[stmt.feature.name].version}; nothing was created (use if_exists='skip' or "
                "'update', or a new version)", name=stmt.feature.name)
        try:
            describe(executor, ast.FeatureRef(group=stmt.feature.group, name=stmt.feature.name,
                                              version=stmt.version))
        except NotFound:
            continue
        raise AlreadyExists(f"feature {stmt.feature.name}@{stmt.version} already exists; nothing "
                            "was created", name=stmt.feature.name)


def _check_derived(executor: "Executor", stmt: ast.CreateFeature, batch: set[str]) -> None:
    """VALIDATE one derived definition; references to features of the batch count as existing."""
    row = executor.run(ast.ValidateFeature(statement=stmt)).to_pylist()[0]
    result = ValidationResult.from_row(row)
    pending = {r.path for r in result.references if not r.exists and r.target in batch}
    keep = [e for e in result.errors if not (e.code == "RAISE-V040" and e.name in pending)]
    if keep:
        raise _as_error(stmt.feature.name, keep)
    for issue in result.warnings:
        if not (issue.code == "RAISE-V040" and issue.name in pending):
            warn(issue.code, f"{stmt.feature.name}: {issue.message}")


def _as_error(name: str, issues: list[ValidationIssue]) -> ValidationError:
    first = issues[0]
    others = "; ".join(str(i) for i in issues[1:])
    return ValidationError(f"derived feature {name!r}: {first.message}" + (f" (also: {others})" if others else "")
                           + "; nothing was created", code=first.code, name=first.name or name)


def _undo(executor: "Executor", group: ast.GroupRef, statements: list[ast.CreateFeature],
          before: dict[str, FeatureInfo]) -> None:
    """Drop the features (or versions) of ``statements`` that the failed script created."""
    now = {info.name: info for info in show_features(executor, group)}
    drops = []
    for stmt in reversed(statements):
        name = stmt.feature.name
        if name not in now:
            continue
        if name not in before:
            target = ast.FeatureRef(group=group, name=name)
        elif stmt.version is not None and stmt.conflict == "error":
            target = ast.FeatureRef(group=group, name=name, version=stmt.version)
        else:
            continue
        drops.append(ast.Drop(kind="feature", target=target, if_exists=True, cascade=True))
    if drops:
        executor.run_script(drops, warn=False)


def _created(executor: "Executor", stmt: ast.CreateFeature, after: dict[str, FeatureInfo]) -> FeatureInfo:
    info = after.get(stmt.feature.name)
    if info is not None and stmt.version in (None, info.version):
        return info
    return describe(executor, ast.FeatureRef(group=stmt.feature.group, name=stmt.feature.name,
                                             version=stmt.version))
