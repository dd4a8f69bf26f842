"""``raise demo``: the Quick Start end to end on an embedded store, printed as it goes."""
from __future__ import annotations

import functools
import sys
import tempfile
from contextlib import ExitStack
from typing import TextIO

import numpy as np

from raise_.output import to_text
from raise_.sdk import FeatureStore

__all__ = ["run_demo"]

QUERY = """SELECT user_id, click_count, impression_count, ROUND(ctr, 3) AS ctr
FROM "user-signals" ORDER BY user_id"""


def run_demo(home: str | None = None, out: TextIO | None = None) -> None:
    """Create the Quick Start's features, write five users, query them, draw ctr's lineage.

    ``home``: the store's folder (kept afterwards); default a temporary folder, removed at
    the end.
    """
    out = out or sys.stdout
    with ExitStack() as stack:
        if home is None:
            home = stack.enter_context(tempfile.TemporaryDirectory(prefix="raise-demo-"))
        fs = stack.enter_context(FeatureStore("acme/mlplatform/recommendation", home=home, user="demo"))
        say = functools.partial(print, file=out)
        say(f"Raise demo: the Quick Start on an embedded store in {home}\n")
        group = fs.create_feature_group("user-signals", key_columns=["user_id"],
                                         timestamp_column="event_time")
        say(f"created feature group {group.qualified_name} (key user_id, event time event_time)")
        for name, dtype in (("click_count", "int64"), ("impression_count", "int64"),
                            ("user_embedding", "float32[512]")):
            feature = group.create_feature(name, dtype=dtype)
            say(f"created feature {feature.name} {feature.dtype}")
        ctr = group.create_feature("ctr", dtype="float64",
                                   derived_from="click_count / NULLIF(impression_count, 0)")
        say(f"created derived feature ctr = {ctr.derived_from}")
        written = group.write(_sample_rows(), mode="upsert")
        say(f"wrote {written} rows (5 users, 512-dim embeddings)\n")
        say(QUERY)
        say(to_text(fs.sql(QUERY)))
        say("lineage of ctr:")
        say(ctr.get_lineage().as_graph().to_ascii())
        say(f"\n{len(fs.history)} Raise SQL statements were sent; the first feature was created by:")
        say("  " + next(s for s in fs.history if s.startswith("CREATE FEATURE \"")))


def _sample_rows() -> list[dict]:
    """Five users with seeded random counts and unit-length embeddings."""
    rng = np.random.default_rng(7)
    impressions = rng.integers(20, 200, size=5)
    clicks = (impressions * rng.uniform(0.01, 0.2, size=5)).astype(np.int64)
    vectors = rng.standard_normal((5, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    now = np.datetime64("2026-01-01T00:00:00")
    return [
        {"user_id": i + 1, "event_time": now.astype(object), "click_count": int(clicks[i]),
         "impression_count": int(impressions[i]), "user_embedding": vectors[i].tolist()}
        for i in range(5)
    ]
