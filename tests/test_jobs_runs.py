"""Job runs in the engine: checkpoints that survive a killed run, failures that change nothing,
Python transforms, chained on-change jobs, every kind of source, and access control."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from grammar.errors import PermissionDenied, ValidationError
from raise_.cli import main
from raise_.engine import Engine
from raise_.jobs import Schedule
from raise_.jobs.base import BatchTransform
from raise_.jobs.scheduler import JobScheduler
from raise_.jobs.transforms import TRANSFORM_KINDS
from raise_.transforms import python_transform

REPO = Path(__file__).resolve().parents[1]
ALICE, BOB = "alice@acme.com", "bob@acme.com"
T0 = dt.datetime(2026, 1, 1)


@python_transform(name="segment_users", dependencies=["pandas"])
def segment_users(context, data):
    df = pd.DataFrame(data)

    def assign_segment(row):
        if row["revenue"] > 100:
            return "high_value"
        elif row["clicks"] > 50:
            return "engaged"
        else:
            return "casual"

    df["segment"] = df.apply(assign_segment, axis=1)
    return df[["user_id", "segment"]].to_dict("records")


@python_transform(name="explode")
def explode(context, data):
    raise RuntimeError("model server unreachable")


STARTED, RELEASED = threading.Event(), threading.Event()


@python_transform(name="waiting")
def waiting(context, data):
    """Holds the run open until the test has written the catalog."""
    STARTED.set()
    if not RELEASED.wait(timeout=60):
        raise RuntimeError("never released")
    return data


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return Engine(tmp_path_factory.mktemp("jobs") / "store")


def _project(engine, name: str):
    session = engine.session(ALICE, f"acme/ml/{name}")
    session.execute(f"CREATE ORGANIZATION IF NOT EXISTS acme; CREATE DOMAIN IF NOT EXISTS acme/ml; "
                    f"CREATE PROJECT acme/ml/{name}")
    return session


def _ids(rows: int, start: int = 0) -> pa.Table:
    return pa.table({"id": pa.array(range(start, start + rows), pa.int64()),
                     "value": pa.array([float(i) * 0.5 for i in range(start, start + rows)])})


APPEND_JOB = """
CREATE FEATURE GROUP copies KEY (event_id INT64);
CREATE FEATURE copies.value FLOAT64;
CREATE JOB copy FROM filesystem (path = '{folder}', glob_pattern = '*.parquet')
    TRANSFORM pick AS SQL 'SELECT id AS event_id, value FROM source WHERE id >= {{{{checkpoint}}}}'
    INTO copies MODE append INCREMENTAL APPEND ON id
"""
KILLED_RUN = """
import os, signal, sys
from raise_.engine import Engine, storage
real = storage.write_deltalake
def killed(*args, **kwargs):
    if sys.argv[2] == "after":
        real(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
storage.write_deltalake = killed
Engine(sys.argv[1]).session("alice@acme.com", "acme/ml/{project}").execute("RUN JOB copy")
"""


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["before", "after"])
def test_a_run_killed_around_its_commit_neither_loses_nor_duplicates_rows(engine, tmp_path, moment):
    folder = tmp_path / "events"
    folder.mkdir()
    pq.write_table(_ids(30), folder / "a.parquet")
    session = _project(engine, f"killed_{moment}")
    session.execute(APPEND_JOB.format(folder=folder))
    script = KILLED_RUN.replace("{project}", f"killed_{moment}")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script, str(engine.home), moment], env=env, timeout=120)
    assert done.returncode == -9
    copied = session.execute("SELECT event_id FROM copies").column("event_id").to_pylist()
    assert sorted(copied) == (list(range(30)) if moment == "after" else [])
    assert session.execute("SHOW JOB RUNS OF copy").num_rows == 0  # the catalog never saw the run

    pq.write_table(_ids(5, start=30), folder / "b.parquet")
    run = session.execute("RUN JOB copy").to_pylist()[0]
    assert run["status"] == "completed"
    assert run["rows_written"] == (5 if moment == "after" else 35)
    copied = session.execute("SELECT event_id FROM copies ORDER BY event_id").column("event_id").to_pylist()
    assert copied == list(range(35))
    assert json.loads(run["checkpoint_after"]) == {"value": 34}


def test_a_failing_transform_leaves_target_and_checkpoint_as_they_were(engine, tmp_path):
    session = _project(engine, "failing")
    folder = tmp_path / "events"
    folder.mkdir()
    pq.write_table(_ids(10), folder / "a.parquet")
    session.execute(APPEND_JOB.format(folder=folder))
    first = session.execute("RUN JOB copy").to_pylist()[0]
    session.execute(f"""CREATE JOB broken FROM filesystem (path = '{folder}') TRANSFORM explode AS PYTHON
        (function = '{explode.path}') INTO copies INCREMENTAL APPEND ON id""")
    pq.write_table(_ids(4, start=10), folder / "b.parquet")
    failed = session.execute("RUN JOB broken").to_pylist()[0]
    assert failed["status"] == "failed" and "model server unreachable" in failed["error"]
    assert failed["rows_written"] == 0 and failed["checkpoint_after"] is None
    assert session.execute("SELECT count(*) AS n FROM copies").column("n")[0].as_py() == 10
    assert first["checkpoint_after"] == '{"value": 9}'
    assert session.execute("DESCRIBE JOB broken").column("last_status")[0].as_py() == "failed"


def test_the_spec_python_transform_segments_users(engine):
    session = _project(engine, "segments")
    session.execute("""CREATE FEATURE GROUP "user-signals" KEY (user_id INT64);
        CREATE FEATURE "user-signals".clicks INT64; CREATE FEATURE "user-signals".revenue FLOAT64;
        CREATE FEATURE "user-signals".segment STRING""")
    rows = pa.table({"user_id": [1, 2, 3, 4], "clicks": [10, 80, 60, 1], "revenue": [150.0, 20.0, 101.0, 0.0]})
    session.ingest("user-signals", rows)
    session.execute(f"""CREATE JOB segment_users FROM feature_group (feature_group = 'user-signals')
        TRANSFORM segment_users AS PYTHON (function = '{segment_users.path}', dependencies = ('pandas'))
        INTO "user-signals" """)
    run = session.execute("RUN JOB segment_users").to_pylist()[0]
    assert (run["status"], run["rows_read"], run["rows_written"]) == ("completed", 4, 4)
    got = {r["user_id"]: r["segment"] for r in session.execute('SELECT user_id, segment FROM "user-signals"').to_pylist()}
    assert got == {1: "high_value", 2: "engaged", 3: "high_value", 4: "casual"}


def test_chained_on_change_jobs_run_in_one_pass_and_again_on_new_files(engine, tmp_path):
    session = _project(engine, "chained")
    folder = tmp_path / "exports"
    folder.mkdir()
    pacsv.write_csv(pa.table({"user_id": [1, 2, 1], "clicks": [3, 4, 5]}), folder / "day1.csv")
    (folder / "notes.txt").write_text("not data")
    session.execute(f"""CREATE FEATURE GROUP totals KEY (user_id INT64); CREATE FEATURE totals.clicks INT64;
        CREATE FEATURE GROUP doubled KEY (user_id INT64); CREATE FEATURE doubled.clicks INT64;
        CREATE JOB total FROM filesystem (path = '{folder}', format = 'csv', glob_pattern = '*.csv') AS exports
            TRANSFORM sum AS SQL 'SELECT user_id, SUM(clicks) AS clicks FROM exports GROUP BY user_id'
            INTO totals SCHEDULE ON CHANGE (exports);
        CREATE JOB double FROM feature_group (feature_group = 'totals')
            TRANSFORM twice AS SQL 'SELECT user_id, clicks * 2 AS clicks FROM source' INTO doubled
            SCHEDULE ON CHANGE;
        ALTER JOB double RESUME; ALTER JOB total RESUME""")
    runs = session.execute("RUN DUE JOBS").to_pylist()
    assert [(r["job"].rsplit("/", 1)[1], r["status"]) for r in runs] == [("total", "completed"),
                                                                         ("double", "completed")]
    assert session.execute("RUN DUE JOBS").num_rows == 0
    pacsv.write_csv(pa.table({"user_id": [2], "clicks": [10]}), folder / "day2.csv")
    assert session.execute("RUN DUE JOBS").num_rows == 2
    got = session.execute("SELECT user_id, clicks FROM doubled ORDER BY user_id").to_pylist()
    assert got == [{"user_id": 1, "clicks": 16}, {"user_id": 2, "clicks": 28}]


def test_every_source_kind_reads_its_rows(engine, tmp_path):
    session = _project(engine, "sources")
    lake = tmp_path / "lake"
    for year, month in ((2025, 12), (2026, 1)):
        part = lake / f"year={year}" / f"month={month}"
        part.mkdir(parents=True)
        pq.write_table(pa.table({"user_id": [1, 2], "n": [year, month]}), part / "p.parquet")
    write_deltalake(str(tmp_path / "warehouse"), pa.table({"user_id": [1, 2, 3], "score": [0.5, 0.7, 0.9]}))
    pq.write_table(pa.table({"user_id": [3], "score": [0.1]}), tmp_path / "flat.parquet")
    engine.session(None).execute(f"""CREATE EXTERNAL TABLE analytics.production.scores
        LOCATION '{tmp_path / "warehouse"}' FORMAT DELTA;
        CREATE EXTERNAL TABLE IF NOT EXISTS analytics.production.flat LOCATION '{tmp_path / "flat.parquet"}' FORMAT PARQUET""")
    session.execute(f"""CREATE FEATURE GROUP mixed KEY (user_id INT64); CREATE FEATURE mixed.total FLOAT64;
        CREATE JOB mix FROM object_storage (path = 'file://{lake}/', partition_columns = ('year', 'month')) AS lake,
            columnar (catalog = 'analytics', database = 'production', table = 'scores', filter = 'score > 0.6'),
            columnar (catalog = 'analytics', database = 'production', table = 'flat')
            TRANSFORM j AS SQL 'SELECT s.user_id, CAST(SUM(l.year * 100 + l.month) AS DOUBLE) + MAX(s.score) AS total
                FROM scores s JOIN lake l ON l.user_id = s.user_id GROUP BY s.user_id
                UNION ALL SELECT user_id, score FROM flat'
            INTO mixed""")
    run = session.execute("RUN JOB mix").to_pylist()[0]
    assert run["status"] == "completed", run["error"]
    got = {r["user_id"]: r["total"] for r in session.execute("SELECT * FROM mixed").to_pylist()}
    assert got == pytest.approx({2: 202512 + 202601 + 0.7, 3: 0.1})


def test_schedules_compute_their_next_run_like_croniter():
    at = dt.datetime(2026, 3, 1, 10, 20, tzinfo=dt.timezone.utc)
    assert Schedule.cron("0 */6 * * *").next_run(at) == at.replace(hour=12, minute=0)
    assert Schedule.daily(hour=2, minute=30).next_run(at) == dt.datetime(2026, 3, 2, 2, 30, tzinfo=dt.timezone.utc)
    assert Schedule.every("30m").next_run(at) == at + dt.timedelta(minutes=30)
    assert Schedule.on_change(sources=["clickstream"]).next_run(at) is None and Schedule.manual().cron is None
    assert Schedule.hourly(minute=15).due(at.replace(minute=10), now=at) and not Schedule.hourly(minute=15).due(at, now=at)
    with pytest.raises(ValidationError) as bad:
        Schedule.cron("every day")
    assert bad.value.code == "RAISE-V502"


def test_creating_needs_admin_on_the_target_and_read_on_every_source(engine):
    session = _project(engine, "acl")
    session.execute("""CREATE FEATURE GROUP private KEY (user_id INT64); CREATE FEATURE private.secret INT64;
        CREATE FEATURE GROUP mine KEY (user_id INT64); CREATE FEATURE mine.secret INT64;
        SET ACL ON FEATURE GROUP mine ADMINS ('bob@acme.com')""")
    bob = engine.session(BOB, "acme/ml/acl")
    job = """CREATE JOB steal FROM feature_group (feature_group = 'private')
        TRANSFORM t AS SQL 'SELECT user_id, secret FROM source' INTO mine"""
    with pytest.raises(PermissionDenied):
        bob.execute(job)
    session.execute("SET ACL ON FEATURE GROUP private READERS ('bob@acme.com')")
    bob.execute(job)
    assert engine.session(BOB).execute("SHOW JOBS IN acme/ml/acl").column("owner").to_pylist() == [BOB]
    with pytest.raises(PermissionDenied):
        engine.session("mallory@evil.com", "acme/ml/acl").execute("RUN JOB steal")
    audited = session.execute("SHOW AUDIT").to_pylist()
    assert any(e["resource"] == "acme/ml/acl/job:steal" and e["action"] == "CREATE" for e in audited)
    assert bob.execute("DROP JOB steal").column("rows_affected").to_pylist() == [1]
    assert session.execute("DROP JOB IF EXISTS steal").column("rows_affected").to_pylist() == [0]
    session.execute("CREATE JOB keep FROM feature_group (feature_group = 'mine') "
                    "TRANSFORM t AS SQL 'SELECT * FROM source' INTO private")
    engine.session(ALICE).execute("DROP PROJECT acme/ml/acl CASCADE")
    assert "acme/ml/acl" not in engine.session(None).execute("SHOW JOBS").column("project").to_pylist()


class Counting(BatchTransform):
    """A batch transform with figures of its own, as an inference transform has."""

    def __init__(self, name: str) -> None:
        self.name, self.batches = name, 0

    def transform_batch(self, context, batch):
        self.batches += 1
        return batch.select(["id"]).rename_columns(["event_id"]).append_column("value", batch.column("value"))

    def metrics(self):
        return {"batches": self.batches, "total_samples": 12}


def counting_transform(name, settings):
    return Counting(name)


def test_a_batch_transform_runs_on_the_executor_and_its_figures_stay_with_the_run(engine, tmp_path, monkeypatch):
    monkeypatch.setitem(TRANSFORM_KINDS, "counting", (__name__, "counting_transform"))
    session = _project(engine, "figures")
    pq.write_table(_ids(12), tmp_path / "a.parquet")
    session.execute(f"""CREATE FEATURE GROUP copies KEY (event_id INT64); CREATE FEATURE copies.value FLOAT64;
        CREATE JOB count FROM filesystem (path = '{tmp_path}') TRANSFORM c AS COUNTING INTO copies
        EXECUTOR local CHECK enough row_count (min_rows = 100, severity = 'warning')""")
    run = session.execute("RUN JOB count").to_pylist()[0]
    assert run["status"] == "completed" and run["rows_written"] == 12
    assert json.loads(run["metrics"]) == {"batches": 1, "total_samples": 12}
    assert [(c["name"], c["result"]) for c in json.loads(run["checks"])] == [("enough", "warning")]


def test_output_that_does_not_fit_the_group_is_refused_before_writing(engine, tmp_path):
    session = _project(engine, "types")
    pq.write_table(_ids(3), tmp_path / "a.parquet")
    session.execute(f"""CREATE FEATURE GROUP copies KEY (event_id INT64); CREATE FEATURE copies.value INT64;
        CREATE JOB typed FROM filesystem (path = '{tmp_path}')
        TRANSFORM t AS SQL 'SELECT id AS event_id, ''x'' || CAST(value AS VARCHAR) AS value FROM source' INTO copies""")
    run = session.execute("RUN JOB typed").to_pylist()[0]
    assert run["status"] == "failed" and "RAISE-V020" in run["error"]
    assert session.execute("SELECT count(*) AS n FROM copies").column("n")[0].as_py() == 0


def test_raise_jobs_run_and_the_scheduler_run_what_is_due(engine, tmp_path, capsys):
    session = _project(engine, "cli")
    pq.write_table(_ids(3), tmp_path / "a.parquet")
    session.execute(APPEND_JOB.format(folder=tmp_path) + "SCHEDULE ON CHANGE")
    assert main(["jobs", "run", "copy", "--home", str(engine.home), "--project", "acme/ml/cli", "--format", "json"]) == 0
    assert '"completed"' in capsys.readouterr().out
    session.execute("ALTER JOB copy RESUME")
    assert JobScheduler(engine).tick().num_rows == 0  # it read the files it sees: nothing changed since
    pq.write_table(_ids(2, start=3), tmp_path / "b.parquet")
    assert JobScheduler(engine).tick().column("rows_written").to_pylist() == [2]
    session.execute("ALTER JOB copy DEPLOY TO 'http://airflow.example.com/dags/copy'")
    pq.write_table(_ids(2, start=5), tmp_path / "c.parquet")
    assert main(["jobs", "run-due", "--home", str(engine.home), "--project", "acme/ml/cli"]) == 0
    assert "copy" not in capsys.readouterr().out  # Airflow runs it now, through `raise jobs run`
    assert session.execute("DESCRIBE JOB copy").column("deployment").to_pylist() == \
        ["http://airflow.example.com/dags/copy"]


def test_other_statements_write_the_catalog_while_a_job_runs(engine, tmp_path):
    session = _project(engine, "unlocked")
    pq.write_table(_ids(6), tmp_path / "a.parquet")
    session.execute(f"""CREATE FEATURE GROUP copies KEY (id INT64); CREATE FEATURE copies.value FLOAT64;
        CREATE JOB slow FROM filesystem (path = '{tmp_path}') TRANSFORM waiting AS PYTHON
        (function = '{waiting.path}') INTO copies""")
    runs: list = []
    runner = threading.Thread(target=lambda: runs.append(
        engine.session(ALICE, "acme/ml/unlocked").execute("RUN JOB slow").to_pylist()[0]))
    runner.start()
    try:
        assert STARTED.wait(timeout=60)
        # the run is inside its transform: the catalog takes other writers meanwhile
        other = engine.session(ALICE, "acme/ml/unlocked")
        other.execute("CREATE FEATURE GROUP notes KEY (id INT64); ALTER JOB slow PAUSE")
        assert runner.is_alive() and not runs
    finally:
        RELEASED.set()
        runner.join()
    assert (runs[0]["status"], runs[0]["rows_written"]) == ("completed", 6)
    described = session.execute("DESCRIBE JOB slow").to_pylist()[0]
    assert (described["status"], described["last_status"]) == ("paused", "completed")  # the pause stays
    assert session.execute("SHOW FEATURE GROUPS").column("name").to_pylist().count("notes") == 1
