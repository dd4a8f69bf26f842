"""Shared fixtures: a fresh embedded store per test, and GPU detection for the ``gpu`` marker."""
from __future__ import annotations

import os

import pytest

pytest_plugins = ["conftest_flight"]

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".cache", "numba"))


def _has_gpu() -> bool:
    try:
        import cupy

        return bool(cupy.cuda.is_available())
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if _has_gpu():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def engine(tmp_path):
    from raise_.engine import Engine

    return Engine(tmp_path / "store")


@pytest.fixture
def session(engine):
    return engine.session(principal="alice@acme.com")
