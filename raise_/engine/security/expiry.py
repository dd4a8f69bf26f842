"""When a cached access decision must be made again without a catalog change: at the
earliest expiry of an active grant (a grant lapses by the clock, not by a commit)."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from raise_.engine.security.grants import status as grant_status

if TYPE_CHECKING:
    from raise_.engine.session import Session


def next_grant_expiry(session: "Session") -> float | None:
    """The monotonic time at which the earliest active grant expires (a decision that rests on
    it must be made again then), or None."""
    soonest = None
    for record in session.catalog.list("grant"):
        expires = record.get("expires")
        if expires and grant_status(record) == "active":
            moment = datetime.fromisoformat(expires)
            moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
            left = (moment - datetime.now(timezone.utc)).total_seconds()
            soonest = left if soonest is None else min(soonest, left)
    return None if soonest is None else time.monotonic() + soonest
