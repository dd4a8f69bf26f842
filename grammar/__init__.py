"""Raise SQL: statements (``ast``), ``parse``/``render``, dtypes and derived expressions.

>>> from grammar import parse, render
>>> [render(s) for s in parse("use acme/ml/rec")]
['USE "acme"/"ml"/"rec"']

Importing the package does not load Lark, sqlglot or the statement families: the parsers
load with the first statement that needs them (see ``grammar.extensions``), and the derived
expression names (sqlglot) at their first use.
"""
from __future__ import annotations

import importlib
from typing import Any

from grammar.ast import (
    STATEMENTS,
    AlterFeature,
    ColumnDef,
    CreateFeature,
    CreateFeatureGroup,
    CreateNamespace,
    DeprecateFeature,
    Describe,
    Drop,
    FeatureRef,
    GroupRef,
    Passthrough,
    Show,
    Statement,
    Use,
    ValidateFeature,
)
from grammar.dtypes import DType, parse_dtype
from grammar.parser import parse
from grammar.render import quote_ident, quote_literal, render, render_script

#: The names of ``grammar.expressions``, loaded with it at the first use of one.
_EXPRESSIONS = ("DerivedExpr", "FeaturePath", "InferenceResult", "Issue", "check_compatible",
                "compile_expression", "infer_type", "parse_expression")

__all__ = [
    "parse", "render", "render_script", "quote_ident", "quote_literal", "parse_dtype", "DType",
    "parse_expression", "compile_expression", "infer_type", "check_compatible",
    "FeaturePath", "DerivedExpr", "InferenceResult", "Issue",
    "STATEMENTS", "Statement", "AlterFeature", "ColumnDef", "CreateFeature",
    "CreateFeatureGroup", "CreateNamespace", "DeprecateFeature", "Describe", "Drop",
    "FeatureRef", "GroupRef", "Passthrough", "Show", "Use", "ValidateFeature",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPRESSIONS:
        raise AttributeError(f"module 'grammar' has no attribute {name!r}")
    return getattr(importlib.import_module("grammar.expressions"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
