"""The DAG Raise generates for a job, loaded by real Apache Airflow and its task run.

Airflow cannot share the project's environment (it pins many packages): ``.ci/run`` installs
``ci/airflow-requirements.txt`` into a virtual environment of its own and exports its
interpreter as ``RAISE_AIRFLOW_PYTHON``; this test runs ``airflow_dagbag.py`` under it and
asserts on the JSON it prints. Without that interpreter the test skips.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from raise_ import AirflowConfig, Schedule
from test_jobs_sdk import create_daily, events, expected_daily, written

pytest_plugins = ["conftest_sdk"]

HERE = Path(__file__).resolve().parent
AIRFLOW_PYTHON = os.environ.get("RAISE_AIRFLOW_PYTHON")

pytestmark = pytest.mark.skipif(not AIRFLOW_PYTHON, reason="RAISE_AIRFLOW_PYTHON (an Apache Airflow "
                                "environment, see ci/airflow-requirements.txt) is not set")


@pytest.fixture
def connection_kind() -> str:
    return "embedded"  # the DAG's task runs against the store's home on this machine


@pytest.fixture
def lake(tmp_path):
    folder = tmp_path / "data-lake" / "events" / "clickstream"
    folder.mkdir(parents=True)
    pq.write_table(events(40), folder / "part-0.parquet")
    return folder


def dagbag(folder: Path, home: Path) -> dict:
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__UNIT_TEST_MODE": "True"}
    done = subprocess.run([AIRFLOW_PYTHON, str(HERE / "airflow_dagbag.py"), str(folder)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_deployed_dag_loads_in_airflow_and_its_task_runs_the_job(store, lake, tmp_path):
    group = store.create_feature_group("user-signals", key_columns={"user_id": "int64", "date": "date"})
    group.create_feature("daily_clicks", dtype="int64")
    job = create_daily(store, lake, tags=["daily", "clicks"])
    dags = tmp_path / "dags"
    raise_command = shlex.join([sys.executable, "-m", "raise_.cli"])
    store.transforms.use_airflow(
        config=AirflowConfig(dag_folder=str(dags), catchup=True, max_active_runs=3, tags=["raise"], retries=2,
                             start_date="2026-01-01", raise_command=raise_command,
                             env={"PYTHONPATH": str(HERE.parent)}),
        airflow_url="http://airflow.example.com")
    result = store.deploy_job(job)
    dag_id = "raise.acme.mlplatform.recommendation.compute_daily_clicks"
    assert result.url == f"http://airflow.example.com/dags/{dag_id}"
    assert (dags / f"{dag_id}.py").read_text() == store.transforms.generate_dag(job)

    loaded = dagbag(dags, tmp_path / "airflow")
    assert loaded["import_errors"] == {}
    assert list(loaded["dags"]) == [dag_id]
    dag = loaded["dags"][dag_id]
    assert dag["schedule"] == "0 2 * * *" and dag["timetable"].startswith("Cron")
    assert (dag["catchup"], dag["max_active_runs"]) == (True, 3)
    assert dag["tags"] == ["clicks", "daily", "raise"]
    assert dag["start_date"] == "2026-01-01T00:00:00+00:00"
    [task] = dag["tasks"]
    assert (task["task_id"], task["operator"], task["retries"]) == ("run_job", "BashOperator", 2)
    home = store.connection.engine.home
    assert shlex.split(task["bash_command"]) == [sys.executable, "-m", "raise_.cli", "jobs", "run",
                                                 "compute_daily_clicks", "--home", str(home),
                                                 "--project", "acme/mlplatform/recommendation"]

    # the task's command, as Airflow's BashOperator runs it (bash -c, its env added to the worker's)
    done = subprocess.run(["bash", "-c", task["bash_command"]], env={**os.environ, **task["env"]},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [run] = job.runs
    assert (run.status, run.rows_read) == ("completed", 40)
    assert written(group) == expected_daily(events(40))
    assert run.checkpoint_after == dt.datetime(2026, 1, 1) + dt.timedelta(hours=5 * 39)
