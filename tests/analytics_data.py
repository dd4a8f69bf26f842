"""The data the analytics tests analyse, written once into a group and kept as pandas for
the NumPy/SciPy/pandas references."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from raise_ import FeatureStore

ROWS = 3000
T0 = dt.datetime(2026, 1, 1)
TIERS = ["bronze", "gold", "platinum", "silver"]
# as conftest_sdk reads them (imported there as a plugin, so not importable here)
CONNECTION_KINDS = os.environ.get("RAISE_TEST_CONNECTIONS", "embedded,flight").split(",")
CONTEXT, USER, PASSWORD = "acme/mlplatform/recommendation", "alice@acme.com", "alice-password"


def open_store(kind: str, home: Path) -> Iterator[FeatureStore]:
    """A store for alice on ``home``, embedded or through a Flight server of its own."""
    server = None
    if kind == "flight":
        from conftest_flight import add_user, start_server

        add_user(home, USER, PASSWORD)
        server = start_server(home)
        store = FeatureStore(CONTEXT, url=server.url, user=USER, password=PASSWORD)
    else:
        store = FeatureStore(CONTEXT, home=str(home), user=USER)
    yield store
    store.close()
    if server is not None:
        server.stop()


def frame(rows: int = ROWS, seed: int = 7) -> pd.DataFrame:
    """Users over 60 days: counts with NULLs, revenue, a tier, an A/B arm and an embedding."""
    rng = np.random.default_rng(seed)
    clicks = rng.poisson(15, rows).astype("float64")
    clicks[rng.random(rows) < 0.1] = np.nan
    arm = rng.choice(["control", "variant_a"], rows)
    conversion = rng.normal(0.10, 0.03, rows) + np.where(arm == "variant_a", 0.01, 0.0)
    return pd.DataFrame({
        "user_id": np.arange(rows, dtype="int64"),
        "event_time": [T0 + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 60, rows)],
        "click_count": pd.array(clicks, dtype="Int64"),
        "impression_count": (rng.poisson(150, rows) + 10 * np.nan_to_num(clicks)).astype("int64"),
        "revenue": rng.gamma(4.0, 5.0, rows),
        "user_tier": rng.choice(TIERS, rows),
        "experiment_group": arm,
        "conversion_rate": conversion,
        "converted": (rng.random(rows) < np.where(arm == "variant_a", 0.3, 0.2)).astype("int64"),
    })


def create_group(store, data: pd.DataFrame, name: str = "user-signals"):
    group = store.create_feature_group(name, key_columns=["user_id"], timestamp_column="event_time")
    group.create_features_from_schema({
        "click_count": "int64", "impression_count": "int64", "revenue": "float64", "user_tier": "string",
        "experiment_group": "string", "conversion_rate": "float64", "converted": "int64",
    })
    group.write(data)
    return group
