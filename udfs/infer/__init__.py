"""Model inference for Raise: INFER in SQL, model runners, batching.

* :mod:`~udfs.infer.records`: ``ModelRecord`` (a registered model) and ``BatchConfig``.
* :mod:`~udfs.infer.resolve`: model URIs (``file://``, paths, ``hf://``, object stores) to
  local files, offline.
* :mod:`~udfs.infer.load`: the runner for a model (onnxruntime, torch), cached per process.
* :mod:`~udfs.infer.pipeline`: batching, prefetching, retries and timeouts over Arrow columns.
* :mod:`~udfs.infer.udf` and :mod:`~udfs.infer.rewrite`: INFER as DataFusion UDFs and the
  pre-pass for its table form.
"""
from udfs.infer.errors import (
    BadInferCall,
    InferenceFailed,
    InferenceTimeout,
    OutputMismatch,
    UnsupportedModel,
)
from udfs.infer.load import LoadedModel, clear_cache, load_model
from udfs.infer.pipeline import Prediction, RunStats, plan_batches, predict
from udfs.infer.records import BatchConfig, Column, ModelRecord
from udfs.infer.resolve import ModelNotFound, NoResolver, Resolved, cache_dir, resolve
from udfs.infer.rewrite import rewrite_sql
from udfs.infer.udf import FUNCTION, InferFunctions, ModelNotRegistered, infer_udf, register_infer

__all__ = [
    "BatchConfig", "Column", "ModelRecord", "LoadedModel", "load_model", "clear_cache",
    "Prediction", "RunStats", "plan_batches", "predict", "Resolved", "resolve", "cache_dir",
    "rewrite_sql", "FUNCTION", "InferFunctions", "infer_udf", "register_infer",
    "BadInferCall", "InferenceFailed", "InferenceTimeout", "OutputMismatch", "UnsupportedModel",
    "ModelNotFound", "NoResolver", "ModelNotRegistered",
]
