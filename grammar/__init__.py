"""Raise SQL: statements (``ast``), ``parse``/``render``, dtypes and derived expressions.

>>> from grammar import parse, render
>>> [render(s) for s in parse("use acme/ml/rec")]
['USE "acme"/"ml"/"rec"']

Names are loaded on first use, so importing one module of the package (``grammar.errors``)
does not load Lark, sqlglot or the statement families (see ``grammar.extensions``).
"""
from __future__ import annotations

import importlib
from typing import Any

#: Where each public name lives.
_MODULES: dict[str, tuple[str, ...]] = {
    "grammar.ast": (
        "STATEMENTS", "Statement", "AlterFeature", "ColumnDef", "CreateFeature", "CreateFeatureGroup",
        "CreateNamespace", "DeprecateFeature", "Describe", "Drop", "FeatureRef", "GroupRef", "Passthrough",
        "Show", "Use", "ValidateFeature",
    ),
    "grammar.dtypes": ("DType", "parse_dtype"),
    "grammar.expressions": (
        "DerivedExpr", "FeaturePath", "InferenceResult", "Issue", "check_compatible", "compile_expression",
        "infer_type", "parse_expression",
    ),
    "grammar.parser": ("parse",),
    "grammar.render": ("quote_ident", "quote_literal", "render", "render_script"),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "parse", "render", "render_script", "quote_ident", "quote_literal", "parse_dtype", "DType",
    "parse_expression", "compile_expression", "infer_type", "check_compatible",
    "FeaturePath", "DerivedExpr", "InferenceResult", "Issue",
    "STATEMENTS", "Statement", "AlterFeature", "ColumnDef", "CreateFeature",
    "CreateFeatureGroup", "CreateNamespace", "DeprecateFeature", "Describe", "Drop",
    "FeatureRef", "GroupRef", "Passthrough", "Show", "Use", "ValidateFeature",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'grammar' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
