"""The SQL functions a derived feature may call: signatures and return-type rules.

Every function of the spec's Supported Functions table is here, plus common DataFusion
scalar, aggregate and window functions. The validator checks calls against ``FUNCTIONS``
(arity, argument kinds) and type inference asks ``return_type`` for the result's Raise dtype.

Argument kinds: ``numeric``, ``string``, ``vector`` (numeric embedding or array), ``bool``,
``temporal`` (timestamp or date), ``any``. The last kind listed repeats for further arguments.

Return rules (``Signature.returns``): a Raise dtype string (``float64``), or one of
``arg`` (the first argument's type), ``common`` (common type of all arguments), ``if``
(common type of the second and third arguments), ``sum`` (int64 for integers, float64 for
floats) and ``vector`` (float32 when every vector argument holds float32 or float16, else
float64).
"""
from __future__ import annotations

from dataclasses import dataclass

from grammar.dtypes import FLOATS, INTEGERS, DType, parse_dtype
from grammar.errors import InvalidDType

__all__ = [
    "Signature", "FUNCTIONS", "AGGREGATES", "WINDOW_ONLY", "kind_of", "matches_kind",
    "common_type", "return_type",
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
    ("vector", "CARDINALITY", 1, 1, "vector", "int64"),
    ("vector", "ARRAY_LENGTH", 1, 2, "vector numeric", "int64"),
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
    if parsed.kind == "string" or parsed.element == "string":
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
    return wanted == "any" or kind is None or kind == wanted


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
