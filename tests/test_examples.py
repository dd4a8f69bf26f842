"""The examples and ``raise demo`` run as scripts on a fresh store."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], home: Path) -> str:
    env = {**os.environ, "RAISE_HOME": str(home), "RAISE_USER": "researcher@acme.com"}
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def run_example(tmp_path):
    return lambda name: _run([str(ROOT / "examples" / name)], tmp_path / "store")


def test_basic_feature_creation(run_example):
    out = run_example("01_basic_feature_creation.py")
    assert "context: acme/mlplatform/recommendation | acme/mlplatform/recommendation | " \
           "acme/mlplatform/fraud-detection" in out
    assert "organization: acme owner: researcher@acme.com" in out
    assert "projects tagged ml: ['fraud-detection']" in out
    assert "Embedding(768, dtype='float16'): float16[768]" in out
    assert "Array(Int64(), max_length=100): int64[:100]" in out
    assert "invalid dtype refused: RAISE-V010" in out
    assert "created: acme/mlplatform/recommendation/user-signals/profile_embedding@v1 float32[512] " \
           "['embedding', 'prod'] ml-team@acme.com" in out
    assert "duplicate refused: RAISE-A001" in out
    assert "idempotent: True v1" in out
    assert "latest: v2 float32[768] | v1: float32[512] | versions: [('v1', 'float32[512]'), " \
           "('v2', 'float32[768]')]" in out
    assert "deprecated: deprecated - use click_count" in out
    assert "deleted: RAISE-N001" in out
    assert "'click_count': 5, 'impression_count': 25" in out


def test_derived_features(run_example):
    out = run_example("02_derived_features.py")
    assert "ctr created with warning: ['RAISE-V040']" in out
    assert ("row: {'user_id': 1, 'ctr': 0.1, 'normalized_score': -1.0, 'embedding_norm': 5.0, "
            "'country_code': 'DE', 'user_tier': 'platinum'") in out
    assert "'user_id': 2, 'ctr': None" in out and "'user_tier': 'silver'" in out
    assert "affinity reads: [user_embedding, item-signals.item_embedding]" in out
    assert "affinity needs rows with both keys: RAISE-V045" in out and "(item_id)" in out
    assert "Inferred type: float64" in out
    assert "References: ['click_count', 'impression_count']" in out
    assert "Error: RAISE-V040" in out and "strict refused: RAISE-V040" in out
    assert "upstream: [click_count, impression_count]" in out
    assert "click_count ─────────┐\n                     ├──▶ ctr\nimpression_count ────┘" in out


def test_bulk_operations(run_example):
    out = run_example("03_bulk_operations.py")
    assert "from schema: [('click_count', 'int64'), ('impression_count', 'int64'), " \
           "('user_embedding', 'float32[512]')]" in out
    assert "from list: [('clicks', 'Total clicks'), ('ctr', 'clicks / impressions')]" in out
    assert "from YAML: [('click_count', ['engagement']), ('ctr', ['derived', 'ratio'])]" in out
    assert "ctr lineage: [click_count, impression_count]" in out
    assert "blob refs: ['float32[512]', 'blob_ref<image/png|image/jpeg>', 'blob_ref<image/jpeg>']" in out
    assert "broken file refused: RAISE-V010" in out
    assert "created from the broken file: []" in out
    assert "duplicate refused: RAISE-A001" in out and "fresh exists: False" in out


def test_multimodal(run_example):
    out = run_example("08_multimodal.py")
    assert "image_ref dtype: blob_ref<image/png|image/jpeg>" in out
    assert "product-001.png - image/png - " in out and "product-004.jpg - image/jpeg - " in out
    assert "README.txt" not in out
    assert "registered: 4 | png: 2" in out
    assert "stored: [('product-001', 'image/png'), ('product-002', 'image/jpeg'), ('product-003', 'image/png'), " \
           "('product-004', 'image/jpeg')]" in out
    assert "video refused: RAISE-V302" in out
    assert "check: PASSED {'total_references': 4, 'missing_count': 0, 'invalid_count': 0}" in out
    assert "job run 1: completed, wrote 4 | verify_images: passed {'missing_count': 0, 'size_mismatch_count': 0}" in out
    assert "catalog sizes match the files: True" in out
    assert "after damage: FAILED {'missing_count': 1, 'size_mismatch_count': 1}" in out
    assert "job run 2: failed, wrote 0 | verify_images: failed {'missing_count': 1, 'size_mismatch_count': 1}" in out
    assert "image-catalog rows after the failed run: 4 | error: [RAISE-X501]" in out
    assert "validate product-001: SIZE_MISMATCH" in out
    assert "orphans: ['product-002.jpg']" in out


def test_raise_demo(tmp_path):
    out = _run(["-m", "raise_.cli", "demo"], tmp_path / "unused")
    assert "created derived feature ctr = click_count / NULLIF(impression_count, 0)" in out
    assert "wrote 5 rows" in out and "(5 rows)" in out
    assert "user_id | click_count | impression_count | ctr" in out
    assert "click_count ─────────┐\n                     ├──▶ ctr\nimpression_count ────┘" in out
    assert not (tmp_path / "unused").exists()  # the demo's store is a temporary folder


# What only the optional extras install: the plain ``pip install -e .`` of the Quick start has
# none of it, so ``raise demo`` must run with all of these unimportable.
EXTRAS_ONLY = ("duckdb", "polars", "torch", "transformers", "safetensors", "onnxruntime", "onnx",
               "tokenizers", "usearch", "redis", "ray", "hypothesis", "sentence_transformers",
               "flightsql", "cupy", "pytest")
BLOCK = """
import sys
class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (an optional extra)")
sys.meta_path.insert(0, _Blocked())
from raise_.cli import main
sys.argv = ['raise', 'demo']
main()
"""


def test_raise_demo_needs_only_the_base_dependencies(tmp_path):
    out = _run(["-c", BLOCK.format(blocked=set(EXTRAS_ONLY))], tmp_path / "unused")
    assert "wrote 5 rows" in out and "(5 rows)" in out


def test_bulk_inference(run_example):
    for module in ("torch", "onnxruntime", "onnx", "tokenizers", "transformers"):
        pytest.importorskip(module, reason=f"examples/09 needs {module} (pip install -e '.[test]')")
    out = run_example("09_bulk_inference.py")
    assert "models: ['minilm']" in out
    assert "scalar INFER: fixed_size_list<item: float>[384]" in out
    assert "Success rate: 100.00%" in out
    assert "tpu_embed refused: RAISE-X220" in out
    assert "job run: completed | rows written: 5\nTotal samples: 5\nSuccess rate: 100.00%" in out
    assert "GPU utilization: 0%" in out and "job embeddings equal the transform's: True" in out
    assert "due pass: [('step1_embed', 'completed'), ('step2_classify', 'completed')]" in out
    assert "chained job categories equal the direct run's: True" in out and "second pass runs nothing new: 0" in out
    assert "image job: completed | checks: [('verify_avatars', 'passed')] | samples: 3" in out
    assert "avatar embeddings are the mean colours: True" in out and "deployed: raise raise" in out


def test_training_and_serving(run_example):
    out = run_example("10_training_and_serving.py")
    assert "user 1 at 2026-01-04: click_count=4 ctr=0.2 clicked=0" in out
    assert "user 2 at 2026-01-01: click_count=None ctr=None clicked=0" in out  # before its first row
    assert "user 3 at 2026-01-05: click_count=None ctr=None clicked=1" in out  # a key with no rows
    assert "with ttl=2d: [4, 9, None, None, None]" in out
    assert "strictly before day 3: [1]" in out
    assert "ASOF LEFT JOIN" in out and "missing key refused: RAISE-V171" in out
    assert "online: {'user_id': [1, 2, 42], 'click_count': [9, 6, None], 'impression_count': [30, 12, None]}" in out
    assert "incremental run: 1 changed row(s), 2 keys" in out
    assert "online now: {'user_id': [2], 'click_count': [11]}" in out


def test_analytics(run_example):
    out = run_example("06_analytics.py")
    assert "clicks: {'count': 1847, 'null_rate': 0.076, 'avg': 11.965}" in out
    assert "histogram counts sum: 2000 | p50 <= p90: True" in out
    assert "correlation diagonal: [1.0, 1.0, 1.0]" in out
    assert "second run from cache: True" in out
    assert 'live table: active RefreshPolicy(type="on_change") datetime' in out
    assert "clicks counted by SQL over the live table: 1847" in out
    assert "after a write: True" in out and "manual refresh: completed" in out
    assert "history: ['manual', 'on_change', 'create']" in out
    assert 'scheduled: RefreshPolicy(type="cron", cron="0 */6 * * *")' in out
    assert "bad cron refused: RAISE-V410" in out and "unknown condition refused: RAISE-V411" in out
    assert "ab-test-significance: pending\nhigh-null-rate: pending" in out
    assert "checked: [('ab-test-significance', 'firing'), ('high-null-rate', 'firing')]" in out
    assert "high-null-rate: firing" in out
    assert "slack outbox: 1 message for high-null-rate to ['data-quality@acme.com']" in out
    assert "async job: completed 3" in out
    assert ("dashboard charts: [('Daily Click Trend', 'line'), ('Revenue by Tier', 'bar'), ('Click Distribution', "
            "'histogram'), ('Feature Correlations', 'heatmap'), ('Live Engagement Metrics', 'table')]") in out
    assert "dashboard parameters: [('date_range', 'date_range'), ('tier', 'dropdown')]" in out
    assert re.search(r"Published at: file://\S+/dashboards/acme/mlplatform/recommendation/engagement-overview\.html",
                     out)


def test_transformations(run_example):
    out = run_example("07_transformations.py")
    assert "Deployed: raise://acme/mlplatform/recommendation/compute_daily_clicks" in out
    assert "status: active | cron: 0 2 * * * | next run at 02:00: True" in out
    assert "run 1: completed, read 600, wrote" in out and "daily clicks match pandas: True" in out
    assert "run 2 read 120 new rows, 2 runs so far" in out
    assert "sources: ['clickstream', 'exports', 'events', 'user-signals']" in out
    assert "warehouse run read the filtered rows: True" in out
    assert "| check: passed" in out and "Schedule.every('30m'): cron=None" in out
    assert "check_ctr: failed" in out and "'out_of_range_count': 1" in out
    assert "guarded run: failed | target unchanged: True" in out
    assert "active: ['compute_daily_clicks']" in out
