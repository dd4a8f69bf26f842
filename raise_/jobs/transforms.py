"""A job's transforms: ``SQLTransform`` (run by the engine over the sources) and Python
functions decorated with ``@python_transform`` (a ``BatchTransform`` run batch by batch by the
job's executor).

A SQL transform's ``{{checkpoint}}``, ``{{execution_date}}`` and ``{{run_id}}`` become bound
parameters with their own types, never text pasted into the SQL: ``'{{checkpoint}}'`` written
inside quotes (as a literal) is the same typed parameter. Anywhere else inside a string literal
the variable is refused.

>>> sql, names = bind_template("SELECT * FROM source WHERE t >= '{{checkpoint}}' AND r = {{run_id}}")
>>> sql, names
('SELECT * FROM source WHERE t >= $1 AND r = $2', ['checkpoint', 'run_id'])

``DATE(x)``, as the spec's transforms write it, is DataFusion's ``to_date(x)``.

A Python transform is named in ``CREATE JOB`` by its importable ``module:qualified_name``; a
function decorated in this process (a notebook's, a test's) is found by that name here too.
Other transform kinds (inference) register in :data:`TRANSFORM_KINDS`.
"""
from __future__ import annotations

import importlib
import importlib.util
import re
from typing import Any, Callable, Sequence

import pyarrow as pa

from grammar.errors import ValidationError
from raise_.jobs.base import BatchTransform, RunContext, imported
from raise_.jobs.checks import table_of

__all__ = ["SQLTransform", "PythonTransform", "python_transform", "bind_template", "TEMPLATE_VARIABLES",
           "TRANSFORM_KINDS", "transform_from", "resolve_function"]

BAD_TRANSFORM = "RAISE-V506"
BAD_TEMPLATE = "RAISE-V507"
TEMPLATE_VARIABLES = ("checkpoint", "execution_date", "run_id")
#: Transform kinds besides SQL: kind -> (module, function building the transform from its
#: ``CREATE JOB ... TRANSFORM name AS kind (settings)`` settings, ``f(name, settings)``).
TRANSFORM_KINDS: dict[str, tuple[str, str]] = {
    "python": ("raise_.jobs.transforms", "python_from_settings"),
    "inference": ("raise_.inference.jobs", "inference_from_settings"),
}
_SPANS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\{\{\s*(\w+)\s*\}\}", re.S)
_QUOTED_VARIABLE = re.compile(r"\A'\{\{\s*(\w+)\s*\}\}'\Z")
_DATE_CALL = re.compile(r"\bDATE(\s*\()", re.IGNORECASE)
_REGISTERED: dict[str, "PythonTransform"] = {}


class SQLTransform:
    """SQL over the job's sources: ``source`` is the first, each source is also its own name."""

    def __init__(self, name: str, sql: str) -> None:
        if not isinstance(sql, str) or not sql.strip():
            raise ValidationError("SQLTransform needs the SQL text of a query", code=BAD_TRANSFORM, name=name)
        bind_template(sql)
        self.name, self.sql = name, sql

    def __repr__(self) -> str:
        return f"SQLTransform(name={self.name!r})"


def _variable(name: str, offset: int) -> str:
    if name not in TEMPLATE_VARIABLES:
        raise ValidationError(f"unknown template variable {{{{{name}}}}} at offset {offset}; variables: "
                              + ", ".join("{{" + v + "}}" for v in TEMPLATE_VARIABLES), code=BAD_TEMPLATE, name=name)
    return name


def bind_template(sql: str) -> tuple[str, list[str]]:
    """``sql`` with each template variable replaced by a ``$n`` placeholder, and the variable
    each placeholder stands for (in order)."""
    out, order, last = [], [], 0
    for match in _SPANS.finditer(sql):
        span = match.group(0)
        quoted = _QUOTED_VARIABLE.match(span)
        name = match.group(1) or (quoted.group(1) if quoted else None)
        out.append(_DATE_CALL.sub(r"to_date\1", sql[last:match.start()]))
        last = match.end()
        if name is None:
            if span.startswith("'") and "{{" in span:
                raise ValidationError(f"a template variable inside the literal {span[:60]} would be pasted text; "
                                      "write it as its own value ('{{checkpoint}}' or {{checkpoint}})",
                                      code=BAD_TEMPLATE, name=span[:60])
            out.append(span)
            continue
        _variable(name, match.start())
        if name not in order:
            order.append(name)
        out.append(f"${order.index(name) + 1}")
    return "".join(out) + _DATE_CALL.sub(r"to_date\1", sql[last:]), order


class PythonTransform(BatchTransform):
    """A function ``f(context, data)`` applied to each batch: ``data`` is a pandas DataFrame of
    the batch's rows; ``f`` returns rows (a list of dicts), columns (a dict), a DataFrame or an
    Arrow table."""

    def __init__(self, function: Callable[[RunContext, Any], Any], name: str,
                 dependencies: Sequence[str] = ()) -> None:
        self.function, self.name = function, name
        self.dependencies = tuple(dependencies)
        self.path = f"{function.__module__}:{function.__qualname__}"

    def __call__(self, context: RunContext, data: Any) -> Any:
        return self.function(context, data)

    def __repr__(self) -> str:
        return f"PythonTransform(name={self.name!r}, function={self.path!r})"

    def job_transform(self) -> tuple[str, tuple[tuple[str, Any], ...]]:
        """The ``TRANSFORM name AS PYTHON (...)`` settings that find this function again."""
        return "python", (("function", self.path), ("dependencies", self.dependencies))

    def start(self, context: RunContext) -> None:
        missing = [d for d in self.dependencies if importlib.util.find_spec(re.split(r"[<>=!~\[ ]", d)[0]) is None]
        if missing:
            raise ValidationError(f"transform {self.name!r} needs {', '.join(missing)}, not installed here",
                                  code=BAD_TRANSFORM, name=missing[0])

    def transform_batch(self, context: RunContext, batch: pa.Table) -> pa.Table:
        result = self.function(context, batch.to_pandas())
        if isinstance(result, list) and not result:
            return pa.table({})
        return table_of(result)


def python_transform(name: str | None = None, dependencies: Sequence[str] = ()) -> Callable[[Callable], PythonTransform]:
    """Make ``f(context, data)`` a job transform (``@python_transform(name="segment_users")``)."""

    def decorate(function: Callable) -> PythonTransform:
        transform = PythonTransform(function, name or function.__name__, dependencies)
        _REGISTERED[transform.path] = transform
        return transform
    return decorate


def resolve_function(path: str) -> PythonTransform:
    """The transform at ``module:qualified_name`` (decorated in this process, or importable)."""
    if path in _REGISTERED:
        return _REGISTERED[path]
    try:
        found = imported(path)
    except (ImportError, AttributeError, ValueError):
        raise ValidationError(f"cannot import the transform function {path!r}: a Python transform must be a "
                              "module-level function importable where the job runs", code=BAD_TRANSFORM,
                              name=path) from None
    if isinstance(found, PythonTransform):
        return found
    if callable(found):
        return PythonTransform(found, qualname.rsplit(".", 1)[-1])
    raise ValidationError(f"{path!r} is not a function", code=BAD_TRANSFORM, name=path)


def python_from_settings(name: str, settings: dict[str, Any]) -> PythonTransform:
    """``TRANSFORM name AS PYTHON (function = 'module:function', dependencies = (...))``."""
    unknown = sorted(set(settings) - {"function", "dependencies"})
    if unknown or not isinstance(settings.get("function"), str):
        raise ValidationError("a PYTHON transform takes function = 'module:function' and optionally "
                              "dependencies = ('package', ...)", code=BAD_TRANSFORM, name=name)
    found = resolve_function(settings["function"])
    deps = settings.get("dependencies") or ()
    return PythonTransform(found.function, name, deps if isinstance(deps, tuple) else (deps,))


def transform_from(name: str, kind: str, settings: dict[str, Any]) -> BatchTransform:
    """The batch transform of a ``TRANSFORM name AS kind (settings)`` clause."""
    if kind not in TRANSFORM_KINDS:
        raise ValidationError(f"unknown transform kind {kind!r}; kinds: sql, {', '.join(TRANSFORM_KINDS)}",
                              code=BAD_TRANSFORM, name=kind)
    module, function = TRANSFORM_KINDS[kind]
    return getattr(importlib.import_module(module), function)(name, settings)
