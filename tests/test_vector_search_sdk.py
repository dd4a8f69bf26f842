"""Vector search from the SDK, in-process and over Flight: ``group.search``, ``fs.search``,
``feature.create_index``, results, text queries embedded by the feature's INFER model."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from grammar.errors import NotFound, ValidationError
from infer_models import model_cache, text_vectors, token_ids  # noqa: F401 (model_cache is autouse)

pytest_plugins = ["conftest_sdk"]

N, DIM = 400, 8


@pytest.fixture
def items(store):
    group = store.create_feature_group("item-signals", key_columns=["item_id"])
    group.create_feature("item_embedding", dtype=f"float32[{DIM}]")
    group.create_feature("category", dtype="string")
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((N, DIM)).astype(np.float32)
    group.write(pa.table({"item_id": pa.array(np.arange(N, dtype=np.int64)),
                          "item_embedding": pa.array([None if i % 7 == 6 else v.tolist() for i, v in enumerate(vectors)],
                                                     pa.list_(pa.float32(), DIM)),
                          "category": pa.array(np.where(np.arange(N) % 2 == 0, "shoes", "hats"))}))
    return group, vectors


def _exact(vectors: np.ndarray, query: np.ndarray, k: int, keep=lambda i: True) -> list[int]:
    scores = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    ranked = [i for i in np.argsort(-scores, kind="stable") if i % 7 != 6 and keep(i)]
    return ranked[:k]


def test_search_returns_keys_scores_and_features(store, items):
    group, vectors = items
    query = vectors[10]
    result = group.search(feature="item_embedding", query=query, top_k=5, features=["category"],
                          filter="category = 'shoes'")
    assert result.keys == _exact(vectors, query, 5, lambda i: i % 2 == 0)
    assert result.keys[0] == 10 and result.scores[0] == pytest.approx(1.0)
    assert result.to_arrow().column_names == ["item_id", "category", "score"]
    assert set(result.to_pandas()["category"]) == {"shoes"}
    assert "nearest rows" in result._repr_html_() and len(result) == 5
    same = store.search(feature="item-signals.item_embedding", query=query.tolist(), top_k=5,
                        filter="category = 'shoes'")
    assert same.keys == result.keys


def test_create_index_then_search_uses_it(store, items):
    group, vectors = items
    group.feature("item_embedding").create_index(metric="cosine", method="hnsw", m=16, ef_construction=100)
    recalls = []
    for seed in range(5):
        query = np.random.default_rng(seed).standard_normal(DIM)
        got = group.search(feature="item_embedding", query=query, top_k=10).keys
        recalls.append(len(set(got) & set(_exact(vectors, query, 10))) / 10)
    assert np.mean(recalls) >= 0.95
    l2 = group.search(feature="item_embedding", query=vectors[3], top_k=3, metric="l2")
    assert l2.keys[0] == 3 and l2.scores[0] == pytest.approx(0.0, abs=1e-6)


def test_bad_search_input(items):
    group, _ = items
    cases = [dict(query=[1.0, 2.0]), dict(query=np.zeros(DIM), top_k=0), dict(query=np.zeros(DIM), metric="hamming"),
             dict(query="shoes for running"), dict(query=np.zeros((2, DIM)))]
    codes = ["RAISE-V601", "RAISE-V600", "RAISE-V605", "RAISE-V607", "RAISE-V608"]
    for kwargs, code in zip(cases, codes):
        with pytest.raises(ValidationError) as raised:
            group.search(feature="item_embedding", **kwargs)
        assert raised.value.code == code, kwargs


def test_text_query_is_embedded_by_the_index_model(store, tmp_path):
    folder = text_vectors(tmp_path / "models" / "words")
    store.sql(f"CREATE MODEL words FROM '{folder.as_uri()}' FRAMEWORK onnx")
    docs = store.create_feature_group("docs", key_columns=["doc_id"])
    docs.create_feature("embedding", dtype="float32[2]")
    bodies = ["hello world", "model", "feature store model", "store"]
    vectors = [[float(len(token_ids(b))), float(sum(token_ids(b)))] for b in bodies]
    docs.write(pa.table({"doc_id": pa.array([1, 2, 3, 4], pa.int64()),
                         "embedding": pa.array(vectors, pa.list_(pa.float32(), 2))}))
    with pytest.raises(NotFound):
        docs.feature("embedding").create_index(metric="l2", model="nowhere")
    docs.feature("embedding").create_index(metric="l2", model="words")
    result = docs.search(feature="embedding", query="feature store model", top_k=2)
    assert result.keys[0] == 3 and result.scores[0] == pytest.approx(0.0)
    assert result.metric == "l2"
