"""The spec's bulk-inference API: ModelSpec, accelerators, batch configs, transforms, results."""
from __future__ import annotations

import os
import sys

import numpy as np
import pyarrow as pa
import pytest

from infer_models import classifier, linear, model_cache  # noqa: F401 (autouse)
from grammar.errors import Unsupported, ValidationError
from grammar.models import parse_model_statement
from raise_.inference import (
    AcceleratorConfig, BatchConfig, GPUType, InferenceRuntime, InferenceTransform, ModelFramework,
    ModelPrecision, ModelSpec, TPUType, classification_inference, embedding_inference, image_inference,
    inference_transform, llm_inference,
)
from raise_.inference.spec import gpu_devices

W = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=np.float32)


@pytest.fixture
def store(engine, tmp_path):
    session = engine.session(principal="alice@acme.com", project="acme/ml/rec")
    session.execute('CREATE FEATURE GROUP "items" KEY (item_id INT64);'
                    'CREATE FEATURE "items".features FLOAT32[4];'
                    'CREATE FEATURE GROUP "scores" KEY (item_id INT64);'
                    'CREATE FEATURE "scores".projection FLOAT32[2];'
                    'CREATE FEATURE "scores".category INT64; CREATE FEATURE "scores".confidence FLOAT32;'
                    'CREATE FEATURE "scores".doubled FLOAT64')
    features = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], None, [2, 2, 0, 0]]
    session.ingest("items", pa.table({"item_id": [1, 2, 3, 4, 5],
                                      "features": pa.array(features, pa.list_(pa.float32(), 4))}))
    return session, linear(tmp_path / "linear.onnx", W), classifier(tmp_path / "classify.onnx", W)


def scores(session) -> list[dict]:
    return session.execute('SELECT * FROM "scores" ORDER BY item_id').to_pylist()


# ------------------------------------------------------------------ specs


def test_model_spec_compiles_to_create_model():
    spec = ModelSpec(uri="hf://sentence-transformers/all-MiniLM-L6-v2", framework=ModelFramework.HUGGINGFACE,
                     version="latest", input_schema={"text": "string"}, output_schema={"embedding": "FLOAT32[384]"},
                     precision=ModelPrecision.FP16)
    sql = spec.to_sql("minilm", batch=BatchConfig(batch_size=64))
    assert sql == ("CREATE OR REPLACE MODEL \"minilm\" FROM 'hf://sentence-transformers/all-MiniLM-L6-v2' "
                   "FRAMEWORK huggingface VERSION 'latest' INPUT (\"text\" string) OUTPUT (\"embedding\" "
                   "float32[384]) PRECISION fp16 BATCH (batch_size = 64)")
    assert parse_model_statement(sql) == spec.to_statement("minilm", batch=BatchConfig(batch_size=64))


def test_model_spec_framework_from_uri():
    assert ModelSpec(uri="s3://models/optimized/embedding.onnx").framework is ModelFramework.ONNX
    assert ModelSpec(uri="mlflow://models:/sentiment-classifier/Production").framework is ModelFramework.MLFLOW
    assert ModelSpec(uri="s3://m/custom/text-encoder-v2.pt", precision="fp16").precision is ModelPrecision.FP16
    with pytest.raises(ValidationError, match="cannot tell the framework"):
        ModelSpec(uri="s3://models/thing")


def test_accelerators_and_their_documented_values():
    assert AcceleratorConfig.gpu(GPUType.NVIDIA_T4).gpu_type.memory_gb == 16
    assert AcceleratorConfig.gpu(GPUType.NVIDIA_A100_80GB, memory_gb=80).memory_gb == 80
    multi = AcceleratorConfig.multi_gpu(gpu_type=GPUType.NVIDIA_A100, count=4, strategy="data_parallel")
    assert (multi.count, multi.strategy, multi.gpu_type.memory_gb) == (4, "data_parallel", 40)
    assert AcceleratorConfig.tpu(TPUType.TPU_V4, count=8).count == 8
    assert AcceleratorConfig.cpu(cores=1).device() == "cpu"
    with pytest.raises(ValidationError, match="unknown multi-GPU strategy"):
        AcceleratorConfig.multi_gpu(gpu_type=GPUType.NVIDIA_A100, count=2, strategy="zero3")


def test_configurations_that_cannot_run_here_are_refused():
    with pytest.raises(Unsupported, match="no TPU"):
        AcceleratorConfig.tpu(TPUType.TPU_V4, count=8).device()
    with pytest.raises(Unsupported, match="4 x NVIDIA_A100"):
        AcceleratorConfig.multi_gpu(gpu_type=GPUType.NVIDIA_A100, count=4).device()
    with pytest.raises(Unsupported, match="CPU cores requested"):
        AcceleratorConfig.cpu(cores=(os.cpu_count() or 1) + 1).device()
    if not gpu_devices():
        with pytest.raises(Unsupported, match="no CUDA GPU"):
            AcceleratorConfig.gpu(GPUType.NVIDIA_T4).device()


def test_batch_config_examples():
    assert BatchConfig(batch_size=64, prefetch_batches=2, num_workers=4).num_workers == 4
    dynamic = BatchConfig(batch_size=32, max_batch_size=256, dynamic_batching=True)
    assert (dynamic.largest_batch, dynamic.attempts) == (256, 1)
    llm = BatchConfig(batch_size=8, timeout_seconds=300.0, retry_failed=True, max_retries=3)
    assert llm.attempts == 4 and llm.options() == (("batch_size", 8), ("timeout_seconds", 300.0),
                                                   ("retry_failed", True))


def test_runtime_differences_are_reported():
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    runtime = InferenceRuntime(image="pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime", python_version="3.10",
                               packages=["pyarrow>=1", "pyarrow<1", "no-such-package-raise"],
                               env_vars={"HF_HOME": "/cache/huggingface"}, warmup_batches=2)
    notes = runtime.differences()
    assert notes[0].startswith("image 'pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime' not used")
    assert (f"python 3.10 requested, ran on {running}" in notes) == (running != "3.10")
    assert any("does not satisfy 'pyarrow<1'" in n for n in notes)
    assert "package no-such-package-raise is not installed" in notes
    assert not any("pyarrow>=1" in n for n in notes)


def test_convenience_functions_build_transforms():
    embed = embedding_inference(model_uri="hf://sentence-transformers/all-MiniLM-L6-v2", input_column="text",
                                output_column="embedding", batch_size=128, gpu_type=GPUType.NVIDIA_T4)
    assert (embed.accelerator.gpu_type, embed.batch_config.batch_size, embed.model.task) == \
        (GPUType.NVIDIA_T4, 128, "embedding")
    image = image_inference(model_uri="hf://openai/clip-vit-base-patch32", image_column="image_ref",
                            output_column="image_embedding", batch_size=64, gpu_type=GPUType.NVIDIA_A10G)
    assert image.input_mapping == {"input": "image_ref"} and image.accelerator.gpu_type is GPUType.NVIDIA_A10G
    llm = llm_inference(model_uri="hf://meta-llama/Llama-2-70b-chat-hf", prompt_column="prompt",
                        output_column="completion", max_tokens=512, temperature=0.7,
                        gpu_type=GPUType.NVIDIA_A100_80GB, gpu_count=4, multi_gpu_strategy="tensor_parallel",
                        precision=ModelPrecision.INT8)
    assert (llm.accelerator.count, llm.accelerator.strategy, llm.model.precision, llm.options["max_tokens"]) == \
        (4, "tensor_parallel", ModelPrecision.INT8, 512)
    classify = classification_inference(model_uri="mlflow://models:/classifier/Production",
                                        input_column="embedding", output_column="category")
    assert classify.model.framework is ModelFramework.MLFLOW


# ------------------------------------------------------------------ running transforms


def test_transform_writes_outputs_by_upsert(store):
    session, linear_path, _ = store
    transform = InferenceTransform(
        name="project_items", model=ModelSpec(uri=str(linear_path)), accelerator=AcceleratorConfig.cpu(),
        batch_config=BatchConfig(batch_size=2), input_mapping={"x": "features"},
        output_mapping={"y": "projection"})
    result = transform.run(session, source="items", target="scores")
    assert (result.total_samples, result.successful_samples, result.skipped_samples) == (4, 4, 1)
    assert result.success_rate == 1.0 and result.rows_written == 4 and result.device == "cpu"
    assert result.gpu_utilization_pct == 0.0 and result.peak_memory_gb > 0.01
    assert result.throughput_samples_per_sec == pytest.approx(4 / result.duration_seconds)
    assert [(r["item_id"], r["projection"]) for r in scores(session)] == [
        (1, [1.0, 0.0]), (2, [0.0, 1.0]), (3, [1.0, 1.0]), (5, [2.0, 2.0])]
    assert session.execute("DESCRIBE MODEL project_items").column("batch")[0]["batch_size"].as_py() == 2
    again = transform.run(session, source="items", target="scores", where="item_id > 2")
    assert again.total_samples == 2 and len(scores(session)) == 4


def test_chained_transforms(store, tmp_path):
    session, linear_path, _ = store
    step1 = embedding_inference(model_uri=str(linear_path), input_column="features", output_column="projection",
                                name="step1")
    assert step1.run(session, source="items", target="scores").rows_written == 4
    classify2 = classifier(tmp_path / "classify2.onnx", np.array([[1, 0, 2], [0, 1, 2]], dtype=np.float32))
    step2 = InferenceTransform(name="step2", model=ModelSpec(uri=str(classify2)),
                               input_mapping={"x": "projection"},
                               output_mapping={"label": "category", "score": "confidence"})
    result = step2.run(session, source="scores", target="scores")
    assert (result.total_samples, result.rows_written) == (4, 4)
    assert [(r["item_id"], r["category"], r["confidence"]) for r in scores(session)] == [
        (1, 2, 2.0), (2, 2, 2.0), (3, 2, 4.0), (5, 2, 8.0)]
    with pytest.raises(ValidationError, match="output_mapping names class, which the model does not have; its outputs: label, score"):
        InferenceTransform(name="step3", model=ModelSpec(uri=str(classify2)), input_mapping={"x": "projection"},
                           output_mapping={"class": "category"}).run(session, source="scores", target="scores")


def test_a_model_over_the_wrong_width_fails_every_row_and_raises(store):
    session, _, classify_path = store
    session.execute('CREATE FEATURE GROUP "pairs" KEY (item_id INT64); CREATE FEATURE "pairs".xy FLOAT32[2]')
    session.ingest("pairs", pa.table({"item_id": [1], "xy": pa.array([[1, 2]], pa.list_(pa.float32(), 2))}))
    transform = InferenceTransform(name="wrong", model=ModelSpec(uri=str(classify_path)),
                                   input_mapping={"x": "xy"})
    with pytest.raises(ValidationError, match="rows of shape"):
        transform.run(session, source="pairs", target="scores")


def test_classifier_outputs_map_to_features(store):
    session, _, classify_path = store
    transform = InferenceTransform(name="classify", model=ModelSpec(uri=str(classify_path)),
                                   input_mapping={"x": "features"},
                                   output_mapping={"label": "category", "score": "confidence"},
                                   runtime=InferenceRuntime(warmup_batches=1, env_vars={"RAISE_TEST_VAR": "1"}))
    result = transform.run(session, source="items", target="scores")
    assert result.rows_written == 4 and "RAISE_TEST_VAR" not in os.environ
    assert [(r["item_id"], r["category"], r["confidence"]) for r in scores(session)] == [
        (1, 0, 1.0), (2, 1, 1.0), (3, 0, 1.0), (5, 0, 2.0)]


def test_function_transform_with_retries_and_failures(store):
    session, _, _ = store
    calls = []

    @inference_transform(name="double_id", batch_config=BatchConfig(batch_size=2, retry_failed=True, max_retries=1),
                         output_mapping={"score": "doubled"})
    def double_id(context, batch):
        calls.append(context.batch_index)
        if context.batch_index == 1:
            raise RuntimeError("bad batch")
        assert batch["features"].shape == (context.rows, 4) or context.batch_index == 1
        return {"score": batch["item_id"] * 2.0}

    assert double_id.name == "double_id" and double_id.accelerator.kind == "cpu"
    result = double_id.run(session, source="items", target="scores")
    assert calls == [0, 1, 1, 2]
    assert (result.total_samples, result.failed_samples, result.rows_written) == (5, 2, 3)
    assert result.success_rate == pytest.approx(0.6)
    assert result.errors == ("batch 1: RuntimeError: bad batch",)
    assert {r["item_id"]: r["doubled"] for r in scores(session)} == {1: 2.0, 2: 4.0, 5: 10.0}


def test_requests_this_machine_cannot_honour_are_refused_before_reading(store):
    session, linear_path, _ = store
    tpu = InferenceTransform(name="t", model=ModelSpec(uri=str(linear_path)),
                             accelerator=AcceleratorConfig.tpu(TPUType.TPU_V4, count=8))
    with pytest.raises(Unsupported, match="TPU"):
        tpu.run(session, source="items", target="scores")
    llm = llm_inference(model_uri="hf://meta-llama/Llama-2-70b-chat-hf", prompt_column="prompt",
                        output_column="completion", gpu_type=GPUType.NVIDIA_A100_80GB, gpu_count=4)
    with pytest.raises(Unsupported):
        llm.run(session, source="items", target="scores")
    assert session.execute("SHOW MODELS").num_rows == 0


def test_result_repr_and_html(store):
    session, linear_path, _ = store
    result = InferenceTransform(name="p", model=ModelSpec(uri=str(linear_path)),
                                output_mapping={"y": "projection"}, input_mapping={"x": "features"}
                                ).run(session, source="items", target="scores")
    assert repr(result).startswith("InferenceResult('p': 4 samples, 100.00% ok")
    assert "<th style='text-align:left'>success rate</th><td>100.00%</td>" in result._repr_html_()
