"""Blob registries in Raise SQL, embedded and over Flight: what SQL clients see, who may see and
change a registry, what is audited, what a bad registration leaves (nothing), and a namespace
DROP CASCADE."""
from __future__ import annotations

import hashlib

import pytest

from raise_ import BlobRegistry, BlobStatus, IntegrityPolicy, create_reference
from raise_.errors import AlreadyExists, NotFound, PermissionDenied, RaiseError, ValidationError

pytest_plugins = ["conftest_sdk"]

PROJECT = "acme/mlplatform/recommendation"
OUTSIDER = "mallory@evil.com"


def _png(tmp_path, name="a.png", data=b"\x89PNG\r\n\x1a\n pixels"):
    path = tmp_path / "blobs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest(), len(data)


@pytest.fixture
def images(store):
    registry = BlobRegistry(name="product-images", policy=IntegrityPolicy.lazy(), store=store)
    registry.register(uri="s3://products/images/product-001.png", checksum="abc123def456...", size_bytes=1024000,
                      metadata={"width": 1920, "height": 1080})
    registry.register(uri="s3://products/images/product-002.jpg")
    return registry


def test_sql_clients_see_registries_and_their_references(store, images):
    shown = store.sql("SHOW BLOB REGISTRIES").to_pylist()
    assert [(r["name"], r["path"], r["references"], r["policy"]["mode"]) for r in shown] == \
        [("product-images", f"{PROJECT}/product-images", 2, "lazy")]
    rows = store.sql('SHOW BLOBS IN "product-images" CONTENT TYPE \'image/png\'').to_pylist()
    assert [(r["uri"], r["size_bytes"], r["checksum"], r["metadata"]) for r in rows] == \
        [("s3://products/images/product-001.png", 1024000, "abc123def456...", '{"height": 1080, "width": 1920}')]
    assert rows[0]["registry_id"] == images.get_by_uri("s3://products/images/product-001.png").registry_id
    assert [r["uri"] for r in store.sql("SHOW BLOBS IN \"product-images\" PREFIX 's3://products/'").to_pylist()] == \
        ["s3://products/images/product-001.png", "s3://products/images/product-002.jpg"]
    assert len(images) == 2 and len(BlobRegistry(name=f"{PROJECT}/product-images", store=store)) == 2


def test_a_policy_given_when_reopening_replaces_the_stored_one(store, images):
    reopened = BlobRegistry(name="product-images", store=store)
    assert reopened.policy == IntegrityPolicy.lazy()
    BlobRegistry(name="product-images", policy=IntegrityPolicy.strict(), store=store)
    assert BlobRegistry(name="product-images", store=store).policy == IntegrityPolicy.strict()
    assert len(reopened) == 2  # the references stay
    with pytest.raises(AlreadyExists):
        store.sql('CREATE BLOB REGISTRY "product-images"')


def test_sql_registration_validates_under_the_registrys_policy(store, tmp_path):
    store.sql("CREATE BLOB REGISTRY checked POLICY (mode = on_write, fail_on_missing = TRUE)")
    path, digest, size = _png(tmp_path)
    with pytest.raises(ValidationError) as refused:
        store.sql(f"REGISTER BLOB IN checked '{path.as_uri()}' CHECKSUM '{'0' * 64}'")
    assert refused.value.code == "RAISE-V307"
    with pytest.raises(ValidationError) as refused:
        store.sql(f"REGISTER BLOB IN checked '{(tmp_path / 'gone.png').as_uri()}'")
    assert refused.value.code == "RAISE-V306"
    assert store.sql("SHOW BLOBS IN checked").num_rows == 0
    store.sql(f"REGISTER BLOB IN checked '{path.as_uri()}' CHECKSUM '{digest}' SIZE {size}")
    assert [r["status"] for r in store.sql("SHOW BLOBS IN checked").to_pylist()] == ["valid"]


def test_validate_blobs_records_each_outcome(store, tmp_path):
    registry = BlobRegistry(name="local", policy=IntegrityPolicy.lazy(), store=store)
    good, digest, size = _png(tmp_path)
    gone, other, _ = _png(tmp_path, "b.png", b"\x89PNG\r\n\x1a\n other")
    registry.register(uri=good.as_uri(), checksum=digest, size_bytes=size)
    registry.register(uri=gone.as_uri(), checksum=other)
    gone.unlink()
    found = store.sql("VALIDATE BLOBS IN local").to_pylist()
    assert [(r["uri"], r["status"], r["valid"]) for r in found] == \
        [(good.as_uri(), "valid", True), (gone.as_uri(), "missing", False)]
    assert [r["status"] for r in store.sql("SHOW BLOBS IN local").to_pylist()] == ["valid", "missing"]
    assert registry.find_orphans() == [registry.get_by_uri(gone.as_uri())]


@pytest.mark.parametrize("entry, code", [
    ("'s3://b/ok.png', 's3://b/bad.png' METADATA '[1, 2]'", "RAISE-V312"),
    ("'s3://b/ok.png', 's3://b/bad.png' VALIDATED valid AT 'yesterday'", "RAISE-V313"),
    ("'s3://b/ok.png', 's3://b/a.png' ALGORITHM sha256 CHECKSUM 'abc' SIZE 10, 's3://b/c.png' SIZE 99999999999999999999",
     "RAISE-V304"),
    ("'s3://b/ok.png', 'ftp://x/y.png'", "RAISE-V300"),
    ("'s3://b/ok.png', 's3://b/c.png' CONTENT TYPE 'image/x-nope'", "RAISE-V301"),
])
def test_a_bad_entry_stores_nothing_of_its_statement(store, images, entry, code):
    with pytest.raises(RaiseError) as refused:
        store.sql(f'REGISTER BLOBS IN "product-images" {entry}')
    assert refused.value.code == code
    assert [r.uri for r in images.list_references()] == \
        ["s3://products/images/product-001.png", "s3://products/images/product-002.jpg"]


def test_a_bad_registration_through_the_sdk_stores_nothing(store, images):
    with pytest.raises(ValidationError) as refused:
        images.register_many([create_reference("s3://b/new.png"), "s3://b/other.png"])  # type: ignore[list-item]
    assert refused.value.code == "RAISE-V314"
    with pytest.raises(ValidationError) as refused:
        images.register(uri="s3://b/a.png", hash_algorithm="crc32")
    assert refused.value.code.startswith("RAISE-V") and len(images) == 2


def test_unknown_registries_are_named(store):
    with pytest.raises(NotFound) as missing:
        store.sql('SHOW BLOBS IN "no-such"')
    assert missing.value.code == "RAISE-N302" and missing.value.name == "no-such"


def test_an_outsider_sees_no_registry_or_blob_of_another_organization(make_store, images):
    outsider = make_store(PROJECT, user=OUTSIDER)
    assert outsider.sql("SHOW BLOB REGISTRIES").num_rows == 0
    assert outsider.sql(f"SHOW BLOB REGISTRIES IN {PROJECT}").num_rows == 0
    for statement in ['SHOW BLOBS IN "product-images"', 'DESCRIBE BLOB REGISTRY "product-images"',
                      'VALIDATE BLOBS IN "product-images"', "REGISTER BLOB IN \"product-images\" 's3://x/y.png'",
                      'DROP BLOB REGISTRY "product-images"']:
        with pytest.raises(PermissionDenied):
            outsider.sql(statement)
    with pytest.raises(PermissionDenied):
        BlobRegistry(name="product-images", store=outsider)
    assert len(images) == 2


def test_registry_changes_are_audited(store, images):
    images.list_references()
    store.sql('DROP BLOB REGISTRY "product-images"')
    resource = f"{PROJECT}/blob_registry:product-images"
    entries = [e for e in store.audit.query() if e.resource == resource]
    assert [(e.action, e.outcome) for e in entries] == \
        [("CREATE", "ALLOWED"), ("WRITE", "ALLOWED"), ("WRITE", "ALLOWED"), ("DELETE", "ALLOWED")]
    assert entries[1].details["references"] == 1


def test_a_namespace_drop_cascade_removes_registries_and_references(store, images):
    with pytest.raises(RaiseError):
        store.sql(f"DROP PROJECT {PROJECT}")
    assert len(images) == 2
    store.sql(f"DROP PROJECT {PROJECT} CASCADE")
    store.sql(f"CREATE PROJECT {PROJECT}")
    assert store.sql("SHOW BLOB REGISTRIES").num_rows == 0
    fresh = BlobRegistry(name="product-images", store=store)
    assert fresh.list_references() == [] and fresh.policy == IntegrityPolicy.on_write()


def test_a_large_registration_is_sent_as_statements_a_server_accepts(store):
    registry = BlobRegistry(name="bulk", policy=IntegrityPolicy.lazy(), store=store)
    refs = [create_reference(f"s3://bulk-bucket/images/folder-{i % 97:02d}/product-{i:06d}.png",
                             checksum=f"{i:064x}", size_bytes=i) for i in range(4000)]
    sent = len(store.history)
    assert sorted(r.registry_id for r in registry.register_many(refs)) == sorted(
        r.registry_id for r in registry.list_references())
    statements = [s for s in store.history[sent:] if s.startswith("REGISTER")]
    assert len(statements) == 2 and all(len(s) <= (512 << 10) for s in statements)
    assert len(registry) == 4000


def test_references_are_stored_as_given(store):
    registry = BlobRegistry(name="as-given", policy=IntegrityPolicy.lazy(), store=store)
    untyped = create_reference("s3://b/file.bin", checksum="ab", hash_algorithm="xxh3")
    named = create_reference("s3://b/photo.png", content_type="image/jpeg")
    inferred = create_reference("s3://b/clip.mp4")
    registry.register_many([untyped, named, inferred])
    assert registry.list_references() == [inferred, untyped, named]  # by URI
    assert [(r.content_type, r.hash_algorithm) for r in registry.list_references()] == \
        [("video/mp4", "sha256"), (None, "xxh3"), ("image/jpeg", "sha256")]
    sent = next(s for s in reversed(store.history) if s.startswith("REGISTER"))
    assert "CONTENT TYPE 'image/jpeg'" in sent and "video/mp4" not in sent and "ALGORITHM xxh3" in sent


READER = "bob@acme.com"
CLAIM = "VALIDATED valid AT '2026-01-01T00:00:00+00:00'"


def _statuses(store, registry: str) -> list[str | None]:
    return [r["status"] for r in store.sql(f'SHOW BLOBS IN "{registry}"').to_pylist()]


def test_a_reader_records_validation_outcomes_but_changes_no_reference(make_store, store, tmp_path):
    path, digest, size = _png(tmp_path)
    uri = path.as_uri()
    BlobRegistry(name="checked", policy=IntegrityPolicy.lazy(), store=store).register(
        uri=uri, checksum=digest, size_bytes=size)
    store.sql(f"SET ACL ON PROJECT {PROJECT} READERS ('{READER}')")
    reader = make_store(PROJECT, user=READER)
    theirs = BlobRegistry(name="checked", store=reader)
    assert theirs.validate(theirs.get_by_uri(uri)).status is BlobStatus.VALID
    assert _statuses(store, "checked") == ["valid"]

    path.write_bytes(b"\x89PNG\r\n\x1a\n other pixels")
    assert reader.sql('VALIDATE BLOBS IN "checked"').column("status").to_pylist() == ["size_mismatch"]
    assert _statuses(store, "checked") == ["size_mismatch"]
    # a reader's claimed outcome is not taken on trust: the engine records what it finds
    reader.sql(f"REGISTER BLOB IN \"checked\" '{uri}' CHECKSUM '{digest}' SIZE {size} {CLAIM}")
    assert _statuses(store, "checked") == ["size_mismatch"]

    for refused in (f"REGISTER BLOB IN \"checked\" '{uri}' CHECKSUM '{'0' * 64}' SIZE {size} {CLAIM}",
                    f"REGISTER BLOB IN \"checked\" '{tmp_path.as_uri()}/new.png' {CLAIM}",
                    'DROP BLOB REGISTRY "checked"'):
        with pytest.raises(PermissionDenied):
            reader.sql(refused)
    with pytest.raises(PermissionDenied):
        theirs.register(uri="s3://products/images/new.png")
    stored = BlobRegistry(name="checked", store=store).get_by_uri(uri)
    assert (stored.checksum, stored.size_bytes, len(theirs)) == (digest, size, 1)

    resource = f"{PROJECT}/blob_registry:checked"
    theirs_audited = [(e.action, e.outcome, e.details.get("kind")) for e in store.audit.query()
                      if e.resource == resource and e.actor == READER]
    assert theirs_audited[:3] == [("WRITE", "ALLOWED", "blob_validation")] * 3
    assert {a for a in theirs_audited[3:]} == {("WRITE", "DENIED", "blob"), ("DELETE", "DENIED", "blob_registry")}


def test_an_outsider_records_no_validation_outcome(make_store, store, tmp_path):
    path, digest, size = _png(tmp_path)
    BlobRegistry(name="checked", policy=IntegrityPolicy.lazy(), store=store).register(
        uri=path.as_uri(), checksum=digest, size_bytes=size)
    outsider = make_store(PROJECT, user=OUTSIDER)
    for statement in ('VALIDATE BLOBS IN "checked"',
                      f"REGISTER BLOB IN \"checked\" '{path.as_uri()}' CHECKSUM '{digest}' SIZE {size} {CLAIM}"):
        with pytest.raises(PermissionDenied):
            outsider.sql(statement)
    assert _statuses(store, "checked") == [None]
    denied = [(e.action, e.outcome) for e in store.audit.query()
              if e.resource == f"{PROJECT}/blob_registry:checked" and e.actor == OUTSIDER]
    assert denied == [("WRITE", "DENIED")] * 2
