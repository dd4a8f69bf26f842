"""Online lookups over Flight SQL on a real server process: a batch of keys is one lookup,
and a server answering lookups does not grow its open files as gRPC replaces its threads."""
from __future__ import annotations

import os
import sys

import numpy as np
import pyarrow as pa
import pytest

from raise_ import FeatureStore
from raise_.engine.security.audit import log_for

pytest_plugins = ["conftest_flight"]

USER, PASSWORD = "looker", "looker-password"
CONTEXT = "acme/online/lookups"


@pytest.fixture
def served(tmp_path, start_flight_server, add_flight_user):
    """A materialized group of 50 keys, and a server on its store."""
    home = tmp_path / "store"
    add_flight_user(home, USER, PASSWORD)
    fs = FeatureStore(CONTEXT, home=str(home), user=USER)
    group = fs.create_feature_group("users", key_columns=["user_id"], timestamp_column="event_time")
    group.create_features_from_schema({"score": "float64"})
    keys = np.arange(50, dtype=np.int64)
    group.write(pa.table({"user_id": keys, "event_time": np.full(50, np.datetime64("2026-01-01", "us")),
                          "score": keys * 0.5}))
    fs.materialize("users")
    server = start_flight_server(home)
    return home, server


def _open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_a_lookup_of_many_keys_is_one_lookup_in_row_order(served):
    home, server = served
    fs = FeatureStore(CONTEXT, url=server.url, user=USER, password=PASSWORD)
    try:
        before = len(log_for(home).entries())
        wanted = [7, 3, 99, 3, 0]
        got = fs.get_online_features(["users.score"], [{"user_id": k} for k in wanted]).to_dict()
        assert got == {"user_id": wanted, "score": [3.5, 1.5, None, 1.5, 0.0]}
        entries = log_for(home).entries()[before:]
        reads = [e for e in entries if e.action == "READ"]
        assert [(e.resource, e.details["keys"], e.outcome) for e in reads] == [(f"{CONTEXT}/users", 5, "ALLOWED")]
    finally:
        fs.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts open files in /proc")
def test_open_files_stay_bounded_over_many_lookups(served):
    home, server = served
    fs = FeatureStore(CONTEXT, url=server.url, user=USER, password=PASSWORD)
    try:
        for i in range(200):  # gRPC has started and ended threads by now
            fs.get_online_features(["users.score"], [{"user_id": i % 50}])
        settled = _open_files(server.process.pid)
        for i in range(400):
            assert fs.get_online_features(["users.score"], [{"user_id": i % 50}]).to_dict()["score"] == [i % 50 * 0.5]
        # each ended thread's SQLite connections used to stay open: ~1.6 files per lookup
        assert _open_files(server.process.pid) - settled < 120
    finally:
        fs.close()
    reads = [e for e in log_for(home).entries() if e.action == "READ" and e.details.get("online")]
    assert len(reads) == 600 and all(e.outcome == "ALLOWED" for e in reads)
    assert all(report.valid for report in log_for(home).verify())
