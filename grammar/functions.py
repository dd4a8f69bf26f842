"""The SQL functions a derived feature may call, and type inference over derived expressions.

Every function of the spec's Supported Functions table is here, plus common DataFusion
scalar, aggregate and window functions. ``infer_type`` checks calls against ``FUNCTIONS``
(arity, argument kinds), operators against their operand types, and infers the expression's
Raise dtype; ``check_compatible`` says whether that dtype fits a declared one.

Argument kinds: ``numeric``, ``string``, ``vector`` (numeric embedding or array), ``bool``,
``temporal`` (timestamp or date), ``any``. The last kind listed repeats for further arguments.

Return rules (``Signature.returns``): a Raise dtype string (``float64``), or one of
``arg`` (the first argument's type), ``common`` (common type of all arguments), ``if``
(common type of the second and third arguments), ``sum`` (int64 for integers, float64 for
floats) and ``vector`` (float32 when every vector argument holds float32 or float16, else
float64).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from sqlglot import exp

from grammar.dtypes import FLOATS, INTEGERS, DType, parse_dtype
from grammar.errors import InvalidDType

if TYPE_CHECKING:
    from grammar.expressions import DerivedExpr

__all__ = [
    "Signature", "FUNCTIONS", "AGGREGATES", "WINDOW_ONLY", "kind_of", "matches_kind",
    "common_type", "return_type", "Issue", "InferenceResult", "infer_type", "check_compatible",
]


@dataclass(frozen=True, slots=True)
class Signature:
    """One function: arity range, argument kinds and the rule for its result type."""

    name: str
    category: str
    min_args: int
    max_args: int | None
    kinds: tuple[str, ...]
    returns: str
    aggregate: bool = False

    def kind_at(self, index: int) -> str:
        """The kind wanted for argument ``index`` (the last kind repeats)."""
        if not self.kinds:
            return "any"
        return self.kinds[min(index, len(self.kinds) - 1)]

    @property
    def arity(self) -> str:
        """Human text for the arity, e.g. ``1 to 2`` or ``at least 1``."""
        if self.max_args is None:
            return f"at least {self.min_args}"
        if self.min_args == self.max_args:
            return str(self.min_args)
        return f"{self.min_args} to {self.max_args}"


def _table(*rows: tuple) -> dict[str, Signature]:
    table = {}
    for category, names, low, high, kinds, returns in rows:
        for name in names.split():
            table[name] = Signature(name, category, low, high, tuple(kinds.split()), returns,
                                    aggregate=category == "aggregate")
    return table


FUNCTIONS: dict[str, Signature] = _table(
    ("aggregate", "AVG MEAN", 1, 1, "numeric", "float64"),
    ("aggregate", "SUM", 1, 1, "numeric", "sum"),
    ("aggregate", "MIN MAX", 1, 1, "any", "arg"),
    ("aggregate", "COUNT", 0, 1, "any", "int64"),
    ("aggregate", "APPROX_DISTINCT", 1, 1, "any", "int64"),
    ("aggregate", "STDDEV STDDEV_SAMP STDDEV_POP VARIANCE VAR_SAMP VAR_POP VAR MEDIAN",
     1, 1, "numeric", "float64"),
    ("aggregate", "CORR COVAR_SAMP COVAR_POP", 2, 2, "numeric", "float64"),
    ("aggregate", "BOOL_AND BOOL_OR", 1, 1, "bool", "bool"),
    ("math", "ABS CEIL CEILING FLOOR SIGNUM", 1, 1, "numeric", "arg"),
    ("math", "ROUND TRUNC", 1, 2, "numeric", "arg"),
    ("math", "LOG", 1, 2, "numeric", "float64"),
    ("math", "LN LOG10 LOG2 EXP SQRT CBRT SIN COS TAN ASIN ACOS ATAN DEGREES RADIANS",
     1, 1, "numeric", "float64"),
    ("math", "POWER POW ATAN2", 2, 2, "numeric", "float64"),
    ("math", "MOD", 2, 2, "numeric", "common"),
    ("math", "GREATEST LEAST", 1, None, "numeric", "common"),
    ("math", "PI RANDOM", 0, 0, "", "float64"),
    ("vector", "DOT COSINE_SIMILARITY L2_DISTANCE", 2, 2, "vector", "vector"),
    ("vector", "NORM", 1, 1, "vector", "vector"),
    ("vector", "CARDINALITY", 1, 1, "array", "int64"),
    ("vector", "ARRAY_LENGTH", 1, 2, "array numeric", "int64"),
    ("array", "ARRAY_HAS ARRAY_CONTAINS", 2, 2, "array any", "bool"),
    ("array", "ARRAY_HAS_ANY ARRAY_HAS_ALL", 2, 2, "array", "bool"),
    ("array", "ARRAY_TO_STRING", 2, 3, "array string", "string"),
    ("string", "CONCAT", 1, None, "any", "string"),
    ("string", "CONCAT_WS", 2, None, "string any", "string"),
    ("string", "LOWER UPPER TRIM LTRIM RTRIM INITCAP REVERSE MD5", 1, 1, "string", "string"),
    ("string", "BTRIM", 1, 2, "string", "string"),
    ("string", "SUBSTRING SUBSTR", 2, 3, "string numeric", "string"),
    ("string", "LEFT RIGHT REPEAT", 2, 2, "string numeric", "string"),
    ("string", "LPAD RPAD", 2, 3, "string numeric string", "string"),
    ("string", "REPLACE", 3, 3, "string", "string"),
    ("string", "SPLIT_PART", 3, 3, "string string numeric", "string"),
    ("string", "REGEXP_REPLACE", 3, 4, "string", "string"),
    ("string", "LENGTH CHAR_LENGTH CHARACTER_LENGTH OCTET_LENGTH", 1, 1, "string", "int64"),
    ("string", "STRPOS", 2, 2, "string", "int64"),
    ("string", "STARTS_WITH ENDS_WITH", 2, 2, "string", "bool"),
    ("string", "REGEXP_LIKE", 2, 3, "string", "bool"),
    ("string", "TO_HEX", 1, 1, "numeric", "string"),
    ("conditional", "COALESCE NVL", 1, None, "any", "common"),
    ("conditional", "NULLIF", 2, 2, "any", "arg"),
    ("conditional", "IF", 3, 3, "bool any", "if"),
    ("datetime", "NOW", 0, 0, "", "timestamp"),
    ("datetime", "DATE_TRUNC", 2, 2, "string temporal", "timestamp"),
    ("datetime", "DATE_PART", 2, 2, "string temporal", "float64"),
    ("datetime", "EXTRACT", 1, 1, "temporal", "int64"),
    ("datetime", "TO_TIMESTAMP", 1, None, "any", "timestamp"),
    ("datetime", "TO_DATE", 1, None, "any", "date"),
    ("window", "ROW_NUMBER RANK DENSE_RANK", 0, 0, "", "int64"),
    ("window", "PERCENT_RANK CUME_DIST", 0, 0, "", "float64"),
    ("window", "NTILE", 1, 1, "numeric", "int64"),
    ("window", "LAG LEAD", 1, 3, "any numeric any", "arg"),
    ("window", "FIRST_VALUE LAST_VALUE", 1, 1, "any", "arg"),
    ("window", "NTH_VALUE", 2, 2, "any numeric", "arg"),
)

#: Aggregate function names: without OVER they mean "over the whole group".
AGGREGATES: frozenset[str] = frozenset(n for n, s in FUNCTIONS.items() if s.aggregate)
#: Functions that only make sense with an OVER clause.
WINDOW_ONLY: frozenset[str] = frozenset(n for n, s in FUNCTIONS.items() if s.category == "window")


def _dtype(text: str | None) -> DType | None:
    if text is None:
        return None
    try:
        return parse_dtype(text)
    except InvalidDType:
        return None


def kind_of(dtype: str | None) -> str | None:
    """The argument kind of a Raise dtype string (``None`` when unknown)."""
    parsed = _dtype(dtype)
    if parsed is None:
        return None
    if parsed.is_numeric:
        return "numeric"
    if parsed.is_vector:
        return "vector"
    if parsed.kind == "array":
        return "list"  # of strings: an array, but no vector
    if parsed.kind == "string" or (parsed.kind == "primitive" and parsed.element == "string"):
        return "string"
    if parsed.element == "bool":
        return "bool"
    if parsed.element in ("timestamp", "date"):
        return "temporal"
    return parsed.kind


def matches_kind(dtype: str | None, wanted: str) -> bool:
    """Whether a value of ``dtype`` may be passed where ``wanted`` is expected.

    Unknown types (``None``) always match: inference reports them elsewhere.
    """
    kind = kind_of(dtype)
    return wanted == "any" or kind is None or kind == wanted or (wanted == "array" and kind in ("vector", "list"))


def common_type(types: list[str | None]) -> str | None:
    """The type all of ``types`` fit in, or ``None`` if unknown or incompatible.

    Integers widen to int64, any float mixes to float64 (float32 stays float32 when alone),
    strings of any bound give ``string``; other types must be equal.
    """
    known = [t for t in types if t is not None]
    if not known:
        return None
    kinds = {kind_of(t) for t in known}
    if kinds == {"numeric"}:
        return _numeric_common(known)
    if kinds == {"string"}:
        return "string"
    return known[0] if len(set(known)) == 1 else None


def _numeric_common(types: list[str]) -> str:
    if all(t in INTEGERS for t in types):
        return "int64"
    floats = {t for t in types if t in FLOATS}
    if len(floats) == 1 and all(t in FLOATS for t in types):
        return floats.pop()
    return "float64"


def return_type(signature: Signature, args: list[str | None]) -> str | None:
    """The Raise dtype a call of ``signature`` with argument types ``args`` returns."""
    rule = signature.returns
    if rule == "arg":
        return args[0] if args else None
    if rule == "common":
        return common_type(args)
    if rule == "if":
        return common_type(args[1:])
    if rule == "sum":
        if not args or args[0] is None:
            return None
        return "int64" if args[0] in INTEGERS else "float64"
    if rule == "vector":
        elements = [_dtype(a).element for a in args if _dtype(a) is not None]
        narrow = elements and all(e in ("float32", "float16") for e in elements)
        return "float32" if narrow else "float64"
    return rule


# ------------------------------------------------------------------ type inference


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding of validation: a stable code, a message, ``error`` or ``warning``."""

    code: str
    message: str
    severity: str = "error"


@dataclass(frozen=True, slots=True)
class InferenceResult:
    """The inferred Raise dtype (``None`` when unknown) and the issues found."""

    dtype: str | None
    issues: tuple[Issue, ...] = ()

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "warning")


@dataclass
class _Inference:
    expr: "DerivedExpr"
    dtype_of: Callable[[object], str | None]
    issues: list[Issue] = field(default_factory=list)
    unknown: set = field(default_factory=set)

    def report(self, code: str, message: str, severity: str = "error") -> None:
        issue = Issue(code, message, severity)
        if issue not in self.issues:
            self.issues.append(issue)

    def show(self, node: exp.Expression) -> str:
        return self.expr.show(node)

    def visit(self, node: exp.Expression) -> str | None:
        for cls in type(node).__mro__:
            rule = _RULES.get(cls)
            if rule is not None:
                return rule(self, node)
        for child in node.iter_expressions():
            self.visit(child)
        return None


def infer_type(expr: "DerivedExpr", dtype_of: Callable[[object], str | None]) -> InferenceResult:
    """Infer the Raise dtype of ``expr`` and check its calls and operators.

    ``dtype_of`` answers a reference's dtype string or ``None`` when it does not exist.
    Issue codes: RAISE-V020 operator on the wrong types, RAISE-V030 unknown function,
    RAISE-V031 wrong arity or argument kind, RAISE-V040 unknown reference (a warning).
    """
    state = _Inference(expr, dtype_of)
    dtype = state.visit(expr.tree)
    return InferenceResult(dtype=dtype, issues=tuple(state.issues))


def _column(state: _Inference, node: exp.Column) -> str | None:
    path = state.expr.reference_of(node)
    dtype = state.dtype_of(path)
    if dtype is None:
        state.report("RAISE-V040", f"unknown reference {path.text}: no such feature",
                     "warning")
        return None
    try:
        return str(parse_dtype(dtype))
    except InvalidDType:
        return None


def _literal(state: _Inference, node: exp.Literal) -> str:
    if node.is_string:
        return "string"
    return "int64" if re.fullmatch(r"\d+", node.this) else "float64"


def _arithmetic(state: _Inference, node: exp.Binary) -> str | None:
    left, right = state.visit(node.this), state.visit(node.expression)
    kinds = (kind_of(left), kind_of(right))
    temporal = "temporal" in kinds and isinstance(node, (exp.Add, exp.Sub))
    for side, dtype, kind in ((node.this, left, kinds[0]), (node.expression, right, kinds[1])):
        if dtype is not None and kind != "numeric" and not temporal:
            state.report("RAISE-V020", f"arithmetic on a non-numeric value: {state.show(side)} "
                         f"is {dtype} in {state.show(node)}")
    if temporal:
        return left if kinds[0] == "temporal" and kinds[1] != "temporal" else None
    if None in (left, right) or kinds != ("numeric", "numeric"):
        return None
    return "float64" if isinstance(node, exp.Div) else common_type([left, right])


def _predicate(state: _Inference, node: exp.Expression) -> str:
    for child in node.iter_expressions():
        state.visit(child)
    return "bool"


def _text_result(state: _Inference, node: exp.Expression) -> str:
    for child in node.iter_expressions():
        state.visit(child)
    return "string"


def _function(state: _Inference, node: exp.Anonymous) -> str | None:
    name = node.name.upper()
    args = [state.visit(arg) for arg in node.expressions]
    signature = FUNCTIONS.get(name)
    if signature is None:
        close = difflib.get_close_matches(name, FUNCTIONS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        state.report("RAISE-V030", f"unknown function {name}{hint}")
        return None
    count = len(node.expressions)
    if count < signature.min_args or (signature.max_args is not None
                                      and count > signature.max_args):
        state.report("RAISE-V031", f"{name} takes {signature.arity} argument(s), got {count}")
        return None
    for index, (arg, dtype) in enumerate(zip(node.expressions, args)):
        wanted = signature.kind_at(index)
        if not matches_kind(dtype, wanted):
            state.report("RAISE-V031", f"{name} argument {index + 1} must be {wanted}, got "
                         f"{state.show(arg)} of type {dtype}")
    if name in WINDOW_ONLY and not isinstance(node.parent, exp.Window):
        state.report("RAISE-V031", f"{name} needs an OVER clause")
    return return_type(signature, args)


def _case(state: _Inference, node: exp.Case) -> str | None:
    if node.this is not None:
        state.visit(node.this)
    branches = []
    for when in node.args.get("ifs") or []:
        state.visit(when.this)
        branches.append(state.visit(when.args.get("true")))
    if node.args.get("default") is not None:
        branches.append(state.visit(node.args["default"]))
    result = common_type(branches)
    known = sorted({b for b in branches if b is not None})
    if result is None and known:
        state.report("RAISE-V020", f"CASE branches have incompatible types: {', '.join(known)}")
    return result


_CAST_TYPES = {
    "BIGINT": "int64", "INT": "int32", "SMALLINT": "int16", "TINYINT": "int8",
    "DOUBLE": "float64", "FLOAT": "float32", "DECIMAL": "float64", "TEXT": "string",
    "VARCHAR": "string", "CHAR": "string", "BOOLEAN": "bool", "TIMESTAMP": "timestamp",
    "TIMESTAMPTZ": "timestamp", "DATE": "date", "VARBINARY": "bytes", "BINARY": "bytes",
}


def _cast(state: _Inference, node: exp.Cast) -> str | None:
    state.visit(node.this)
    return _CAST_TYPES.get(node.to.this.name)


def _array(state: _Inference, node: exp.Array) -> str | None:
    element = common_type([state.visit(e) for e in node.expressions])
    if element is None or kind_of(element) != "numeric" or not node.expressions:
        return None
    return f"{element}[{len(node.expressions)}]"


def _first(state: _Inference, node: exp.Expression) -> str | None:
    types = [state.visit(child) for child in node.iter_expressions()]
    return types[0] if types else None


def _neg(state: _Inference, node: exp.Neg) -> str | None:
    dtype = state.visit(node.this)
    if dtype is not None and kind_of(dtype) != "numeric":
        state.report("RAISE-V020", f"negating a non-numeric value: {state.show(node.this)} "
                     f"is {dtype}")
    return dtype


_RULES: dict[type, Callable[[_Inference, exp.Expression], str | None]] = {
    exp.Column: _column,
    exp.Literal: _literal,
    exp.Boolean: lambda state, node: "bool",
    exp.Null: lambda state, node: None,
    exp.Add: _arithmetic, exp.Sub: _arithmetic, exp.Mul: _arithmetic,
    exp.Div: _arithmetic, exp.Mod: _arithmetic,
    exp.Predicate: _predicate, exp.Connector: _predicate, exp.Not: _predicate,
    exp.DPipe: _text_result, exp.Substring: _text_result, exp.Trim: _text_result,
    exp.Extract: lambda state, node: _first(state, node) and "int64",
    exp.Anonymous: _function,
    exp.Case: _case,
    exp.Cast: _cast,
    exp.Array: _array,
    exp.Neg: _neg,
    exp.Paren: _first, exp.Window: _first, exp.Distinct: _first,
    exp.CurrentTimestamp: lambda state, node: "timestamp",
    exp.CurrentDate: lambda state, node: "date",
}


def check_compatible(inferred: str, declared: str) -> bool:
    """Whether a value of the ``inferred`` dtype can be stored as the ``declared`` dtype.

    Numbers fit any numeric type (the declared dtype casts), strings fit strings of any
    bound, vectors fit vectors of a numeric element with the same size where both are fixed;
    otherwise the types must be equal.
    """
    try:
        have, want = parse_dtype(inferred), parse_dtype(declared)
    except InvalidDType:
        return False
    if str(have) == str(want):
        return True
    if have.is_numeric and want.is_numeric:
        return True
    if kind_of(str(have)) == kind_of(str(want)) == "string":
        return True
    if have.is_vector and want.is_vector:
        return not (have.kind == want.kind == "embedding" and have.size != want.size)
    return {str(have), str(want)} == {"timestamp", "date"}
