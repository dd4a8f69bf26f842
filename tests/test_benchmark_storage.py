"""``benchmarks/storage_roundtrip.py`` runs and reports its figures in the documented order (no
timing is asserted: the suite never checks speed)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_storage_roundtrip_reports_cold_and_warm_reads_ratios_first():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "storage_roundtrip.py"), "--rows", "2000",
                           "--runs", "1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    figures = dict(pair.split("=") for pair in done.stdout.strip().splitlines()[-1].split())
    assert list(figures)[:5] == ["write_vs_deltalake", "cold_read_vs_deltalake", "warm_read_vs_deltalake",
                                 "warm_read_vs_datafusion_memory", "warm_read_vs_duckdb_arrow"]
    assert {"raise_cold_read_rows_s", "deltalake_read_rows_s", "raise_warm_read_rows_s",
            "datafusion_memory_read_rows_s", "duckdb_arrow_read_rows_s"} <= figures.keys()
    assert (figures["rows"], figures["features"]) == ("2000", "20")
    assert all(float(value) > 0 for value in figures.values())
