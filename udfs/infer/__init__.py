"""Model inference for Raise: INFER in SQL, model runners, batching.

* :mod:`~udfs.infer.records`: ``ModelRecord`` (a registered model) and ``BatchConfig``.
* :mod:`~udfs.infer.resolve`: model URIs (``file://``, paths, ``hf://``, object stores) to
  local files, offline.
* :mod:`~udfs.infer.load`: the runner for a model (onnxruntime, torch), cached per process.
* :mod:`~udfs.infer.pipeline`: batching, prefetching, retries and timeouts over Arrow columns.
* :mod:`~udfs.infer.udf` and :mod:`~udfs.infer.rewrite`: INFER as DataFusion UDFs and the
  pre-pass for its table form.

The runners and the pipeline need neither DataFusion nor sqlglot (a GPU host may run them
alone), so the SQL-facing names are imported when first used; the runners too, so that a
query without INFER does not load them.
"""
from __future__ import annotations

import importlib
from typing import Any

from udfs.infer.errors import (
    BadInferCall,
    InferenceFailed,
    InferenceTimeout,
    OutputMismatch,
    UnsupportedModel,
)
from udfs.infer.records import BatchConfig, Column, ModelRecord
from udfs.infer.resolve import ModelNotFound, NoResolver, Resolved, cache_dir, resolve

#: Names loaded on first use: the runners (onnxruntime, torch, PIL) and the SQL side.
_SQL_NAMES = {
    "LoadedModel": "udfs.infer.load", "clear_cache": "udfs.infer.load", "load_model": "udfs.infer.load",
    "Prediction": "udfs.infer.pipeline", "RunStats": "udfs.infer.pipeline",
    "plan_batches": "udfs.infer.pipeline", "predict": "udfs.infer.pipeline",
    "rewrite_sql": "udfs.infer.rewrite", "FUNCTION": "udfs.infer.udf", "InferFunctions": "udfs.infer.udf",
    "ModelNotRegistered": "udfs.infer.udf", "infer_udf": "udfs.infer.udf", "register_infer": "udfs.infer.udf",
}

__all__ = [
    "BatchConfig", "Column", "ModelRecord", "LoadedModel", "load_model", "clear_cache",
    "Prediction", "RunStats", "plan_batches", "predict", "Resolved", "resolve", "cache_dir",
    "BadInferCall", "InferenceFailed", "InferenceTimeout", "OutputMismatch", "UnsupportedModel",
    "ModelNotFound", "NoResolver", *_SQL_NAMES,
]


def __getattr__(name: str) -> Any:
    if name in _SQL_NAMES:
        return getattr(importlib.import_module(_SQL_NAMES[name]), name)
    raise AttributeError(f"module 'udfs.infer' has no attribute {name!r}")
