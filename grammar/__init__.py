"""Raise SQL: statements (``ast``), ``parse``/``render``, dtypes and derived expressions.

>>> from grammar import parse, render
>>> [render(s) for s in parse("use acme/ml/rec")]
['USE "acme"/"ml"/"rec"']
"""
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
from grammar.expressions import (
    DerivedExpr,
    FeaturePath,
    InferenceResult,
    Issue,
    check_compatible,
    compile_expression,
    infer_type,
    parse_expression,
)
from grammar.parser import parse
from grammar.render import quote_ident, quote_literal, render, render_script
from grammar import extensions as _extensions

_extensions.load()

__all__ = [
    "parse", "render", "render_script", "quote_ident", "quote_literal", "parse_dtype", "DType",
    "parse_expression", "compile_expression", "infer_type", "check_compatible",
    "FeaturePath", "DerivedExpr", "InferenceResult", "Issue",
    "STATEMENTS", "Statement", "AlterFeature", "ColumnDef", "CreateFeature",
    "CreateFeatureGroup", "CreateNamespace", "DeprecateFeature", "Describe", "Drop",
    "FeatureRef", "GroupRef", "Passthrough", "Show", "Use", "ValidateFeature",
]
