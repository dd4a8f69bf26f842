"""The model registry and INFER through the engine: Raise SQL in, Arrow out, Delta underneath."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from infer_models import classifier, linear, text_model, model_cache  # noqa: F401 (autouse)
from grammar.errors import AlreadyExists, NotFound, Unsupported

W = np.arange(8, dtype=np.float32).reshape(4, 2)


@pytest.fixture
def rec(engine, tmp_path):
    session = engine.session(principal="alice@acme.com", project="acme/ml/rec")
    session.execute('CREATE FEATURE GROUP "docs" KEY (id INT64);'
                    'CREATE FEATURE "docs".v FLOAT32[4]; CREATE FEATURE "docs".body STRING')
    session.ingest("docs", pa.table({
        "id": [1, 2, 3], "v": pa.array([[1, 0, 0, 0], [0, 0, 0, 1], None], pa.list_(pa.float32(), 4)),
        "body": ["hello world", None, "model"]}))
    linear(tmp_path / "models" / "linear.onnx", W)
    classifier(tmp_path / "models" / "classify.onnx", W)
    text_model(tmp_path / "models" / "text")
    return session


def create(session, tmp_path, name: str, file: str, extra: str = "") -> dict:
    uri = (tmp_path / "models" / file).as_uri()
    return session.execute(f"CREATE MODEL {name} FROM '{uri}' FRAMEWORK onnx {extra}").to_pylist()[0]


def test_create_show_describe_drop(rec, tmp_path):
    ack = create(rec, tmp_path, "linear", "linear.onnx", "TASK 'projection' BATCH (batch_size = 8) "
                 "DESCRIPTION 'a 4 -> 2 map'")
    assert ack == {"statement": "CREATE MODEL", "object": "acme/ml/rec/linear", "rows_affected": 1, "warnings": []}
    create(rec, tmp_path, "classify", "classify.onnx", "OUTPUT (label int64, score float32)")
    shown = rec.execute("SHOW MODELS").to_pylist()
    assert [m["name"] for m in shown] == ["classify", "linear"]
    described = rec.execute("DESCRIBE MODEL linear").to_pylist()[0]
    assert described["path"] == "acme/ml/rec/linear" and described["framework"] == "onnx"
    assert described["location"] == str((tmp_path / "models" / "linear.onnx").resolve())
    assert described["batch"]["batch_size"] == 8 and described["batch"]["max_retries"] == 3
    assert (described["task"], described["description"], described["owner"]) == \
        ("projection", "a 4 -> 2 map", "alice@acme.com")
    assert rec.execute("DESCRIBE MODEL classify").to_pylist()[0]["outputs"] == [
        {"name": "label", "dtype": "int64"}, {"name": "score", "dtype": "float32"}]
    assert rec.execute("SHOW MODELS IN acme/ml/rec").num_rows == 2
    assert rec.execute("DROP MODEL linear").to_pylist()[0]["rows_affected"] == 1
    assert rec.execute("DROP MODEL IF EXISTS linear").to_pylist()[0]["rows_affected"] == 0
    with pytest.raises(NotFound, match="model 'acme/ml/rec/linear' does not exist; models here: classify"):
        rec.execute("DESCRIBE MODEL linear")


def test_create_conflicts(rec, tmp_path):
    create(rec, tmp_path, "m", "linear.onnx")
    with pytest.raises(AlreadyExists, match="CREATE OR REPLACE MODEL"):
        create(rec, tmp_path, "m", "linear.onnx")
    uri = (tmp_path / "models" / "classify.onnx").as_uri()
    assert rec.execute(f"CREATE MODEL IF NOT EXISTS m FROM '{uri}' FRAMEWORK onnx").to_pylist()[0]["rows_affected"] == 0
    rec.execute(f"CREATE OR REPLACE MODEL m FROM '{uri}' FRAMEWORK onnx")
    assert rec.execute("DESCRIBE MODEL m").to_pylist()[0]["uri"] == uri


def test_absent_local_model_is_refused_at_create(rec, tmp_path):
    with pytest.raises(NotFound, match="looked at"):
        rec.execute(f"CREATE MODEL m FROM '{tmp_path / 'nothing.onnx'}' FRAMEWORK onnx")
    with pytest.raises(NotFound, match="looked in: installed package"):
        rec.execute("CREATE MODEL m FROM 'hf://nobody/no-such-model' FRAMEWORK huggingface")
    assert rec.execute("SHOW MODELS").num_rows == 0


def test_unrunnable_models_register_with_warnings_and_infer_refuses(rec):
    ack = rec.execute("CREATE MODEL clf FROM 'mlflow://models:/classifier/Production' FRAMEWORK sklearn")
    warnings = ack.column("warnings")[0].as_py()
    assert any("sklearn models are registered but cannot run" in w for w in warnings)
    with pytest.raises(Unsupported):
        rec.execute("SELECT INFER('clf', v) FROM docs")


def test_scalar_infer_over_a_feature_group(rec, tmp_path):
    create(rec, tmp_path, "linear", "linear.onnx")
    result = rec.execute("SELECT id, INFER('linear', v) AS y FROM docs ORDER BY id")
    assert result.to_pydict() == {"id": [1, 2, 3], "y": [[0.0, 1.0], [6.0, 7.0], None]}
    assert result.schema.field("y").type == pa.list_(pa.float32(), 2)
    filtered = rec.execute("SELECT id FROM docs WHERE INFER('linear', v)[2] > 5")
    assert filtered.column("id").to_pylist() == [2]


def test_table_infer_and_qualified_model_names(rec, tmp_path):
    create(rec, tmp_path, "classify", "classify.onnx")
    result = rec.execute("SELECT id, label, score FROM INFER('acme/ml/rec/classify', \"docs\", v) ORDER BY id")
    assert result.to_pydict() == {"id": [1, 2, 3], "label": [1, 1, None], "score": [1.0, 7.0, None]}
    nested = rec.execute("SELECT e.id, e.label FROM INFER('rec/classify', (SELECT id, v FROM docs WHERE id > 1), v) "
                         "AS e JOIN docs d ON d.id = e.id ORDER BY e.id")
    assert nested.to_pydict() == {"id": [2, 3], "label": [1, None]}


def test_text_models_take_string_columns(rec, tmp_path):
    create(rec, tmp_path, "text", "text")
    result = rec.execute("SELECT id, INFER('text', body) AS t FROM docs ORDER BY id")
    assert result.column("t").to_pylist() == [{"tokens": 4.0, "id_sum": 10.0}, None,
                                              {"tokens": 3.0, "id_sum": 10.0}]


def test_schema_of_an_infer_query_without_running_it(rec, tmp_path):
    create(rec, tmp_path, "classify", "classify.onnx")
    schema = rec.schema("SELECT id, INFER('classify', v) AS c FROM docs")
    assert schema.field("c").type == pa.struct([("label", pa.int64()), ("score", pa.float32())])


def test_insert_infer_results_into_a_feature(rec, tmp_path):
    create(rec, tmp_path, "linear", "linear.onnx")
    rec.execute('CREATE FEATURE "docs".projected FLOAT32[2]')
    rec.execute('INSERT INTO "docs" (id, projected) SELECT id, INFER(\'linear\', v) FROM docs WHERE id = 2')
    rows = rec.execute("SELECT id, projected FROM docs WHERE projected IS NOT NULL").to_pylist()
    assert rows == [{"id": 2, "projected": [6.0, 7.0]}]


def test_infer_errors_arrive_as_raise_errors(rec, tmp_path):
    with pytest.raises(NotFound, match="no model named 'ghost'"):
        rec.execute("SELECT INFER('ghost', v) FROM docs")


def test_a_remembered_rewrite_follows_the_model_a_name_means_now(rec, tmp_path):
    from udfs.infer import udf

    create(rec, tmp_path, "m", "linear.onnx")
    create(rec, tmp_path, "classify", "classify.onnx")
    both = "SELECT id, INFER('classify', v)['label'] AS c, INFER('m', v) AS y FROM docs ORDER BY id"
    first = rec.execute(both).to_pydict()
    assert both in udf._PREPARED  # two signatures: the text was rewritten (`infer_2`) and kept
    assert rec.execute(both).to_pydict() == first == {"id": [1, 2, 3], "c": [1, 1, None],
                                                       "y": [[0.0, 1.0], [6.0, 7.0], None]}
    wide = np.arange(12, dtype=np.float32).reshape(4, 3)
    linear(tmp_path / "models" / "wide.onnx", wide)
    uri = (tmp_path / "models" / "wide.onnx").as_uri()
    rec.execute(f"CREATE OR REPLACE MODEL m FROM '{uri}' FRAMEWORK onnx")
    assert rec.execute(both).column("y").to_pylist() == [[0.0, 1.0, 2.0], [9.0, 10.0, 11.0], None]
    # now of classify's signature: one function serves both calls, where the kept text named two
    uri = (tmp_path / "models" / "classify.onnx").as_uri()
    rec.execute(f"CREATE OR REPLACE MODEL m FROM '{uri}' FRAMEWORK onnx")
    assert rec.execute(both).column("y").to_pylist() == [{"label": 1, "score": 1.0}, {"label": 1, "score": 7.0}, None]
    rec.execute("DROP MODEL m")
    with pytest.raises(NotFound, match="no model named 'm'"):
        rec.execute(both)
