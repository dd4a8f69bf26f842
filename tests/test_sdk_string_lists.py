"""Lists of strings (``string[]``, ``Array(String())``) as ordinary features, end to end."""
from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from raise_ import Array, String
from raise_.errors import ValidationError

pytest_plugins = ["conftest_sdk"]

ROWS = [{"item_id": 1, "tags": ["sport", "outdoor"], "tokens": ["a"]},
        {"item_id": 2, "tags": [], "tokens": None},
        {"item_id": 3, "tags": None, "tokens": ["b", "c"]}]


@pytest.fixture
def items(store):
    group = store.create_feature_group("items", key_columns=["item_id"])
    group.create_feature("tags", dtype=Array(String()), description="item categories")
    group.create_feature("tokens", dtype="string[:2]")
    group.create_feature("title", dtype=String(max_length=8))
    return group


def test_declared_by_constructor_or_shortcut(items):
    tags, tokens, title = (items.feature(n) for n in ("tags", "tokens", "title"))
    assert tags.dtype == "string[]" and tags.dtype == Array(String()) and tags.dtype.element == String()
    assert tokens.dtype == Array(String(), max_length=2) and tokens.dtype.max_length == 2
    assert title.dtype == "string[8]" and title.dtype.max_length == 8  # a bounded string, no list
    assert tags.dtype.to_arrow() == pa.list_(pa.string())


def test_written_and_read_back_as_lists_of_strings(items):
    assert items.write(ROWS) == 3
    table = items.read(["tags", "tokens"]).sort_by("item_id")
    assert table.schema.field("tags").type == pa.list_(pa.string())
    assert table.to_pylist() == [{k: r[k] for k in ("item_id", "tags", "tokens")} for r in ROWS]
    frame = pd.DataFrame({"item_id": [4], "tags": [["new"]]})
    assert items.write(frame) == 1
    assert items.read(["tags"], filter="item_id = 4").column("tags").to_pylist() == [["new"]]


def test_sql_over_string_lists(items, store):
    items.write(ROWS)
    found = store.sql("SELECT item_id FROM items WHERE array_has(tags, 'sport')").column("item_id")
    assert found.to_pylist() == [1]
    counted = items.create_feature("n_tags", dtype="int64", derived_from="array_length(tags)")
    assert counted.is_derived
    joined = items.create_feature("tag_text", dtype="string", derived_from="array_to_string(tags, ',')")
    table = store.sql("SELECT item_id, n_tags, tag_text FROM items ORDER BY item_id")
    assert table.column("n_tags").to_pylist() == [2, 0, None]
    assert table.column("tag_text").to_pylist() == ["sport,outdoor", "", None]
    assert joined.dtype == "string"
    inserted = store.sql("INSERT INTO items (item_id, tags) VALUES (9, make_array('x', 'y'))")
    assert inserted.column("count").to_pylist() == [1]
    assert store.sql("SELECT tags FROM items WHERE item_id = 9").column("tags").to_pylist() == [["x", "y"]]


def test_bounds_are_checked_before_anything_is_written(items):
    # the class over Flight follows the code: ValidationError, of which TypeMismatch is one
    with pytest.raises(ValidationError) as too_many:
        items.write([{"item_id": 1, "tokens": ["a", "b", "c"]}, {"item_id": 2, "tokens": ["a"]}])
    assert (too_many.value.code, too_many.value.name) == ("RAISE-V026", "tokens")
    with pytest.raises(ValidationError) as too_long:
        items.write([{"item_id": 1, "title": "far too long"}])
    assert too_long.value.code == "RAISE-V027"
    assert items.read().num_rows == 0
