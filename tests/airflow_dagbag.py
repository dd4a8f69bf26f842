"""Loads a DAG folder with Apache Airflow's ``DagBag`` and prints what it found as JSON.

Run by tests/test_jobs_airflow.py under the Airflow environment's interpreter
(``RAISE_AIRFLOW_PYTHON``), never imported by the test suite itself.
"""
import json
import sys

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 2
    from airflow.models.dagbag import DagBag


def _schedule(dag):
    timetable = dag.timetable
    return getattr(timetable, "_expression", None) or getattr(dag, "schedule", None) or None


def main(folder: str) -> None:
    bag = DagBag(dag_folder=folder, include_examples=False)
    dags = {}
    for dag_id, dag in bag.dags.items():
        dags[dag_id] = {
            "schedule": _schedule(dag), "timetable": type(dag.timetable).__name__, "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs, "tags": sorted(dag.tags),
            "start_date": dag.start_date.isoformat() if dag.start_date else None,
            "tasks": [{"task_id": t.task_id, "operator": type(t).__name__, "owner": t.owner,
                       "retries": t.retries, "bash_command": getattr(t, "bash_command", None),
                       "env": getattr(t, "env", None)} for t in dag.tasks],
        }
    errors = {path: str(error) for path, error in bag.import_errors.items()}
    print(json.dumps({"dags": dags, "import_errors": errors}))


if __name__ == "__main__":
    main(sys.argv[1])
