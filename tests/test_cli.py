"""``raise sql``: statements and scripts against the embedded store, output formats, exit codes."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SCRIPT = """
USE acme/ml/rec;
CREATE FEATURE GROUP g KEY (id INT64);
CREATE FEATURE g.name STRING;
CREATE FEATURE g.score FLOAT64;
INSERT INTO g (id, name, score) VALUES (1, 'a,b', 0.5), (2, NULL, 2.0);
"""


def raise_cli(*args: str, home) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "raise_.cli", *args, "--home", str(home)],
        capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def store(tmp_path):
    script = tmp_path / "setup.sql"
    script.write_text(SCRIPT)
    done = raise_cli("sql", "-f", str(script), home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    return tmp_path / "home"


def test_csv_has_header_then_rows_with_null_as_empty(store):
    done = raise_cli("sql", "-e", "SELECT id, name, score FROM g ORDER BY id", "--format", "csv",
                     "--project", "acme/ml/rec", home=store)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["id,name,score", '1,"a,b",0.5', "2,,2.0"]


def test_json_lines(store):
    done = raise_cli("sql", "-e", "SELECT id, score FROM g ORDER BY id", "--format", "json",
                     "--project", "acme/ml/rec", home=store)
    assert [json.loads(line) for line in done.stdout.splitlines()] == [
        {"id": 1, "score": 0.5}, {"id": 2, "score": 2.0}]


def test_table_output_lists_features(store):
    done = raise_cli("sql", "-e", "SHOW FEATURES", "--project", "acme/ml/rec", home=store)
    assert done.returncode == 0
    assert "score" in done.stdout and "(2 rows)" in done.stdout


@pytest.mark.parametrize("sql, status, code", [
    ("SELEC 1", 2, "RAISE-S001"),
    ("CREATE FEATURE g.x NOTATYPE", 3, "RAISE-V010"),
    ("SELECT * FROM missing", 4, "RAISE-N003"),
    ("CREATE FEATURE g.score FLOAT64", 5, "RAISE-A001"),
])
def test_errors_exit_non_zero_with_code(store, sql, status, code):
    done = raise_cli("sql", "-e", sql, "--project", "acme/ml/rec", home=store)
    assert done.returncode == status
    assert f"[{code}]" in done.stderr
    assert "Traceback" not in done.stderr


def test_script_against_a_server(flight_server, tmp_path):
    script = tmp_path / "remote.sql"
    script.write_text(SCRIPT.replace("acme/ml/rec", "clitest/ml/rec") + "SELECT id, score FROM g ORDER BY id;")
    env = {**os.environ, "RAISE_PASSWORD": flight_server.password}
    done = subprocess.run(
        [sys.executable, "-m", "raise_.cli", "sql", "--url", flight_server.url, "--user", flight_server.user,
         "-f", str(script), "--format", "csv"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["id,score", "1,0.5", "2,2.0"]
