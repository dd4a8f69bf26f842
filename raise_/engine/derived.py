"""Checking a derived feature's expression before it is created, and recording its lineage.

Checks, in order: syntax, references (unknown ones are warnings under ``standard`` and errors
under ``strict``), function signatures and operand types, compatibility of the inferred type
with the declared dtype, circular dependencies. ``permissive`` keeps only the syntax check.

Lineage edges (kind ``lineage``) go from a feature version's key to the feature it reads,
unversioned (``…/click_count``) unless the expression pins a version (``…/x@v1``), so an
edge stays right when the upstream feature gains versions or is created later.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grammar.errors import NotFound, RaiseError, ValidationError
from grammar.expressions import FeaturePath, check_compatible, infer_type, parse_expression
from raise_.engine import names, registry
from raise_.engine.catalog import Catalog
from raise_.engine.records import FeatureVersion, GroupRecord

LEVELS = ("strict", "standard", "permissive")


@dataclass(frozen=True)
class Issue:
    code: str
    message: str
    name: str | None = None


@dataclass(frozen=True)
class Reference:
    """One feature an expression reads: as written, and where it resolved (if it did)."""

    path: str
    name: str
    target: str  # catalog key the lineage edge points at
    dtype: str | None
    exists: bool
    kind: str = "feature"  # or "column": a key or event-time column of the group


@dataclass
class Report:
    valid: bool = True
    inferred_type: str | None = None
    references: list[Reference] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    expression: str | None = None


def resolve(catalog: Catalog, group: GroupRecord, path: FeaturePath) -> Reference:
    """Where ``path`` points from ``group``: the target key, and the feature's dtype if it exists."""
    if path.external:
        target = "@" + names.join(*(p for p in (path.org, path.domain, path.project, path.group) if p))
        return Reference(path.text, path.feature, f"{target}/{path.feature}", None, False)
    project = tuple(group.project)
    given = tuple(p for p in (path.org, path.domain, path.project) if p is not None)
    if given:
        project = names.complete_path(given, project, 3)
    group_key = names.join(*project, path.group) if path.group else group.key
    target = f"{group_key}/{path.feature}" + (f"@{path.version}" if path.version else "")
    column = key_column(catalog, group_key, path)
    if column is not None:
        return Reference(path.text, path.feature, target, column, True, kind="column")
    try:
        record = registry.feature(catalog, group_key, path.feature, path.version)
    except NotFound:
        return Reference(path.text, path.feature, target, None, False)
    return Reference(path.text, path.feature, target, record.dtype, True)


def check(
    catalog: Catalog, group: GroupRecord, name: str, dtype: str, expression: str, level: str = "standard"
) -> Report:
    """Validate ``expression`` as the definition of feature ``name`` of ``group``."""
    if level not in LEVELS:
        raise ValidationError(f"unknown validation level {level!r}; use one of {', '.join(LEVELS)}", name=level)
    report = Report()
    try:
        parsed = parse_expression(expression)
    except RaiseError as error:
        report.errors.append(Issue(error.code, str(error.message), error.name))
        report.valid = False
        return report
    report.expression = parsed.normalized
    if level == "permissive":
        report.references = [resolve(catalog, group, p) for p in parsed.references]
        return report
    refs = {p: resolve(catalog, group, p) for p in parsed.references}
    report.references = list(refs.values())
    for ref in report.references:
        if not ref.exists:
            report.warnings.append(
                Issue("RAISE-V040", f"reference {ref.path!r} does not resolve to an existing feature "
                      "(yet); the feature will compute once it exists", ref.path)
            )
    inference = infer_type(parsed, lambda p: refs[p].dtype if p in refs else None)
    report.inferred_type = inference.dtype
    for issue in inference.issues:
        if issue.code == "RAISE-V040":
            continue
        bucket = report.errors if issue.severity == "error" else report.warnings
        bucket.append(Issue(issue.code, issue.message, getattr(issue, "name", None)))
    if inference.dtype and not check_compatible(inference.dtype, dtype):
        report.errors.append(
            Issue("RAISE-V021", f"expression yields {inference.dtype}, which does not fit the declared "
                  f"dtype {dtype}", name)
        )
    own_key = f"{group.key}/{name}"
    cycle = _cycle(catalog, own_key, [r.target for r in report.references])
    if cycle:
        report.errors.append(Issue("RAISE-V041", f"circular dependency: {' -> '.join(cycle)}", name))
    if level == "strict":
        report.errors.extend(report.warnings)
        report.warnings = []
    report.valid = not report.errors
    return report


def _cycle(catalog: Catalog, own: str, targets: list[str]) -> list[str] | None:
    """A path of lineage from ``targets`` back to ``own``, if there is one."""
    stack = [(t, [own.rsplit("/", 1)[-1], t.rsplit("/", 1)[-1]]) for t in targets]
    seen: set[str] = set()
    while stack:
        target, trail = stack.pop()
        base = target.split("@", 1)[0]
        if base == own:
            return trail
        if target in seen:
            continue
        seen.add(target)
        group_key, _, fname = base.rpartition("/")
        version = names.split_version(target)[1]
        try:
            record = registry.feature(catalog, group_key, fname, version)
        except (NotFound, ValidationError):
            continue
        for dst, _ in catalog.edges_from("lineage", record.key):
            stack.append((dst, trail + [dst.split("@", 1)[0].rsplit("/", 1)[-1]]))
    return None


def key_column(catalog: Catalog, group_key: str, path: FeaturePath) -> str | None:
    """The dtype of ``path`` when it names a key or the event-time column of its group."""
    if path.version is not None:
        return None
    record = registry.group_at(catalog, group_key)
    if record is None:
        return None
    columns = {k.name: k.dtype for k in record.key_columns}
    if record.timestamp:
        columns[record.timestamp] = "timestamp"
    return columns.get(path.feature)


def record_lineage(catalog: Catalog, feature_key: str, references: list[Reference]) -> None:
    edges = [(r.target, {"path": r.path}) for r in references if r.kind == "feature"]
    catalog.set_edges("lineage", feature_key, edges)


def upstream(catalog: Catalog, feature_key: str) -> list[str]:
    return [dst for dst, _ in catalog.edges_from("lineage", feature_key)]


def resolves(catalog: Catalog, target: str, excluding: frozenset[str] = frozenset()) -> bool:
    """Whether a lineage target (``[@]org/domain/project/group/feature[@vN]``) names a feature
    version, leaving out the records keyed in ``excluding``: a pinned version while it exists,
    a plain name while some version of it is live."""
    head, _, last = target.lstrip("@").rpartition("/")
    name, version = names.split_version(last)
    records = [r for r in registry.versions(catalog, head, name) if r.key not in excluding]
    if version:
        return any(r.version == version for r in records)
    return registry.latest(records) is not None


def missing_upstream(catalog: Catalog, record: FeatureVersion) -> list[str]:
    """The features a derived version reads that do not exist (deleted, or not created yet):
    while there are any, the version is ``broken``."""
    if record.derived_as is None:
        return []
    return [target for target in upstream(catalog, record.key) if not resolves(catalog, target)]


def breaks(catalog: Catalog, doomed: list[FeatureVersion]) -> list[str]:
    """Derived feature version keys, outside ``doomed``, whose lineage would resolve to nothing
    once ``doomed`` is gone (a dependent of ``f@v1`` reading plain ``f`` keeps ``f@v2``)."""
    keys = frozenset(r.key for r in doomed)
    broken = set()
    for src in {s for r in doomed for s in downstream(catalog, r)} - keys:
        if any(resolves(catalog, t) and not resolves(catalog, t, keys) for t in upstream(catalog, src)):
            broken.add(src)
    return sorted(broken)


def downstream(catalog: Catalog, record: FeatureVersion) -> list[str]:
    """Feature version keys whose expressions read ``record`` (by plain name or pinned version)."""
    base = f"{record.group}/{record.name}"
    found = []
    for target in (base, f"{base}@{record.version}"):
        found += catalog.edges_to("lineage", target) + catalog.edges_to("lineage", "@" + target)
    return sorted({src for src, _ in found})
