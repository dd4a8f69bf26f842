"""Hash algorithms: digests equal the reference tools' and stream in constant memory."""
from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tracemalloc

import pytest

from raise_ import BlobRegistry, HashAlgorithm, IntegrityPolicy
from raise_.blobs.hashing import checksum_stream, compute_checksum, hash_algorithm
from raise_.errors import ValidationError

# Published test vectors: BLAKE3's (b3sum of empty input and of "abc") and XXH3-64's (xxhsum -H3).
B3_EMPTY = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
B3_ABC = "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
XXH3_EMPTY = "2d06800538d394c2"


def _data(n: int) -> bytes:
    return bytes((i * 7919) % 251 for i in range(n))


@pytest.mark.parametrize("algorithm, expected", [
    (HashAlgorithm.SHA256, hashlib.sha256(b"abc").hexdigest()),
    (HashAlgorithm.SHA512, hashlib.sha512(b"abc").hexdigest()),
    (HashAlgorithm.MD5, "900150983cd24fb0d6963f7d28e17f72"),
    (HashAlgorithm.BLAKE3, B3_ABC),
])
def test_digests_of_abc(algorithm, expected):
    assert compute_checksum(b"abc", algorithm) == expected


def test_reference_vectors_of_empty_input():
    assert compute_checksum(b"", HashAlgorithm.BLAKE3) == B3_EMPTY
    assert compute_checksum(b"", HashAlgorithm.XXH3) == XXH3_EMPTY
    assert compute_checksum(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs coreutils sha256sum")
def test_sha256_equals_sha256sum_on_a_multi_chunk_file(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(_data(3 * (1 << 20) + 123))
    tool = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]
    with open(path, "rb") as handle:
        assert checksum_stream(handle)[0] == tool
    assert compute_checksum(path.read_bytes()) == tool


@pytest.mark.parametrize("algorithm", list(HashAlgorithm))
def test_streamed_equals_one_shot_for_every_algorithm(algorithm):
    data = _data(2 * (1 << 20) + 17)
    digest, size = checksum_stream(io.BytesIO(data), algorithm, chunk_bytes=65536)
    assert (digest, size) == (compute_checksum(data, algorithm), len(data))


def test_streaming_a_large_file_keeps_memory_at_one_chunk(tmp_path):
    path = tmp_path / "big.bin"
    with open(path, "wb") as handle:
        for _ in range(32):
            handle.write(_data(1 << 20))
    tracemalloc.start()
    with open(path, "rb") as handle:
        digest, size = checksum_stream(handle)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert size == 32 << 20
    assert peak < 3 << 20
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_registry_compute_checksum_as_the_spec_calls_it(tmp_path):
    registry = BlobRegistry(name="product-images", policy=IntegrityPolicy.lazy(), home=tmp_path)
    assert registry.compute_checksum(b"abc", HashAlgorithm.SHA256) == hashlib.sha256(b"abc").hexdigest()
    assert registry.compute_checksum(io.BytesIO(b"abc"), "blake3") == B3_ABC


@pytest.mark.parametrize("spelling", ["SHA256", "sha-256", "Sha256", "XXH3", "blake3"])
def test_algorithm_spellings(spelling):
    assert hash_algorithm(spelling) in set(HashAlgorithm)


@pytest.mark.parametrize("bad", ["crc32", "sha1", "", 256])
def test_unknown_algorithms_are_refused_with_a_code(bad):
    with pytest.raises(ValidationError) as info:
        compute_checksum(b"abc", bad)
    assert info.value.code == "RAISE-V303" and "BLAKE3" in info.value.message


def test_text_is_not_data():
    with pytest.raises(ValidationError) as info:
        compute_checksum("s3://b/a.png")
    assert info.value.code == "RAISE-V304"
