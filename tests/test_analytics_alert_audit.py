"""An analytics alert's firing is written to the audit log (once per firing, not per check)."""
from __future__ import annotations

import json

from raise_.engine import Engine

SETUP = """
USE acme/ml/rec;
CREATE FEATURE GROUP signals KEY (user_id INT64) TIMESTAMP event_time;
CREATE FEATURE signals.clicks INT64;
INSERT INTO signals (user_id, event_time, clicks) VALUES (1, TIMESTAMP '2026-01-01 00:00:00', 7),
    (2, TIMESTAMP '2026-01-02 00:00:00', 3);
CREATE ALERT many_clicks ON signals AS ANALYZE '{"kind": "aggregation", "feature": "clicks", "metrics": ["max"]}'
    WHEN GREATER_THAN(5) NOTIFY ('ops@acme.com') CHANNELS ('email', 'slack')
"""


def test_a_firing_is_audited_once(tmp_path):
    session = Engine(tmp_path / "store").session("alice@acme.com")
    session.execute(SETUP)
    for _ in range(2):  # the second check still holds: no new firing
        assert session.execute("CHECK ALERTS FORCE").column("status").to_pylist() == ["firing"]
    entries = session.execute("SHOW AUDIT").to_pylist()
    fired = [e for e in entries if e["resource"] == "acme/ml/rec/alert:many_clicks" and e["action"] == "UPDATE_METADATA"]
    assert len(fired) == 1 and fired[0]["outcome"] == "ALLOWED" and fired[0]["actor"] == "alice@acme.com"
    details = fired[0]["details"] if isinstance(fired[0]["details"], dict) else json.loads(fired[0]["details"])
    assert details["status"] == "firing" and details["value"] == 7 and details["condition"] == "GREATER_THAN"
    assert details["channels"] == ["email", "slack"]
