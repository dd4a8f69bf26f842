"""The Ray executor on a real local Ray cluster gives the rows the local executor gives."""
from __future__ import annotations

import os
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

ray = pytest.importorskip("ray", reason="the Ray executor tests need ray[data]")

from infer_models import linear  # noqa: E402
from grammar.errors import ExecutionError, ValidationError  # noqa: E402
from raise_.inference import InferenceResult, InferenceTransform, ModelSpec  # noqa: E402
from raise_.jobs.base import BatchTransform, LocalExecutor, RunContext, executor_named  # noqa: E402
from raise_.jobs.ray_executor import RayExecutor  # noqa: E402
from raise_ import FeatureGroupSource, Target  # noqa: E402
from raise_.engine import Engine  # noqa: E402
from raise_.inference import BatchConfig  # noqa: E402
from raise_.transforms import python_transform  # noqa: E402

pytestmark = pytest.mark.slow
pytest_plugins = ["conftest_sdk"]


@pytest.fixture
def connection_kind() -> str:
    return "embedded"  # the Ray driver is the process that runs the job

W = np.array([[1, 0], [0, 1], [2, 1]], dtype=np.float32)


@pytest.fixture(scope="module", autouse=True)
def cluster():
    """One local Ray cluster for the module; its workers import Raise and these tests."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.pathsep.join([os.path.dirname(here), here, os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": path, "RAISE_DEVICE": "cpu"}})
    yield
    ray.shutdown()


class Segment(BatchTransform):
    """A Python transform: a segment per row from its revenue and clicks."""

    name = "segment"

    def __init__(self, fail_on: int | None = None) -> None:
        self.fail_on = fail_on

    def start(self, context: RunContext) -> None:
        context.log("segment started")

    def transform_batch(self, context: RunContext, batch: pa.Table) -> pa.Table:
        if self.fail_on is not None and self.fail_on in batch.column("user_id").to_pylist():
            raise ValidationError(f"user {self.fail_on} has no revenue", code="RAISE-V551", name="revenue")
        segment = pc.if_else(pc.greater(batch["revenue"], 100), "high_value",
                             pc.if_else(pc.greater(batch["clicks"], 50), "engaged", "casual"))
        return batch.append_column("segment", segment)


def context() -> RunContext:
    return RunContext(job="segment_users", run_id="run-1", execution_date=datetime(2026, 1, 2, tzinfo=timezone.utc))


def batches(count: int = 6, size: int = 25) -> list[pa.Table]:
    rng = np.random.default_rng(7)
    return [pa.table({"user_id": np.arange(i * size, (i + 1) * size),
                      "revenue": rng.uniform(0, 200, size), "clicks": rng.integers(0, 100, size),
                      "features": pa.array(rng.normal(size=(size, 3)).astype(np.float32).tolist(),
                                           pa.list_(pa.float32(), 3))})
            for i in range(count)]


def rows(tables) -> list[dict]:
    return sorted(pa.concat_tables(tables).to_pylist(), key=lambda r: r["user_id"])


def test_ray_is_the_executor_named_ray():
    assert isinstance(executor_named("ray"), RayExecutor)


def test_a_python_transform_gives_the_local_rows_in_order():
    run = context()
    remote = list(RayExecutor(workers=2).map_batches(Segment(), run, iter(batches())))
    local = list(LocalExecutor().map_batches(Segment(), context(), iter(batches())))
    assert [t.num_rows for t in remote] == [25] * 6
    assert [t.column("user_id")[0].as_py() for t in remote] == [0, 25, 50, 75, 100, 125]
    assert rows(remote) == rows(local)
    assert {r["segment"] for r in rows(remote)} == {"high_value", "engaged", "casual"}
    assert run.logs and all(line.endswith("segment started") for line in run.logs)


def test_an_inference_transform_gives_the_local_rows_and_its_metrics(tmp_path):
    model = linear(tmp_path / "linear.onnx", W)

    def transform() -> InferenceTransform:
        return InferenceTransform(name="project", model=ModelSpec(uri=str(model)),
                                  input_mapping={"x": "features"}, output_mapping={"y": "projection"})

    remote_transform, local_transform = transform(), transform()
    remote = list(RayExecutor(workers=2).map_batches(remote_transform, context(), iter(batches())))
    local = list(LocalExecutor().map_batches(local_transform, context(), iter(batches())))
    assert rows(remote) == rows(local)
    expected = np.concatenate([np.array(b["features"].to_pylist()) for b in batches()]) @ W
    np.testing.assert_allclose(np.array(pa.concat_tables(remote)["projection"].to_pylist()), expected, rtol=1e-6)
    result = InferenceResult.from_metrics(remote_transform.metrics(), target="user-projections")
    assert (result.total_samples, result.successful_samples, result.rows_written) == (150, 150, 150)
    assert result.success_rate == 1.0 and result.device == "cpu" and result.gpu_utilization_pct == 0.0
    assert result.peak_memory_gb > 0.01
    assert result.throughput_samples_per_sec == pytest.approx(150 / result.duration_seconds)
    assert remote_transform.metrics()["batches"] == local_transform.metrics()["batches"] == 6


def test_a_failing_batch_arrives_as_the_transform_raised_it():
    with pytest.raises(ValidationError) as failed:
        list(RayExecutor(workers=1).map_batches(Segment(fail_on=60), context(), iter(batches())))
    assert failed.value.code == "RAISE-V551" and failed.value.name == "revenue"

    class Broken(Segment):
        def transform_batch(self, context, batch):
            return batch.append_column("ratio", pa.array(1 / np.zeros(1)[:0]))

    with pytest.raises(ExecutionError, match="transform 'segment' failed on the Ray cluster: ArrowInvalid"):
        list(RayExecutor(workers=1).map_batches(Broken(), context(), iter(batches(1))))


@python_transform(name="segment_rows")
def segment_rows(context, data):
    data["segment"] = ["high_value" if r > 100 else "casual" for r in data["revenue"]]
    return data[["user_id", "segment"]]


def test_a_sql_job_on_ray_writes_the_rows_of_the_same_job_run_locally(tmp_path):
    session = Engine(tmp_path / "store").session(None, "acme/ml/ray")
    session.execute("CREATE ORGANIZATION acme; CREATE DOMAIN acme/ml; CREATE PROJECT acme/ml/ray")
    session.execute("CREATE FEATURE GROUP events KEY (user_id INT64); CREATE FEATURE events.revenue FLOAT64")
    session.ingest("events", pa.concat_tables([b.select(["user_id", "revenue"]) for b in batches()]))
    for executor in ("local", "ray"):
        session.execute(f"""CREATE FEATURE GROUP seg_{executor} KEY (user_id INT64);
            CREATE FEATURE seg_{executor}.segment STRING;
            CREATE JOB seg_{executor} FROM feature_group (feature_group = 'events')
            TRANSFORM segment_rows AS PYTHON (function = '{segment_rows.path}') INTO seg_{executor}
            EXECUTOR {executor}""")
        run = session.execute(f"RUN JOB seg_{executor}").to_pylist()[0]
        assert (run["status"], run["rows_read"], run["rows_written"]) == ("completed", 150, 150), run["error"]
    local, remote = (session.execute(f"SELECT user_id, segment FROM seg_{e} ORDER BY user_id").to_pylist()
                     for e in ("local", "ray"))
    assert remote == local and {r["segment"] for r in remote} == {"high_value", "casual"}


def test_an_sdk_inference_job_on_ray_writes_the_rows_of_the_local_job(store, tmp_path):
    model = linear(tmp_path / "linear.onnx", W)
    source = store.create_feature_group("signals", key_columns=["user_id"])
    source.create_feature("features", dtype="float32[3]")
    store.connection.ingest("signals", pa.concat_tables([b.select(["user_id", "features"]) for b in batches()]),
                            "upsert")
    for executor in (None, "ray"):
        name = f"projections_{executor or 'local'}"
        store.create_feature_group(name, key_columns=["user_id"]).create_feature("projection", dtype="float32[2]")
        job = store.create_job(
            name=name, sources=[FeatureGroupSource(group="signals")], executor=executor,
            transform=InferenceTransform(name="project", model=ModelSpec(uri=str(model)),
                                         batch_config=BatchConfig(batch_size=40),
                                         input_mapping={"x": "features"}, output_mapping={"y": "projection"}),
            target=Target(feature_group=name, features={"projection": "projection"}, write_mode="upsert",
                          key_columns=["user_id"]))
        store.trigger_job(job)
        assert (job.runs[-1].status, job.runs[-1].rows_written) == ("completed", 150), job.runs[-1].error
    local, remote = (store.sql(f'SELECT user_id, projection FROM "projections_{e}" ORDER BY user_id').to_pylist()
                     for e in ("local", "ray"))
    assert remote == local
    expected = np.concatenate([np.array(b["features"].to_pylist()) for b in batches()]) @ W
    np.testing.assert_allclose([r["projection"] for r in remote], expected, rtol=1e-6)
