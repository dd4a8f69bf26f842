"""The INFER pre-pass: registers what a query's INFER calls need and rewrites the table form.

Two forms:

* scalar, anywhere an expression goes: ``INFER('minilm', bio)`` — one argument per model input
  after the model name; the result is the model's output (a struct of outputs when it has
  several).
* table, in FROM or JOIN: ``INFER('minilm', "docs", bio)`` or
  ``INFER('minilm', (SELECT ...), bio)`` — the source's rows plus one column per model output,
  named as the model names them::

      SELECT id, embedding FROM INFER('minilm', "docs", bio) AS e WHERE e.id < 10
      -- runs as
      SELECT id, embedding FROM (SELECT *, infer('minilm', bio) AS "embedding" FROM "docs") AS e
      WHERE e.id < 10

DataFusion's Python table functions are planned with literal arguments and cannot run a query,
hence a rewrite. SQL without INFER is returned untouched, and so is SQL whose INFER calls are
all scalar over models of one signature (the common case); otherwise it is re-printed from the
sqlglot tree (dialect :data:`DIALECT`, as the engine's other rewrites).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from udfs.infer.errors import BadInferCall

if TYPE_CHECKING:
    from udfs.infer.udf import InferFunctions

DIALECT = "duckdb"
_MENTION = re.compile(r"\binfer\s*\(", re.IGNORECASE)
_LITERAL_CALL = re.compile(r"\binfer\s*\(\s*'((?:[^']|'')*)'", re.IGNORECASE)
_STRUCT_COLUMN = "__raise_infer"
_PUSHDOWN = "datafusion.optimizer.enable_leaf_expression_pushdown"


def rewrite_sql(sql: str, functions: "InferFunctions") -> str:
    """``sql`` ready for DataFusion, with every UDF its INFER calls need registered."""
    if not _MENTION.search(sql):
        return sql
    try:
        tree = sqlglot.parse_one(sql, dialect=DIALECT)
    except SqlglotError:
        # Not for sqlglot (e.g. time travel syntax): scalar calls still work as written.
        for match in _LITERAL_CALL.finditer(sql):
            functions.function_for(match.group(1).replace("''", "'"))
        return sql
    calls = [c for c in tree.find_all(exp.Anonymous) if c.name.lower() == "infer"]
    for call in calls:  # outermost first, left to right: that model's signature is plain `infer`
        functions.function_for(_model_name(call))
    changed = False
    # Deepest calls first: a table form copies its arguments, which must be rewritten already.
    for call in reversed(calls):
        model = _model_name(call)
        if isinstance(call.parent, exp.Table) and call.arg_key == "this":
            functions.table_form = True
            call.parent.replace(_table_form(call.parent, call, model, functions))
            changed = True
            continue
        _check_arity(call.expressions[1:], model, functions)
        function = functions.function_for(model)
        if function != "infer":
            call.set("this", function)
            changed = True
    return tree.sql(dialect=DIALECT) if changed else sql


def _model_name(call: exp.Anonymous) -> str:
    first = call.expressions[0] if call.expressions else None
    if not isinstance(first, exp.Literal) or not first.is_string:
        raise BadInferCall(f"INFER's first argument must be a model name in quotes, as in "
                           f"INFER('minilm', bio); got {call.sql(dialect=DIALECT)}")
    return first.this


def _check_arity(columns: list[exp.Expression], model: str, functions: "InferFunctions") -> None:
    inputs = functions.model(model).inputs
    if len(columns) != len(inputs):
        wanted = ", ".join(f"{c.name} {c.dtype}" for c in inputs)
        raise BadInferCall(f"model {model!r} takes {len(inputs)} column(s) ({wanted}); INFER gave "
                           f"{len(columns)}", name=model)


def _table_form(table: exp.Table, call: exp.Anonymous, model: str,
                functions: "InferFunctions") -> exp.Expression:
    """``INFER('m', source, cols...) [AS alias]`` as a derived table over ``source``."""
    if len(call.expressions) < 2:
        raise BadInferCall(f"table INFER takes a model, a source and its input columns, as in "
                           f"FROM INFER({model!r}, \"docs\", bio); got {call.sql(dialect=DIALECT)}")
    source = _source(call.expressions[1])
    columns = call.expressions[2:]
    _check_arity(columns, model, functions)
    outputs = functions.model(model).outputs
    _check_clash(source, [c.name for c in outputs], model, functions)
    result = exp.Anonymous(this=functions.function_for(model), expressions=[call.expressions[0].copy(),
                                                                             *[c.copy() for c in columns]])
    if len(outputs) == 1:
        query = exp.select(exp.Star(), exp.alias_(result, outputs[0].name, quoted=True)).from_(source)
    else:
        inner = exp.select(exp.Star(), exp.alias_(result, _STRUCT_COLUMN, quoted=True)).from_(source)
        struct = exp.column(_STRUCT_COLUMN, quoted=True)
        fields = [exp.alias_(exp.Anonymous(this="get_field", expressions=[struct.copy(), exp.Literal.string(o.name)]),
                             o.name, quoted=True) for o in outputs]
        query = exp.select(exp.Star(except_=[struct]), *fields).from_(inner.subquery())
        # DataFusion 55's leaf-projection pushdown fails on struct fields read over a view that
        # repeats an expression (a group's `v` and `"v@v1"`): off for this query's context.
        functions.ctx.sql(f"SET {_PUSHDOWN} = false").collect()
    return exp.Subquery(this=query, alias=table.args.get("alias"))


def _source(argument: exp.Expression) -> exp.Expression:
    """INFER's second argument as a FROM item: a (qualified) table name or a subquery."""
    if isinstance(argument, exp.Subquery):
        return argument.copy()
    if isinstance(argument, exp.Column):
        parts = [p.copy() for p in argument.parts]
        return exp.Table(this=parts[-1], db=parts[-2] if len(parts) > 1 else None,
                         catalog=parts[-3] if len(parts) > 2 else None)
    raise BadInferCall(f"table INFER reads a table or a (SELECT ...); got {argument.sql(dialect=DIALECT)}")


def _check_clash(source: exp.Expression, outputs: list[str], model: str, functions: "InferFunctions") -> None:
    """Refuse a source that already has a column named like an output (it would be ambiguous)."""
    probe = exp.select(exp.Star()).from_(source.copy()).limit(0).sql(dialect=DIALECT)
    try:
        existing = set(functions.ctx.sql(probe).schema().names)
    except Exception:  # DataFusion reports a missing table when the query runs; let it
        return
    clash = sorted(existing & set(outputs))
    if clash:
        raise BadInferCall(f"INFER({model!r}, ...) adds column(s) {', '.join(clash)} that its source "
                           "already has; select the source's other columns in a subquery", name=clash[0])
