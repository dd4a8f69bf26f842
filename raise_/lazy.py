"""Modules loaded at their first use rather than at import.

``raise sql -e ...`` and a notebook's ``import raise_`` should not pay for libraries that only
some statements need (``scipy.stats`` alone takes ~1 s to import); a module's import line can
name them through ``module`` and keep using them as before.
"""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def module(name: str) -> ModuleType:
    """``name`` as a module object whose code runs at the first attribute access
    (``importlib.util.LazyLoader``); the module itself if it is already imported.

    >>> stats = module("scipy.stats")  # nothing of scipy.stats has run yet
    >>> float(stats.norm.cdf(0.0))     # now it has
    0.5
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    lazy = importlib.util.module_from_spec(spec)
    sys.modules[name] = lazy
    loader.exec_module(lazy)
    parent, _, child = name.rpartition(".")
    if parent:  # as an import does: a later ``import pyarrow.fs`` finds it in sys.modules and
        setattr(importlib.import_module(parent), child, lazy)  # would not bind it on pyarrow
    return lazy


def exports(package: str, names: dict[str, str]):
    """A package's ``__getattr__`` and ``__dir__`` for public ``names`` (name → defining
    module), each module imported at the first use of one of its names."""
    import importlib

    def __getattr__(name: str):
        where = names.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__


class Attributes:
    """The attributes of a module that is imported at the first use of one: for a submodule
    (``sqlglot.expressions``), whose parent package ``module`` would import at once.

    >>> exp = Attributes("sqlglot.expressions")  # sqlglot is not imported yet
    >>> exp.Select.__name__                      # now it is
    'Select'
    """

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str):
        import importlib

        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        return f"Attributes({self._name!r})"
