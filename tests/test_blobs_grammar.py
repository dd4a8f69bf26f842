"""The blob registry statements' grammar: ``parse(render(s)) == s``, examples and errors."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grammar import blobs as bl
from grammar import parse, render
from grammar.errors import RaiseSyntaxError, ValidationError
from raise_.blobs.family import FAMILY

names = st.one_of(
    st.sampled_from(["product-images", "registry", "blobs", 'say "hi"', "a/b", "x.y", "it's", "名前",
                     "semi;colon", "-- not a comment", "line\nbreak"]),
    st.from_regex(r"[a-z][a-z0-9_]{0,8}(-[a-z][a-z0-9]{0,5})?", fullmatch=True),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8),
)
texts = st.one_of(st.sampled_from(["", "it's", "a;b", "-- x", "'); DROP BLOB REGISTRY r; --", "s3://b/k.png"]),
                  st.text(st.characters(blacklist_categories=("Cs",)), max_size=16))
maybe = st.none
registries = st.builds(lambda project, name: bl.RegistryRef(name=name, project=project),
                       maybe() | st.lists(names, min_size=1, max_size=3).map(tuple), names)
policy_values = {"mode": st.sampled_from(bl.MODES), "fail_on_missing": st.booleans(),
                 "fail_on_mismatch": st.booleans(),
                 "cache_validation_seconds": st.integers(0, 10**6) | st.floats(0, 1e9, allow_nan=False)}
policies = st.lists(st.sampled_from(list(bl.POLICY_OPTIONS)), min_size=1, max_size=4, unique=True).flatmap(
    lambda keys: st.tuples(*(st.tuples(st.just(k), policy_values[k]) for k in keys)))
metadata = st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5) | st.booleans(), max_size=3)
entries = st.builds(
    bl.BlobEntry, uri=texts, content_type=maybe() | texts, checksum=maybe() | texts,
    algorithm=maybe() | st.sampled_from(bl.ALGORITHMS), size_bytes=maybe() | st.integers(0, 10**12),
    etag=maybe() | texts, version_id=maybe() | texts, metadata=maybe() | metadata.map(json.dumps),
    status=maybe() | st.sampled_from(bl.STATUSES),
).flatmap(lambda e: st.just(e) if e.status is None else texts.map(
    lambda at: bl.BlobEntry(**{**{f: getattr(e, f) for f in e.__dataclass_fields__}, "validated_at": at})))
filters = dict(registry_id=maybe() | texts, uri=maybe() | texts, content_type=maybe() | texts, prefix=maybe() | texts)
STRATEGIES = {
    bl.CreateBlobRegistry: st.builds(bl.CreateBlobRegistry, registry=registries, policy=maybe() | policies,
                                     description=maybe() | texts,
                                     conflict=st.sampled_from(["error", "skip", "update"])),
    bl.DropBlobRegistry: st.builds(bl.DropBlobRegistry, registry=registries, if_exists=st.booleans()),
    bl.DescribeBlobRegistry: st.builds(bl.DescribeBlobRegistry, registry=registries),
    bl.ShowBlobRegistries: st.builds(bl.ShowBlobRegistries,
                                     within=maybe() | st.lists(names, min_size=1, max_size=3).map(tuple)),
    bl.RegisterBlobs: st.builds(bl.RegisterBlobs, registry=registries,
                                entries=st.lists(entries, min_size=1, max_size=3).map(tuple)),
    bl.ShowBlobs: st.builds(bl.ShowBlobs, registry=registries, **filters),
    bl.ValidateBlobs: st.builds(bl.ValidateBlobs, registry=registries, verify_checksum=st.booleans(), **filters),
}


def test_every_statement_has_a_strategy_and_is_declared_by_the_blob_family():
    assert set(STRATEGIES) == set(bl.BLOB_STATEMENTS) == set(FAMILY.statements)


@pytest.mark.parametrize("cls", bl.BLOB_STATEMENTS, ids=lambda cls: cls.__name__)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip(cls, data):
    statement = data.draw(STRATEGIES[cls])
    text = bl.render_blob_statement(statement)
    assert bl.parse_blob_statement(text) == statement
    assert parse(text) == [statement] and render(statement) == text


IMAGES = bl.RegistryRef(name="product-images")
EXAMPLES = {
    "create blob registry if not exists acme/ml/vision/\"product-images\" policy (mode = ON_WRITE, "
    "fail_on_missing = false, cache_validation_seconds = 3600) description 'catalog photos'":
        bl.CreateBlobRegistry(registry=bl.RegistryRef(name="product-images", project=("acme", "ml", "vision")),
                              policy=(("mode", "on_write"), ("fail_on_missing", False),
                                      ("cache_validation_seconds", 3600)),
                              description="catalog photos", conflict="skip"),
    "CREATE OR REPLACE BLOB REGISTRY product-images POLICY (mode = lazy)":
        bl.CreateBlobRegistry(registry=IMAGES, policy=(("mode", "lazy"),), conflict="update"),
    "REGISTER BLOB IN product-images 's3://products/images/product-001.png' CONTENT TYPE 'image/png' "
    "CHECKSUM 'abc123def456...' SIZE 1024000 METADATA '{\"width\": 1920}'":
        bl.RegisterBlobs(registry=IMAGES, entries=(bl.BlobEntry(
            uri="s3://products/images/product-001.png", content_type="image/png", checksum="abc123def456...",
            size_bytes=1024000, metadata='{"width": 1920}'),)),
    "register blobs in product-images 'a.png' algorithm XXH3 validated VALID at '2026-12-01T00:00:00+00:00', 'b.png'":
        bl.RegisterBlobs(registry=IMAGES, entries=(
            bl.BlobEntry(uri="a.png", algorithm="xxh3", status="valid", validated_at="2026-12-01T00:00:00+00:00"),
            bl.BlobEntry(uri="b.png"))),
    "SHOW BLOBS IN product-images CONTENT TYPE 'image/png' PREFIX 's3://bucket/'":
        bl.ShowBlobs(registry=IMAGES, content_type="image/png", prefix="s3://bucket/"),
    "validate blobs in rec/product-images uri 's3://b/a.png' no checksum":
        bl.ValidateBlobs(registry=bl.RegistryRef(name="product-images", project=("rec",)), uri="s3://b/a.png",
                         verify_checksum=False),
    "SHOW BLOB REGISTRIES IN acme/ml/vision": bl.ShowBlobRegistries(within=("acme", "ml", "vision")),
    "DROP BLOB REGISTRY IF EXISTS product-images": bl.DropBlobRegistry(registry=IMAGES, if_exists=True),
    "DESCRIBE BLOB REGISTRY product-images": bl.DescribeBlobRegistry(registry=IMAGES),
}


@pytest.mark.parametrize("text", EXAMPLES)
def test_examples_parse_to_their_statements(text):
    assert parse(text) == [EXAMPLES[text]]


@pytest.mark.parametrize("text, error, name", [
    ("CREATE BLOB REGISTRY r POLICY (mode = sometimes)", ValidationError, "sometimes"),
    ("CREATE BLOB REGISTRY r POLICY (colour = TRUE)", ValidationError, "colour"),
    ("CREATE BLOB REGISTRY r POLICY (fail_on_missing = 3)", ValidationError, "fail_on_missing"),
    ("CREATE BLOB REGISTRY r POLICY (cache_validation_seconds = -1)", ValidationError, "cache_validation_seconds"),
    ("CREATE BLOB REGISTRY r POLICY (mode = lazy, mode = strict)", RaiseSyntaxError, "mode"),
    ("CREATE OR REPLACE BLOB REGISTRY IF NOT EXISTS r", RaiseSyntaxError, None),
    ("REGISTER BLOB IN r 'a.png' ALGORITHM crc32", ValidationError, "crc32"),
    ("REGISTER BLOB IN r 'a.png' VALIDATED fine AT 'now'", ValidationError, "fine"),
    ("REGISTER BLOB IN r 'a.png' SIZE 1 SIZE 2", RaiseSyntaxError, "size_bytes"),
    ("REGISTER BLOB IN r 'a.png' SIZE -1", RaiseSyntaxError, None),
    ("REGISTER BLOB IN r", RaiseSyntaxError, None),
    ("SHOW BLOBS IN a/b/c/d/e", RaiseSyntaxError, "a/b/c/d/e"),
])
def test_bad_statements_are_refused_with_a_position(text, error, name):
    with pytest.raises(error) as refused:
        parse(text)
    assert refused.value.line == 1 and refused.value.column >= 1
    if name is not None:
        assert refused.value.name == name


def test_a_registration_without_references_does_not_render():
    with pytest.raises(ValidationError) as refused:
        render(bl.RegisterBlobs(registry=IMAGES, entries=()))
    assert refused.value.code == "RAISE-V311"
