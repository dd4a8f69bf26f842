"""PERIODIC integrity: registries re-validated when their policy's period has passed, by the
job scheduler's pass inside ``raise serve`` and by ``raise blobs validate-due``; each outcome
recorded on its reference and audited."""
from __future__ import annotations

import time

import pytest

from raise_.blobs.periodic import validate_due
from raise_.cli import main
from raise_.engine import Engine
from raise_.jobs.scheduler import JobScheduler

ALICE = "alice@acme.com"
PERIOD = 0.6


@pytest.fixture
def store(tmp_path):
    engine = Engine(tmp_path / "store")
    session = engine.session(ALICE, "acme/ml/vision")
    session.execute("CREATE ORGANIZATION acme; CREATE DOMAIN acme/ml; CREATE PROJECT acme/ml/vision")
    files = []
    for i in range(3):
        path = tmp_path / f"img-{i}.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes([i]) * 64)
        files.append(path)
    entries = ", ".join(f"'{p.as_uri()}' SIZE {p.stat().st_size}" for p in files)
    session.execute(f"CREATE BLOB REGISTRY watched POLICY (mode = periodic, cache_validation_seconds = {PERIOD}); "
                    f"REGISTER BLOBS IN watched {entries}")
    session.execute(f"CREATE BLOB REGISTRY lazy POLICY (mode = lazy); REGISTER BLOBS IN lazy {entries}")
    return engine, session, files


def _stamps(session, registry="watched"):
    rows = session.execute(f"SHOW BLOBS IN {registry}").to_pylist()
    return {r["uri"].rsplit("/", 1)[-1]: (r["status"], r["validated_at"]) for r in rows}


def test_the_scheduler_revalidates_periodic_registries_when_their_period_has_passed(store):
    engine, session, files = store
    assert {s for s, _ in _stamps(session).values()} == {None}  # registered, never validated
    scheduler = JobScheduler(engine)
    scheduler.tick()
    assert scheduler.blob_validations.to_pylist() == [
        {"registry": "acme/ml/vision/watched", "checked": 3, "valid": 3, "missing": 0, "size_mismatch": 0,
         "checksum_mismatch": 0, "unreachable": 0, "error": None}]
    first = _stamps(session)
    assert {s for s, _ in first.values()} == {"valid"}
    assert {s for s, _ in _stamps(session, "lazy").values()} == {None}  # only PERIODIC registries
    scheduler.tick()
    assert scheduler.blob_validations.num_rows == 0 and _stamps(session) == first  # not due yet
    files[1].unlink()
    files[2].write_bytes(b"\x89PNG\r\n\x1a\n")
    time.sleep(PERIOD)
    scheduler.tick()
    row = scheduler.blob_validations.to_pylist()[0]
    assert (row["checked"], row["valid"], row["missing"], row["size_mismatch"]) == (3, 1, 1, 1)
    after = _stamps(session)
    assert [after[f"img-{i}.png"][0] for i in range(3)] == ["valid", "missing", "size_mismatch"]
    assert all(after[name][1] > first[name][1] for name in after)
    audited = [e for e in session.execute("SHOW AUDIT").to_pylist()
               if e["resource"] == "acme/ml/vision/blob_registry:watched" and e["action"] == "WRITE"
               and "blob_validation" in str(e["details"])]
    assert len(audited) == 2 and {e["actor"] for e in audited} == {ALICE}  # as the registry's owner


def test_raise_blobs_validate_due_runs_one_pass_for_cron(store, capsys):
    engine, session, _ = store
    args = ["blobs", "validate-due", "--home", str(engine.home), "--format", "json"]
    assert main(args + ["--project", "acme/ml/other"]) == 0
    assert "watched" not in capsys.readouterr().out and _stamps(session)["img-0.png"][0] is None
    assert main(args + ["--project", "acme/ml/vision"]) == 0
    out = capsys.readouterr().out
    assert '"acme/ml/vision/watched"' in out and '"valid": 3' in out.replace('"valid":3', '"valid": 3')
    assert main(args) == 0
    assert "watched" not in capsys.readouterr().out  # validated a moment ago: not due
    assert validate_due(engine.session(principal=None)).num_rows == 0
