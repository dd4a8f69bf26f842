"""The vector search family: the top-k query runner and the VECTOR INDEX statements."""
from __future__ import annotations

from raise_.engine.families import Family
from raise_.engine.vectors.runner import take

FAMILY = Family(name="vectors", statements={}, query_runners=(take,))
