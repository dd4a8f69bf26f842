"""The constant-vector rewrite of client SQL, at a cost that does not grow with the vector.

``udfs.prefer_constant_vectors`` works on a sqlglot tree, and a 512-number query vector is a
thousand sqlglot tokens and nodes: parsing, copying and printing them took ~15 ms of every
such query. The numbers themselves never matter to the rewrite, only that the array is a
constant. So each numeric array literal is swapped for a placeholder before sqlglot sees the
text, the short text is rewritten (and remembered: a client repeating a query shape with new
vectors pays for sqlglot once), and the literals are put back exactly as they were written.
"""
from __future__ import annotations

import re
from functools import lru_cache

import sqlglot

import udfs

_VECTOR_CALL = re.compile(r"\b(dot|cosine_similarity|l2_distance)\s*\(", re.IGNORECASE)
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
#: An array literal of numbers only (``[0.1, -2e-3, 4]``); nested or mixed arrays stay as text.
_NUMERIC_ARRAY = re.compile(rf"\[\s*{_NUMBER}(?:\s*,\s*{_NUMBER})*\s*\]")
#: A named placeholder: sqlglot keeps it as one constant node and prints it back unchanged.
_SLOT = "$__raise_vector_{}"
_SLOT_PATTERN = re.compile(r"\$__raise_vector_(\d+)\b")
#: Literals shorter than this are cheaper to parse than to mask.
_MASK_FROM = 64


def constant_vectors(sql: str) -> str:
    """Rewrite vector calls against a constant so the constant is not copied per row
    (``udfs.prefer_constant_vectors``); SQL without such calls is left byte-for-byte alone.

    >>> constant_vectors("SELECT cosine_similarity(emb, [0.5, 1]) AS s FROM t")
    'SELECT COSINE_SIMILARITY_CONST(emb, VECTOR_CONSTANT([0.5, 1])) AS s FROM t'
    """
    if not _VECTOR_CALL.search(sql):
        return sql
    if "$__raise_vector_" in sql:  # the placeholder spelling is the client's own text
        return _rewrite(sql)
    literals: list[str] = []

    def mask(match: re.Match) -> str:
        if len(match.group()) < _MASK_FROM:
            return match.group()
        literals.append(match.group())
        return _SLOT.format(len(literals) - 1)

    rewritten = _rewrite(_NUMERIC_ARRAY.sub(mask, sql))
    if not literals:
        return rewritten
    return _SLOT_PATTERN.sub(lambda m: literals[int(m.group(1))], rewritten)


@lru_cache(maxsize=512)
def _rewrite(sql: str) -> str:
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return sql  # DataFusion will report the error with its own positions
    return udfs.prefer_constant_vectors(tree).sql("duckdb")
