"""INFER as DataFusion scalar UDFs.

A Python UDF has one fixed signature, while each model has its own column types and output
type. So INFER is registered per query, once per distinct model signature: the signature of
the first model a query names is registered as ``infer`` (so ``INFER('minilm', bio)`` runs as
written and its column is named as usual), any other as ``infer_2``, ``infer_3`` … to which
:mod:`udfs.infer.rewrite` renames those calls. Each UDF takes the model name as its first
argument and serves every model of its signature.

>>> functions = register_infer(ctx, lookup)                              # doctest: +SKIP
>>> ctx.sql(functions.prepare("SELECT INFER('minilm', bio) FROM docs"))  # doctest: +SKIP

Rewriting a query means parsing it with sqlglot, which costs more than planning it; the text a
query with scalar calls only was rewritten to is remembered per process (``_PREPARED``) with
the signature of each model it named, and used again while each name still resolves to a
model of that signature (so a replaced or dropped model is noticed at the next query).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Callable

import numpy as np
import pyarrow as pa
from datafusion import ScalarUDF, SessionContext, udf

from grammar.errors import NotFound
from udfs.infer.errors import BadInferCall
from udfs.infer.records import ModelRecord
from udfs.infer.rewrite import rewrite_sql

if TYPE_CHECKING:
    from udfs.infer.load import LoadedModel

FUNCTION = "infer"
Signature = tuple[tuple[pa.DataType, ...], pa.DataType]
ModelLookup = Callable[[str], "ModelRecord | None"]


class ModelNotRegistered(NotFound):
    """INFER names a model the catalog does not have."""

    code = "RAISE-N210"


def infer_udf(name: str, argument_types: list[pa.DataType], return_type: pa.DataType,
              model: Callable[[str], LoadedModel]) -> ScalarUDF:
    """A scalar UDF ``name(model_name, column, ...)`` for models of one signature.

    ``model`` maps the model name (the first argument) to the loaded model. A NULL argument
    gives a NULL result; the model runs in batches per the model's ``BatchConfig``.
    """
    def call(names: pa.Array, *columns: pa.Array) -> pa.Array:
        distinct = [n for n in names.unique().to_pylist() if n is not None]
        if not distinct:
            return pa.nulls(len(names), return_type)
        if len(distinct) > 1:
            raise BadInferCall(f"{FUNCTION.upper()} takes one model per call, got {sorted(distinct)}")
        from udfs.infer.pipeline import predict  # the runners load at the first INFER, not every query

        loaded = model(distinct[0])
        prediction = predict(loaded, list(columns), on_error="raise")
        if len(prediction.columns) == 1:
            return prediction.columns[0]
        return pa.StructArray.from_arrays(list(prediction.columns), [c.name for c in loaded.outputs],
                                          mask=pa.array(~_all_valid(prediction.columns)))

    fields = [pa.field("model", pa.string())] + [pa.field(f"input{i}", t) for i, t in enumerate(argument_types)]
    return udf(call, fields, pa.field(name, return_type), "stable", name)


def _all_valid(columns: tuple[pa.Array, ...]) -> np.ndarray:
    valid = np.ones(len(columns[0]), dtype=bool)
    for column in columns:
        valid &= np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return valid


class InferFunctions:
    """INFER in one DataFusion context: resolves models and registers the UDFs a query needs."""

    def __init__(self, ctx: SessionContext, models: ModelLookup, *, device: str | None = None) -> None:
        self.ctx = ctx
        self.models = models
        self.device = device
        self._loaded: dict[str, LoadedModel] = {}
        self._functions: dict[Signature, str] = {}
        #: (model, signature) in the order this query first asked for their function
        self._named: list[tuple[str, Signature]] = []
        #: Whether the rewrite met a table form (its text depends on more than signatures).
        self.table_form = False

    def __repr__(self) -> str:
        return f"InferFunctions(models={sorted(self._loaded)}, functions={sorted(self._functions.values())})"

    def model(self, name: str) -> LoadedModel:
        """The loaded model ``name`` (as INFER's first argument names it)."""
        if name not in self._loaded:
            record = self.models(name)
            if record is None:
                raise ModelNotRegistered(f"no model named {name!r}; register it with CREATE MODEL "
                                         f"{name} FROM '<uri>' FRAMEWORK ... (SHOW MODELS lists models)",
                                         name=name)
            from udfs.infer.load import load_model

            self._loaded[name] = load_model(record, device=self.device)
        return self._loaded[name]

    def signature(self, name: str) -> Signature:
        loaded = self.model(name)
        return tuple(loaded.argument_types()), loaded.return_type()

    def function_for(self, name: str) -> str:
        """The UDF name that runs model ``name``, registering it on first use."""
        signature = self.signature(name)
        if (name, signature) not in self._named:
            self._named.append((name, signature))
        if signature not in self._functions:
            function = FUNCTION if not self._functions else f"{FUNCTION}_{len(self._functions) + 1}"
            self.ctx.register_udf(infer_udf(function, list(signature[0]), signature[1], self._serve(signature)))
            self._functions[signature] = function
        return self._functions[signature]

    def _serve(self, signature) -> Callable[[str], LoadedModel]:
        def serve(name: str) -> LoadedModel:
            loaded = self.model(name)
            if (tuple(loaded.argument_types()), loaded.return_type()) != signature:
                raise BadInferCall(f"model {name!r} takes or returns other types than the model this "
                                   f"{FUNCTION.upper()} call was planned for; name the model as a literal")
            return loaded
        return serve

    def prepare(self, sql: str) -> str:
        """Register the UDFs ``sql`` needs; return it rewritten where needed (see ``rewrite``)."""
        with _PREPARED_LOCK:
            known = _PREPARED.get(sql)
            if known is not None:
                _PREPARED.move_to_end(sql)
        if known is not None and self._replay(known[1]):
            return known[0]
        self._named, self.table_form = [], False
        text = rewrite_sql(sql, self)
        if self._named and not self.table_form:
            with _PREPARED_LOCK:
                _PREPARED[sql] = (text, tuple(self._named))
                while len(_PREPARED) > _PREPARED_SIZE:
                    _PREPARED.popitem(last=False)
        return text

    def _replay(self, named: tuple[tuple[str, Signature], ...]) -> bool:
        """Register the functions a remembered rewrite used, in its order; False (nothing is
        registered) if any model now has another signature than it had then."""
        if any(self.signature(model) != signature for model, signature in named):
            return False
        for model, _ in named:
            self.function_for(model)
        return True


#: Rewritten text of queries seen (see the module doc), most recently used last.
_PREPARED: OrderedDict[str, tuple[str, tuple[tuple[str, Signature], ...]]] = OrderedDict()
_PREPARED_SIZE = 512
_PREPARED_LOCK = threading.Lock()


def register_infer(ctx: SessionContext, models: ModelLookup, *, device: str | None = None) -> InferFunctions:
    """Make INFER available in ``ctx``: pass each query through the returned ``prepare``."""
    return InferFunctions(ctx, models, device=device)
