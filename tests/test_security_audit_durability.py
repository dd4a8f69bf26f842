"""The audit log's durability and order: entries written by several threads and processes at
once form one gap-free chain per organization; an entry is kept once ``append`` returns, even
if the process is killed right after; lookups are audited after the log is closed."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa

from raise_ import FeatureStore
from raise_.engine.security.audit import AuditLog, Event

REPO = Path(__file__).resolve().parents[1]
_WRITER = textwrap.dedent("""
    import os, sys
    from raise_.engine.security.audit import AuditLog, Event
    log = AuditLog(sys.argv[1])
    for i in range(int(sys.argv[3])):
        log.append(sys.argv[2], "acme", [Event("READ", "acme/ml/rec/users", {"n": i})], "ALLOWED")
    if len(sys.argv) > 4:
        os._exit(0)  # no close, no interpreter shutdown: as if killed
""")


def _writer(home: Path, actor: str, count: int, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, "-c", _WRITER, str(home), actor, str(count), *extra], env=env)


def test_entries_from_two_processes_and_threads_form_one_ordered_chain(tmp_path):
    log = AuditLog(tmp_path)
    others = [_writer(tmp_path, f"proc{i}", 150) for i in range(2)]

    def here(name: str) -> None:
        for i in range(100):
            log.append(name, "acme", [Event("READ", "acme/ml/rec/users", {"n": i})], "ALLOWED")

    threads = [threading.Thread(target=here, args=(f"thread{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [p.wait(timeout=120) for p in others] == [0, 0]
    entries = log.entries()
    assert len(entries) == 500
    assert [e.seq for e in entries] == list(range(1, 501))  # id order is chain order, no gaps
    for actor, count in (("proc0", 150), ("proc1", 150), ("thread0", 100), ("thread1", 100)):
        assert [e.details["n"] for e in entries if e.actor == actor] == list(range(count))
    assert [(r.chain, r.entries, r.valid) for r in log.verify()] == [("acme", 500, True)]


def test_an_entry_is_kept_when_the_writing_process_dies_right_after(tmp_path):
    AuditLog(tmp_path)
    assert _writer(tmp_path, "killed", 40, "exit-at-once").wait(timeout=120) == 0
    log = AuditLog(tmp_path)
    assert [e.details["n"] for e in log.entries()] == list(range(40))
    assert all(r.valid for r in log.verify())


def test_lookups_are_audited_after_the_log_is_closed(tmp_path):
    fs = FeatureStore("acme/ml/rec", home=str(tmp_path / "store"))
    group = fs.create_feature_group("users", key_columns=["user_id"], timestamp_column="event_time")
    group.create_features_from_schema({"score": "float64"})
    group.write(pa.table({"user_id": np.arange(3, dtype=np.int64),
                          "event_time": np.full(3, np.datetime64("2026-01-01", "us")), "score": [0.5, 1.5, 2.5]}))
    fs.materialize("users")
    from raise_.engine.security.audit import log_for

    log = log_for(tmp_path / "store")
    assert fs.get_online_features(["users.score"], [{"user_id": 1}]).to_dict()["score"] == [1.5]
    log.close()  # checkpointed and closed: the next lookup opens what it needs
    assert fs.get_online_features(["users.score"], [{"user_id": 2}, {"user_id": 0}]).to_dict()["score"] == [2.5, 0.5]
    reads = [e for e in log.entries() if e.action == "READ" and e.details.get("online")]
    assert [(e.details["keys"], e.outcome) for e in reads] == [(1, "ALLOWED"), (2, "ALLOWED")]
    assert all(r.valid for r in log.verify())
