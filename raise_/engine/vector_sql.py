"""The constant-vector rewrite of client SQL, at a cost that does not grow with the vector.

``udfs.prefer_constant_vectors`` works on a sqlglot tree, and a 512-number query vector is a
thousand sqlglot tokens and nodes: parsing, copying and printing them took ~15 ms of every
such query. The numbers themselves never matter to the rewrite, only that the array is a
constant. So each numeric array literal is swapped for a placeholder before sqlglot sees the
text, the short text is rewritten (and remembered: a client repeating a query shape with new
vectors pays for sqlglot once), and the literals are put back exactly as they were written.

With a ``hold`` callback (``QueryContext`` passes one), a literal that is the constant of a
vector call does not go back into the text at all: ``cosine_similarity(emb, [<512 numbers>])``
becomes ``cosine_similarity_const_0(emb)``, a function of the query's own context that holds
the vector (``udfs.constant_vectors.held``). DataFusion then never parses, folds, copies or
prints the numbers, which cost ~13 ms of planning per 512-number literal; an unaliased output
column is named after that call.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

import udfs
from raise_ import lazy

#: sqlglot (and ``udfs.constant_vectors``, which works on its trees) load with the first query
#: that calls a vector function.
sqlglot = lazy.module("sqlglot")
exp = lazy.Attributes("sqlglot.expressions")
constant = lazy.Attributes("udfs.constant_vectors")
_VECTOR_CALL = re.compile(r"\b(dot|cosine_similarity|l2_distance)\s*\(", re.IGNORECASE)
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
#: An array literal of numbers only (``[0.1, -2e-3, 4]``); nested or mixed arrays stay as text.
_NUMERIC_ARRAY = re.compile(rf"\[\s*{_NUMBER}(?:\s*,\s*{_NUMBER})*\s*\]")
#: A named placeholder: sqlglot keeps it as one constant node and prints it back unchanged.
_SLOT = "$__raise_vector_{}"
_SLOT_PATTERN = re.compile(r"\$__raise_vector_(\d+)\b")
#: Literals shorter than this are cheaper to parse than to mask.
_MASK_FROM = 64


#: ``hold(name, function, vector)``: make ``name(x)`` mean ``function(x, vector)`` in the query.
Hold = Callable[[str, str, np.ndarray], None]


def constant_vectors(sql: str, hold: Hold | None = None) -> str:
    """Rewrite vector calls against a constant so the constant is not copied per row
    (``udfs.prefer_constant_vectors``); SQL without such calls is left byte-for-byte alone.

    >>> constant_vectors("SELECT cosine_similarity(emb, [0.5, 1]) AS s FROM t")
    'SELECT COSINE_SIMILARITY_CONST(emb, VECTOR_CONSTANT([0.5, 1])) AS s FROM t'
    """
    return set_aside(sql).constant_vectors(hold=hold)


@dataclass(frozen=True, slots=True)
class SetAside:
    """SQL text with its long numeric array literals replaced by placeholders: other
    rewrites can scan ``text`` at a cost that does not grow with the vectors."""

    text: str
    literals: tuple[str, ...] = ()

    def restored(self, text: str) -> str:
        """``text`` (``self.text`` or a rewrite of it) with the literals put back."""
        if not self.literals:
            return text
        return _SLOT_PATTERN.sub(lambda m: self.literals[int(m.group(1))], text)

    def constant_vectors(self, text: str | None = None, hold: Hold | None = None) -> str:
        """``constant_vectors`` of ``text`` (default ``self.text``), the literals put back
        or, with ``hold``, held by the query's own functions."""
        text = self.text if text is None else text
        if not _VECTOR_CALL.search(text):
            return self.restored(text)
        rewritten = _rewrite(text)
        if hold is not None and self.literals:
            held, calls = _held(rewritten)
            vectors = {slot: _vector(self.literals[slot]) for slot, _ in calls}
            if calls and all(v is not None for v in vectors.values()):
                rewritten = held
                for slot, function in calls:
                    hold(_held_name(function, slot), function, vectors[slot])
        return self.restored(rewritten)


def set_aside(sql: str) -> SetAside:
    """``sql`` with each numeric array literal of ``_MASK_FROM`` characters or more set aside."""
    if "[" not in sql or "$__raise_vector_" in sql:  # the placeholder spelling: the client's own
        return SetAside(sql)
    literals: list[str] = []

    def mask(match: re.Match) -> str:
        if len(match.group()) < _MASK_FROM:
            return match.group()
        literals.append(match.group())
        return _SLOT.format(len(literals) - 1)

    return SetAside(_NUMERIC_ARRAY.sub(mask, sql), tuple(literals))


def _held_name(function: str, slot: int) -> str:
    return f"{function}_const_{slot}"


def _vector(literal: str) -> np.ndarray | None:
    """The literal's numbers as VECTOR_CONSTANT packs them: read as float64, then float32."""
    values = np.fromstring(literal[1:-1], sep=",")  # text mode: the literal matched _NUMERIC_ARRAY
    if len(values) != literal.count(",") + 1:
        return None
    return values.astype(np.float32)


@lru_cache(maxsize=512)
def _held(rewritten: str) -> tuple[str, tuple[tuple[int, str], ...]]:
    """``f_const(x, VECTOR_CONSTANT($__raise_vector_N))`` calls of ``rewritten`` replaced by
    ``f_const_N(x)``, and each call's ``(N, f)``."""
    calls: list[tuple[int, str]] = []

    def replace(node: exp.Expression) -> exp.Expression:
        if not (isinstance(node, exp.Anonymous) and node.name.lower().endswith(constant.SUFFIX)
                and len(node.expressions) == 2):
            return node
        left, packed = node.expressions
        slot = packed.expressions[0] if isinstance(packed, exp.Anonymous) and len(packed.expressions) == 1 else None
        match = _SLOT_PATTERN.fullmatch("$" + slot.name) if isinstance(slot, exp.Placeholder) else None
        if packed.name.lower() != constant.PACKER or match is None:
            return node
        function = node.name.lower()[: -len(constant.SUFFIX)]
        calls.append((int(match.group(1)), function))
        return exp.Anonymous(this=_held_name(function, int(match.group(1))), expressions=[left.copy()])

    tree = sqlglot.parse_one(rewritten, read="duckdb").transform(replace)
    return tree.sql("duckdb"), tuple(calls)


@lru_cache(maxsize=512)
def _rewrite(sql: str) -> str:
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return sql  # DataFusion will report the error with its own positions
    return udfs.prefer_constant_vectors(tree).sql("duckdb")
