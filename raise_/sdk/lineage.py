"""Lineage of derived features: what a feature reads (upstream) and what reads it (downstream).

The catalog records lineage when a derived feature is created; ``DESCRIBE FEATURE`` returns the
keys of its direct neighbours. Transitive walks describe each neighbour in turn.

>>> lineage = ctr.get_lineage()                                   # doctest: +SKIP
>>> lineage.upstream                                              # doctest: +SKIP
[click_count, impression_count]
>>> print(lineage.as_graph().to_ascii())                          # doctest: +SKIP
click_count ─────────┐
                     ├──▶ ctr
impression_count ────┘
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

from grammar import ast
from grammar.errors import NotFound
from raise_.sdk import html
from raise_.sdk.feature import FeatureInfo, describe

if TYPE_CHECKING:
    from raise_.sdk.context import Executor

__all__ = ["Lineage", "LineageNode", "LineageGraph"]


@dataclass(frozen=True, eq=False)
class LineageNode:
    """A feature in a lineage: its ``group``, ``project`` and ``qualified_name``
    (``acme/mlplatform/recommendation/item-signals/item_embedding``, ``@partner-org/...`` for
    another organization's), printed as a derived expression in the subject's group would name
    it: short in that group (``click_count``), qualified outside it
    (``item-signals.item_embedding``, ``@partner/ml/rec/items.x``).

    A node compares equal to its ``label`` string, so ``lineage.upstream == ["click_count",
    "impression_count"]`` reads as the spec prints it; ``fs.feature(node.qualified_name)``
    opens a feature of the store's organization.
    """

    key: str
    path: tuple[str, ...]  # org, domain, project, group
    name: str
    version: str | None
    external: bool
    label: str

    @classmethod
    def parse(cls, key: str, subject: tuple[str, ...] | None = None) -> "LineageNode":
        external = key.startswith("@")
        *path, last = key.lstrip("@").split("/")
        name, _, version = last.partition("@")
        return cls(key, tuple(path), name, version or None, external,
                   _label(tuple(path), name, version or None, external, subject or tuple(path)))

    @property
    def ref(self) -> ast.FeatureRef:
        return ast.FeatureRef(group=ast.GroupRef(name=self.path[3], project=self.path[:3]),
                              name=self.name, version=self.version)

    @property
    def org(self) -> str:
        return self.path[0]

    @property
    def project(self) -> str:
        """``org/domain/project``."""
        return "/".join(self.path[:3])

    @property
    def group(self) -> str:
        return self.path[3]

    @property
    def qualified_name(self) -> str:
        """``org/domain/project/group/name[@version]``, with a leading ``@`` for a feature
        reached in another organization."""
        return self.key

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "group": self.group,
                "qualified_name": self.qualified_name, "org": self.org, "version": self.version,
                "external": self.external}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return other == self.label
        return isinstance(other, LineageNode) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return self.label


def _label(path: tuple[str, ...], name: str, version: str | None, external: bool,
           subject: tuple[str, ...]) -> str:
    """The shortest path form (spec, Path Resolution) naming the feature from ``subject``."""
    feature = name + (f"@{version}" if version else "")
    if external or path[0] != subject[0]:
        return "@" + "/".join(path) + "." + feature
    same = 0
    while same < 4 and path[same] == subject[same]:
        same += 1
    prefix = "/".join(path[same:4])
    return f"{prefix}.{feature}" if prefix else feature


class Lineage:
    """Direct and transitive dependencies of one feature version."""

    def __init__(self, executor: "Executor", info: FeatureInfo) -> None:
        self._executor = executor
        self._info = info
        self._subject = (*info.project, info.group)
        self._described: dict[str, FeatureInfo | None] = {}
        # The subject is named plainly (``ctr``), as the spec draws it.
        self.feature = LineageNode.parse("/".join((*self._subject, info.name)), self._subject)

    @property
    def upstream(self) -> list[LineageNode]:
        """Features the expression reads, in the order it names them."""
        return self._nodes(self._info.upstream)

    @property
    def downstream(self) -> list[LineageNode]:
        """Feature versions whose expressions read this feature."""
        return self._nodes(self._info.downstream, drop_single_version=True)

    def all_upstream(self) -> list[LineageNode]:
        """Every feature this one depends on, directly or through other derived features."""
        return self._walk(self.upstream, lambda info: info.upstream)

    def all_downstream(self, include_external: bool = True) -> list[LineageNode]:
        """Every feature that depends on this one; ``include_external=False`` keeps only
        those in this feature's organization."""
        found = self._walk(self.downstream, lambda info: info.downstream, drop_single_version=True)
        return [n for n in found if include_external or (not n.external and n.org == self.feature.org)]

    def as_graph(self) -> "LineageGraph":
        """The transitive upstream and the direct downstream as a drawable graph."""
        edges: list[tuple[LineageNode, LineageNode]] = [(u, self.feature) for u in self.upstream]
        for node in self.all_upstream():
            info = self._describe(node)
            for source in self._nodes(info.upstream if info else ()):
                edges.append((source, node))
        edges += [(self.feature, d) for d in self.downstream]
        return LineageGraph(self.feature, tuple(edges))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the feature, its direct upstream and downstream, and the graph's edges."""
        return {
            "feature": self.feature.label,
            "qualified_name": self._info.qualified_name,
            "derived_from": self._info.derived_from,
            "upstream": [n.to_dict() for n in self.upstream],
            "downstream": [n.to_dict() for n in self.downstream],
            "edges": [[a.label, b.label] for a, b in self.as_graph().edges],
        }

    # -- helpers ---------------------------------------------------------------------------

    def _nodes(self, keys: Iterable[str], drop_single_version: bool = False) -> list[LineageNode]:
        nodes = [LineageNode.parse(k, self._subject) for k in keys]
        if not drop_single_version:
            return nodes
        # Downstream keys always carry a version; show it only where two versions appear.
        names = [n.name for n in nodes]
        return [n if names.count(n.name) > 1 else LineageNode.parse(_unversioned(n), self._subject)
                for n in nodes]

    def _describe(self, node: LineageNode) -> FeatureInfo | None:
        if node.key not in self._described:
            info = None
            if not node.external:
                try:
                    info = describe(self._executor, node.ref)
                except NotFound:
                    info = None
            self._described[node.key] = info
        return self._described[node.key]

    def _walk(self, start: list[LineageNode], step: Callable[[FeatureInfo], Iterable[str]],
              drop_single_version: bool = False) -> list[LineageNode]:
        seen: dict[str, LineageNode] = {}
        queue = list(start)
        while queue:
            node = queue.pop(0)
            if node.key in seen or node.key == self.feature.key:
                continue
            seen[node.key] = node
            info = self._describe(node)
            if info is not None:
                queue.extend(self._nodes(step(info), drop_single_version))
        return list(seen.values())

    def __repr__(self) -> str:
        return f"Lineage({self.feature.label}, upstream={self.upstream}, downstream={self.downstream})"

    def _repr_html_(self) -> str:
        return html.block(self.as_graph().to_ascii())


def _unversioned(node: LineageNode) -> str:
    return ("@" if node.external else "") + "/".join((*node.path, node.name))


@dataclass(frozen=True)
class LineageGraph:
    """Edges ``(source, target)``: ``source`` feeds ``target``."""

    subject: LineageNode
    edges: tuple[tuple[LineageNode, LineageNode], ...]
    nodes: tuple[LineageNode, ...] = field(init=False)

    def __post_init__(self) -> None:
        nodes: dict[str, LineageNode] = {}
        for a, b in self.edges:
            nodes.setdefault(a.key, a)
            nodes.setdefault(b.key, b)
        object.__setattr__(self, "nodes", tuple(nodes.values()) or (self.subject,))

    def to_dict(self) -> dict[str, Any]:
        """Nodes by label with their qualified names; edges by label."""
        return {"nodes": [{"label": n.label, "qualified_name": n.qualified_name} for n in self.nodes],
                "edges": [[a.label, b.label] for a, b in self.edges]}

    def to_ascii(self) -> str:
        """One fan-in drawing per derived feature, deepest first, then the subject's readers."""
        sources: dict[str, list[LineageNode]] = {}
        for a, b in self.edges:
            if a.key == self.subject.key:
                continue  # the subject's readers are drawn last, fanning out
            feeding = sources.setdefault(b.key, [])
            if a not in feeding:
                feeding.append(a)
        by_key = {n.key: n for n in self.nodes}
        readers = [b for a, b in self.edges if a.key == self.subject.key]
        order = [k for k in reversed(list(sources)) if k != self.subject.key]
        blocks = [fan_in(sources[k], by_key[k].label) for k in order]
        if sources.get(self.subject.key):
            blocks.append(fan_in(sources[self.subject.key], self.subject.label))
        if readers:
            blocks.append(fan_out(self.subject.label, [r.label for r in readers]))
        return "\n\n".join(blocks) if blocks else self.subject.label

    def _repr_html_(self) -> str:
        return html.block(self.to_ascii())


def fan_in(sources: list[LineageNode], target: str) -> str:
    """Sources joined by a bracket into an arrow to ``target`` (the spec's drawing)."""
    labels = [s.label for s in sources]
    width = max(len(label) for label in labels) + 5
    if len(labels) == 1:
        return f"{labels[0]} {'─' * (width - len(labels[0]) - 1)}──▶ {target}"
    lines = []
    for i, label in enumerate(labels):
        corner = "┐" if i == 0 else "┘" if i == len(labels) - 1 else "┤"
        if len(labels) % 2 and i == len(labels) // 2:
            corner = "┼──▶ " + target
        lines.append(f"{label} {'─' * (width - len(label) - 1)}{corner}")
    if len(labels) % 2 == 0:
        lines.insert(len(labels) // 2, " " * width + "├──▶ " + target)
    return "\n".join(lines)


def fan_out(source: str, targets: list[str]) -> str:
    """``source`` feeding each of ``targets``."""
    if len(targets) == 1:
        return f"{source} ──▶ {targets[0]}"
    pad = " " * (len(source) + 3)
    lines = [f"{source} ──┬──▶ {targets[0]}"]
    lines += [f"{pad}{'└' if i == len(targets) - 1 else '├'}──▶ {t}" for i, t in enumerate(targets[1:], 1)]
    return "\n".join(lines)
