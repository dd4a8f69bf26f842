"""Deterministic benchmark sentences (no Raise imports, so a bare GPU host can use them)."""
from __future__ import annotations

import numpy as np

_WORDS = ("feature store model embedding vector query table group user item click session "
          "latency training data pipeline inference batch token text search ranking signal "
          "window stream join key value delta arrow flight catalog schema version lineage").split()


def sentences(count: int) -> list[str]:
    """Deterministic sentences of 3 to 60 words (a long-tailed length mix, as real text has).

    Prefix-stable: ``sentences(n)[:k] == sentences(k)``, so runs of different sizes compare
    the same texts row by row.
    """
    rng = np.random.default_rng(11)
    out = []
    for _ in range(count):
        n = int(np.clip(int(rng.lognormal(2.4, 0.7)), 3, 60))
        out.append(" ".join(rng.choice(_WORDS, n)) + ".")
    return out
