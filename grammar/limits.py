"""Bounds on the shape of SQL text, checked before any parser or planner sees it.

Parsers and planners recurse over expression trees: sqlglot runs out of Python recursion
after ~45 nested parentheses (~31 once a group's view has wrapped a derived feature in its
casts), and DataFusion's planner overflows its stack (killing the
process) on operator chains of ~10,000 terms while taking seconds from 1,000 on. So every
statement and every ``DERIVED AS`` expression is measured by one linear scan of its tokens
first, and refused with ``LimitExceeded`` (naming the limit and where it was passed) when it
goes beyond:

=================  =====  ======================================================================
limit              value  what is counted
=================  =====  ======================================================================
``nesting``        24     open brackets (parentheses, function calls, subqueries, ``[...]``)
``depth``          256    expression depth: each nesting level, plus each binary operator of a
                          chain (``a + b + c`` is 2 deep, ``x = 1 AND y = 2`` is 2: one
                          ``AND`` over one ``=``), plus the depth of a bracketed operand
                          (``(a + b) + c`` is 3); commas and clause keywords start a new operand
``nodes``          100000 tokens (names, literals, operators, brackets) in one statement
=================  =====  ======================================================================

The depth is an upper bound of the expression tree's real depth computed without building it:
operators of lower precedence close the chains of higher precedence before them, as the parse
would. A long ``OR`` list of values is better written ``x IN (...)``: a list is flat.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from grammar.errors import LimitExceeded, excerpt_at

MAX_NESTING = 24
MAX_DEPTH = 256
MAX_NODES = 100_000

_TOKEN = re.compile(
    r"""
      (?P<skip>\s+|--[^\n]*|/\*.*?\*/)
    | (?P<literal>'(?:[^']|'')*'|"(?:[^"]|"")*"|'.*|".*)
    | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+|\$\d+)
    | (?P<open>[(\[])
    | (?P<close>[)\]])
    | (?P<separator>[,;])
    | (?P<op>\|\||::|<=|>=|<>|!=|<<|>>|->>|->|[-+*/%=<>|&^~!])
    | (?P<other>.)
    """,
    re.X | re.S,
)

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
#: A flat array of numbers (a query vector): measured at once, not token by token.
_SCAN = re.compile(rf"(?P<flat>\[\s*{_NUMBER}(?:\s*,\s*{_NUMBER})*\s*\])|" + _TOKEN.pattern, re.X | re.S)
_SIGN = re.compile(r"(?<![eE])[-+]")

#: Operator precedence tiers, lowest first (the scan's model of how a parser nests them).
_TIERS = {"OR": 0, "AND": 1, "NOT": 2}
_TIERS.update({w: 3 for w in ("=", "<>", "!=", "<", ">", "<=", ">=", "IS", "LIKE", "ILIKE", "IN",
                              "BETWEEN", "SIMILAR")})
_TIERS.update({w: 4 for w in ("+", "-", "||", "|", "&", "^", "<<", ">>", "->", "->>")})
_TIERS.update({w: 5 for w in ("*", "/", "%", "::", "~", "!")})
#: Keywords after which a new expression starts (the operand counts restart).
_CLAUSES = frozenset(
    "SELECT FROM WHERE GROUP ORDER BY HAVING LIMIT OFFSET ON USING WHEN THEN ELSE END CASE UNION "
    "INTERSECT EXCEPT JOIN VALUES SET AS WINDOW PARTITION OVER QUALIFY RETURNING WITH DISTINCT ALL"
    .split()
)


@dataclass(slots=True)
class Shape:
    """What one scan measured: the maxima and where each limit was first passed."""

    nesting: int = 0
    depth: int = 0
    nodes: int = 0


def check(text: str, what: str = "statement") -> Shape:
    """Measure ``text``; raise ``LimitExceeded`` at the first token past a limit.

    >>> check("SELECT a + 1 FROM t WHERE x = 1 AND y = 2").depth
    2
    """
    shape = Shape()
    levels = [_Level()]
    for match in _tokens(text, shape, levels):
        kind = match.lastgroup
        if kind == "skip":
            continue
        shape.nodes += 1
        if shape.nodes > MAX_NODES:
            _refuse(text, match.start(), what, "nodes", MAX_NODES, "tokens")
        word = match.group().upper() if kind in ("word", "op") else None
        if kind == "open":
            levels.append(_Level())
            shape.nesting = max(shape.nesting, len(levels) - 1)
            if len(levels) - 1 > MAX_NESTING:
                _refuse(text, match.start(), what, "nesting", MAX_NESTING, "nested brackets")
        elif kind == "close" and len(levels) > 1:
            closed = levels.pop()
            levels[-1].deepest = max(levels[-1].deepest, max(closed.widest, closed.depth) + 1)
        elif kind == "separator" or word in _CLAUSES:
            levels[-1].next_operand()
        elif word in _TIERS:
            levels[-1].chain(_TIERS[word])
        else:
            continue
        depth = len(levels) - 1 + sum(level.depth for level in levels)
        shape.depth = max(shape.depth, depth)
        if depth > MAX_DEPTH:
            _refuse(text, match.start(), what, "depth", MAX_DEPTH, "levels of expression depth")
    return shape


def _tokens(text: str, shape: Shape, levels: list["_Level"]):
    """The tokens ``check`` walks; a flat numeric array that passes no limit is measured here
    in one step (as its tokens would measure) and skipped, one that would is walked."""
    for match in _SCAN.finditer(text):
        if match.lastgroup != "flat":
            yield match
        elif not _took_flat(match.group(), shape, levels):
            yield from _TOKEN.finditer(text, match.start(), match.end())


def _took_flat(body: str, shape: Shape, levels: list["_Level"]) -> bool:
    """Account for ``[n, -n, ...]`` at once: its brackets, numbers, commas and signs are nodes;
    it nests one level; a sign makes its operands one deep. False if that passes a limit."""
    commas, signs = body.count(","), len(_SIGN.findall(body))
    nodes = shape.nodes + 3 + 2 * commas + signs
    inner = 1 if signs else 0
    base = len(levels) - 1 + sum(level.depth for level in levels)
    if nodes > MAX_NODES or len(levels) > MAX_NESTING or base + 1 + inner > MAX_DEPTH:
        return False
    shape.nodes, shape.nesting = nodes, max(shape.nesting, len(levels))
    levels[-1].deepest = max(levels[-1].deepest, inner + 1)
    shape.depth = max(shape.depth, base + 1 + inner, len(levels) - 1 + sum(level.depth for level in levels))
    return True


@dataclass(slots=True)
class _Level:
    """One bracket level: the operator chains of the operand being read, per precedence tier,
    the depth of the deepest bracketed operand in it, and the deepest of its earlier operands
    (a call is as deep as its deepest argument)."""

    counts: list[int] = field(default_factory=lambda: [0] * 6)
    deepest: int = 0
    widest: int = 0

    @property
    def depth(self) -> int:
        return self.deepest + sum(self.counts)

    def next_operand(self) -> None:
        self.widest = max(self.widest, self.depth)
        self.counts, self.deepest = [0] * 6, 0

    def chain(self, tier: int) -> None:
        """One more operator of ``tier``: the chains of tighter operators before it are complete."""
        self.counts[tier] += 1
        for tighter in range(tier + 1, len(self.counts)):
            self.counts[tighter] = 0


def _refuse(text: str, offset: int, what: str, limit: str, value: int, unit: str) -> None:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    raise LimitExceeded(
        f"the {what} passes Raise's {limit} limit of {value} {unit} here; split it up (a CTE, a "
        "derived feature, an IN list instead of a chain of ORs)",
        name=limit, line=line, column=column, excerpt=excerpt_at(text, line, column),
    )


def too_deep(what: str) -> LimitExceeded:
    """The error for an input a parser could not recurse through although it passed ``check``."""
    return LimitExceeded(f"the {what} is nested too deeply to analyse; split it up", name="depth")
