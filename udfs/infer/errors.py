"""Errors of model inference, each with its own stable code.

They are raised inside DataFusion UDFs too, where they cross DataFusion as text; their
one-argument constructors let :func:`udfs.errors.from_datafusion` rebuild them.
"""
from __future__ import annotations

from grammar.errors import ExecutionError, TypeMismatch, Unsupported, ValidationError


class InferenceFailed(ExecutionError):
    """A model call failed (after its retries)."""

    code = "RAISE-X210"


class InferenceTimeout(InferenceFailed):
    """A model call ran past ``BatchConfig.timeout_seconds``."""

    code = "RAISE-X211"


class UnsupportedModel(Unsupported):
    """A framework, precision, task or device this installation cannot run a model with."""

    code = "RAISE-X212"


class BadInferCall(ValidationError):
    """An INFER call whose arguments do not fit the model (count, types, model name)."""

    code = "RAISE-V210"


class OutputMismatch(TypeMismatch):
    """A model output that does not fit the declared OUTPUT dtype."""

    code = "RAISE-V211"
