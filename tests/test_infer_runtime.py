"""The inference runtime without the engine: URIs, runners, batching, retries, timeouts, INFER
UDFs in a bare DataFusion context. Models are tiny ONNX graphs built by ``infer_models``."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from infer_models import classifier, linear, text_model, token_ids, model_cache  # noqa: F401 (autouse)
from grammar.errors import NotFound, Unsupported, ValidationError
from udfs.infer import (
    BadInferCall, BatchConfig, Column, InferenceFailed, InferenceTimeout, LoadedModel, ModelRecord,
    RunStats, load_model, plan_batches, predict, register_infer, resolve,
)
from udfs.infer.resolve import MODEL_PATH_ENV, ModelNotFound, NoResolver
from udfs.infer.tensors import TensorSpec

W = np.arange(8, dtype=np.float32).reshape(4, 2)


@pytest.fixture
def linear_path(tmp_path) -> Path:
    return linear(tmp_path / "linear.onnx", W)


def vectors(rows: list[list[float] | None]) -> pa.Array:
    return pa.array(rows, pa.list_(pa.float32(), 4))


# ------------------------------------------------------------------ URIs


def test_local_uris_resolve_to_the_same_file(linear_path, monkeypatch):
    monkeypatch.chdir(linear_path.parent)
    for uri in (str(linear_path), f"file://{linear_path}", "linear.onnx", "./linear.onnx"):
        assert resolve(uri).path == linear_path.resolve()


def test_missing_file_names_where_it_looked(tmp_path):
    with pytest.raises(ModelNotFound) as raised:
        resolve(str(tmp_path / "absent.onnx"))
    assert isinstance(raised.value, NotFound) and str(tmp_path / "absent.onnx") in raised.value.message


def test_hf_uri_from_model_path_and_hub_cache(tmp_path, monkeypatch):
    folder = tmp_path / "models" / "acme" / "tiny-encoder"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    monkeypatch.setenv(MODEL_PATH_ENV, str(tmp_path / "models"))
    assert resolve("hf://acme/tiny-encoder").path == folder
    snapshot = tmp_path / "hub" / "models--acme--other" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert resolve("hf://acme/other").path == snapshot


def test_absent_hf_model_lists_every_place_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv(MODEL_PATH_ENV, raising=False)
    with pytest.raises(ModelNotFound) as raised:
        resolve("hf://nobody/nothing-here")
    message = raised.value.message
    assert "installed package 'nothing_here'" in message
    assert str(tmp_path / "hub" / "models--nobody--nothing-here") in message
    assert f"{MODEL_PATH_ENV} (not set)" in message


def test_object_store_uri_is_copied_once_into_the_cache(linear_path, tmp_path):
    fsspec = pytest.importorskip("fsspec", reason="memory:// needs fsspec")
    memory = fsspec.filesystem("memory")
    memory.pipe("/models/linear.onnx", linear_path.read_bytes())
    first = resolve("memory://models/linear.onnx")
    assert first.path.read_bytes() == linear_path.read_bytes()
    assert str(first.path).startswith(str(tmp_path / "cache"))
    assert resolve("memory://models/linear.onnx").path == first.path
    with pytest.raises(ModelNotFound, match="no object at"):
        resolve("memory://models/absent.onnx")


def test_schemes_without_a_client_are_refused():
    with pytest.raises(NoResolver) as raised:
        resolve("mlflow://models:/classifier/Production")
    assert isinstance(raised.value, Unsupported) and "mlflow://" in raised.value.message


# ------------------------------------------------------------------ runners and columns


def test_onnx_model_signature_and_values(linear_path):
    model = load_model(ModelRecord(name="linear", uri=str(linear_path), framework="onnx"))
    assert model.inputs == (Column(name="x", dtype="float32[4]"),)
    assert model.outputs == (Column(name="y", dtype="float32[2]"),)
    assert model.device == "cpu" and model.return_type() == pa.list_(pa.float32(), 2)
    prediction = predict(model, [vectors([[1, 0, 0, 0], None, [1, 1, 1, 1]])])
    assert prediction.columns[0].to_pylist() == [[0.0, 1.0], None, [12.0, 16.0]]
    assert prediction.failed.tolist() == [False, False, False]


def test_models_load_once_per_content(linear_path):
    record = ModelRecord(name="linear", uri=str(linear_path), framework="onnx")
    assert load_model(record) is load_model(record)


def test_int8_is_a_quantized_copy_and_fp16_is_refused_on_the_cpu(tmp_path):
    weights = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
    path = linear(tmp_path / "wide.onnx", weights)
    x = np.random.default_rng(1).standard_normal((5, 64)).astype(np.float32)
    column = pa.array(list(x), pa.list_(pa.float32(), 64))
    model = load_model(ModelRecord(name="wide", uri=str(path), framework="onnx", precision="int8"))
    assert model.runner.path != path and model.runner.path.name.endswith("-int8.onnx")
    got = np.array(predict(model, [column]).columns[0].to_pylist())
    assert np.allclose(got, x @ weights, atol=0.15 * np.abs(x @ weights).max())
    for precision in ("fp16", "bf16", "int4"):
        with pytest.raises(Unsupported, match=precision.upper()):
            load_model(ModelRecord(name="wide", uri=str(path), framework="onnx", precision=precision))


def test_text_model_tokenizes_pads_and_truncates(tmp_path):
    folder = text_model(tmp_path / "text")
    model = load_model(ModelRecord(name="text", uri=str(folder), framework="onnx"))
    assert model.inputs == (Column(name="text", dtype="string"),) and model.tokenizer.max_length == 6
    texts = ["hello world", "model", None, "feature store model hello world model", "unknown words"]
    tokens, id_sum = predict(model, [pa.array(texts)], BatchConfig(batch_size=2)).columns
    expected = [token_ids(t) if t is not None else None for t in texts]
    assert tokens.to_pylist() == [len(e) if e else None for e in expected]
    assert id_sum.to_pylist() == [sum(e) if e else None for e in expected]


def test_other_frameworks_are_registered_but_not_run(linear_path):
    with pytest.raises(Unsupported, match="no runner for tensorflow"):
        load_model(ModelRecord(name="tf", uri=str(linear_path), framework="tensorflow"))


def test_declared_outputs_must_fit(linear_path):
    record = ModelRecord(name="linear", uri=str(linear_path), framework="onnx",
                         outputs=(Column(name="y", dtype="float32[3]"),))
    with pytest.raises(ValidationError, match="2 values per row but is declared float32\\[3\\]"):
        predict(load_model(record), [vectors([[1, 0, 0, 0]])])


def test_record_validation():
    with pytest.raises(ValidationError, match="unknown framework"):
        ModelRecord(name="m", uri="x", framework="keras")
    with pytest.raises(ValidationError, match="max_batch_size must be an integer of at least 64"):
        BatchConfig(batch_size=64, max_batch_size=8)
    with pytest.raises(ValidationError, match="timeout_seconds"):
        BatchConfig(timeout_seconds=0)


# ------------------------------------------------------------------ batching


def test_static_batches_group_rows_by_length():
    lengths = np.array([5, 1, 3, 1, 9, 2, 2])
    batches = plan_batches(lengths, BatchConfig(batch_size=3))
    assert [b.tolist() for b in batches] == [[1, 3, 5], [6, 2, 0], [4]]


def test_dynamic_batches_fit_a_token_budget():
    lengths = np.array([2] * 8 + [16] * 4)
    config = BatchConfig(batch_size=4, max_batch_size=6, dynamic_batching=True)
    sizes = [len(b) for b in plan_batches(lengths, config)]
    # Budget: 4 rows of mean length 6 = 24 padded tokens; short rows capped by max_batch_size.
    assert sizes == [6, 2, 1, 1, 1, 1]
    assert sorted(np.concatenate(plan_batches(lengths, config)).tolist()) == list(range(12))


@dataclass
class FlakyModel:
    """A stand-in model runtime: fails its first ``failures`` calls, or sleeps ``delay`` s."""

    failures: int = 0
    delay: float = 0.0
    calls: int = 0
    sizes: list[int] = field(default_factory=list)
    inputs: tuple = (TensorSpec("x", np.dtype(np.float32), (None,)),)
    outputs: tuple = (TensorSpec("y", np.dtype(np.float32), (None,)),)
    device: str = "cpu"
    precision: str = "fp32"
    cancelled: threading.Event = field(default_factory=threading.Event)

    def run(self, feeds):
        self.calls += 1
        self.sizes.append(len(feeds["x"]))
        if self.calls <= self.failures:
            raise InferenceFailed(f"call {self.calls} failed")
        time.sleep(self.delay)
        return {"y": feeds["x"] * 2}

    def cancel(self):
        self.cancelled.set()


def flaky(runner: FlakyModel, batch: BatchConfig) -> LoadedModel:
    record = ModelRecord(name="flaky", uri="-", framework="onnx", batch=batch)
    return LoadedModel(record, runner, None, (Column(name="x", dtype="float32"),),
                       (Column(name="y", dtype="float32"),))


def test_failed_batches_are_retried():
    runner = FlakyModel(failures=2)
    stats = RunStats()
    config = BatchConfig(batch_size=2, retry_failed=True, max_retries=3)
    result = predict(flaky(runner, config), [pa.array([1.0, 2.0, 3.0])], stats=stats)
    assert result.columns[0].to_pylist() == [2.0, 4.0, 6.0]
    assert (stats.retries, stats.samples, stats.failed, stats.batches) == (2, 3, 0, 2)


def test_without_retries_sql_raises_and_transforms_count_failures():
    config = BatchConfig(batch_size=2)
    with pytest.raises(InferenceFailed, match="call 1 failed"):
        predict(flaky(FlakyModel(failures=1), config), [pa.array([1.0, 2.0, 3.0])])
    stats = RunStats()
    result = predict(flaky(FlakyModel(failures=1), config), [pa.array([1.0, 2.0, None, 3.0])],
                     on_error="null", stats=stats)
    assert result.columns[0].to_pylist() == [None, None, None, 6.0]
    assert result.failed.tolist() == [True, True, False, False]
    assert (stats.samples, stats.failed, stats.errors) == (1, 2, ["call 1 failed"])


def test_a_slow_batch_times_out_and_is_cancelled():
    runner = FlakyModel(delay=0.5)
    config = BatchConfig(batch_size=4, timeout_seconds=0.05)
    with pytest.raises(InferenceTimeout, match="longer than 0.05 s"):
        predict(flaky(runner, config), [pa.array([1.0])])
    assert runner.cancelled.is_set()


def test_prefetching_workers_keep_row_order():
    runner = FlakyModel()
    config = BatchConfig(batch_size=3, prefetch_batches=3, num_workers=3)
    values = np.arange(100, dtype=np.float32)
    result = predict(flaky(runner, config), [pa.array(values)])
    assert result.columns[0].to_pylist() == (values * 2).tolist()
    assert runner.sizes == [3] * 33 + [1]


# ------------------------------------------------------------------ INFER in DataFusion


@pytest.fixture
def context(tmp_path, linear_path):
    from datafusion import SessionContext

    models = {
        "linear": ModelRecord(name="linear", uri=str(linear_path), framework="onnx"),
        "classify": ModelRecord(name="classify", uri=str(classifier(tmp_path / "c.onnx", W)), framework="onnx"),
    }
    ctx = SessionContext()
    ctx.register_record_batches("t", [[pa.record_batch(
        {"id": [1, 2, 3], "v": vectors([[1, 0, 0, 0], [0, 0, 0, 1], None])})]])
    return ctx, register_infer(ctx, models.get)


def test_scalar_infer_runs_as_written(context):
    ctx, functions = context
    sql = "SELECT id, INFER('linear', v) AS y FROM t ORDER BY id"
    assert functions.prepare(sql) == sql
    assert ctx.sql(sql).to_pydict() == {"id": [1, 2, 3], "y": [[0.0, 1.0], [6.0, 7.0], None]}


def test_two_signatures_in_one_query(context):
    ctx, functions = context
    sql = functions.prepare("SELECT id, INFER('linear', v) AS y, INFER('classify', v) AS c FROM t ORDER BY id")
    assert "INFER_2('classify', v)" in sql
    rows = ctx.sql(sql).to_pylist()
    assert rows[1] == {"id": 2, "y": [6.0, 7.0], "c": {"label": 1, "score": 7.0}}
    assert rows[2]["c"] is None


def test_table_infer_adds_output_columns(context):
    ctx, functions = context
    sql = functions.prepare("SELECT * FROM INFER('classify', t, v) AS c WHERE c.id < 3 ORDER BY id")
    assert ctx.sql(sql).to_pydict() == {
        "id": [1, 2], "v": [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]], "label": [1, 1], "score": [1.0, 7.0]}
    sub = functions.prepare("SELECT id, y FROM INFER('linear', (SELECT id, v FROM t WHERE id = 2), v)")
    assert ctx.sql(sub).to_pydict() == {"id": [2], "y": [[6.0, 7.0]]}
    nested = functions.prepare("SELECT id, y, label FROM INFER('classify', (SELECT id, v, INFER('linear', v) AS y "
                               "FROM t WHERE id = 2), v)")
    assert ctx.sql(nested).to_pydict() == {"id": [2], "y": [[6.0, 7.0]], "label": [1]}


@pytest.mark.parametrize("sql, message", [
    ("SELECT INFER('nope', v) FROM t", "no model named 'nope'"),
    ("SELECT INFER(v, v) FROM t", "model name in quotes"),
    ("SELECT INFER('linear', v, v) FROM t", "takes 1 column(s) (x float32[4]); INFER gave 2"),
    ("SELECT * FROM INFER('linear', t)", "takes 1 column(s)"),
    ("SELECT * FROM INFER('linear', (SELECT v AS y FROM t), y)", "adds column(s) y that its source already has"),
])
def test_infer_errors(context, sql, message):
    _, functions = context
    with pytest.raises((BadInferCall, NotFound)) as raised:
        functions.prepare(sql)
    assert message in raised.value.message
