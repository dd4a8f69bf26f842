"""The embedded Raise engine: catalog (SQLite), storage (Delta Lake), DataFusion queries.

Names are loaded on first use, so that importing a light module of the engine (``names``,
``catalog``) does not load DataFusion and Delta Lake.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Engine": "raise_.engine.engine", "ResultStream": "raise_.engine.query",
    "Session": "raise_.engine.session", "TableInfo": "raise_.engine.session",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'raise_.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
