"""examples/04_cross_org_access.py and 05_audit_logging.py run as scripts on a fresh store."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str, home: Path) -> str:
    env = {**os.environ, "RAISE_HOME": str(home), "RAISE_USER": "researcher@acme.com", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-W", "ignore", str(ROOT / "examples" / name)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cross_org_access(tmp_path):
    out = run_example("04_cross_org_access.py", tmp_path / "store")
    assert "email readers: ['restricted@acme.com']" in out
    assert "click_count readers: ['ml-engineers@acme.com', 'restricted@acme.com']" in out
    assert ("feature       acme/mlplatform/recommendation/user-signals/email       "
            "readers=['restricted@acme.com'] inherit=False") in out
    assert "organization  acme                                                    -" in out
    assert "bob reads clicks: [12, 3]" in out
    assert out.count("bob refused: RAISE-P001 PERMISSION_DENIED") == 3
    assert "bob counts: 2" in out
    assert "carol reads email: ['a@example.com', 'b@example.com']" in out
    assert "bob sees features: ['click_count', 'user_embedding']" in out
    assert "granted: partner-org ['user_embedding'] read active" in out
    assert "partner reads acme embedding rows: 2" in out and "partner refused email: RAISE-P001" in out
    assert "affinity: [{'user_id': 1, 'cross_org_affinity': 0.5}, {'user_id': 2, 'cross_org_affinity': 2.0}]" in out
    assert "forged path refused: RAISE-P003" in out
    assert "partner's grants: [('acme', ['item_embedding'], 'active')]" in out
    assert "after revocation: RAISE-P003 PERMISSION_DENIED" in out
    assert "partner's grants now: [('acme', 'revoked')]" in out


def test_audit_logging(tmp_path):
    out = run_example("05_audit_logging.py", tmp_path / "store")
    assert "alerts: ['external-access-alert']" in out
    assert "partner reads ctr: [0.1, 0.05]" in out and "partner refused revenue: RAISE-P001" in out
    assert "| researcher@acme.com | CREATE | acme/mlplatform/recommendation/user-signals/ctr | ALLOWED" in out
    assert "| eve@partner-org.com | READ | acme/mlplatform/recommendation/user-signals/revenue | DENIED" in out
    assert "('eve@partner-org.com', 'READ', 'revenue', 'DENIED')" in out
    assert "researcher@acme.com" not in out.split("external:")[1].split("\n")[0]
    assert "click_count schema log: ['CREATE', 'UPDATE_METADATA']" in out
    assert "email: Raise audit alert external-access-alert: eve@partner-org.com READ " \
           "acme/mlplatform/recommendation/user-signals/revenue (DENIED)" in out
    assert "exported: .parquet" in out
    assert "streamed batches of at most 4: True" in out
    assert "retention: 365 immutable: True" in out
    assert "verified: True" in out and "verified after tampering: False" in out
    assert "was altered" in out
