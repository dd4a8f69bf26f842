"""Scan a folder of blobs with checksums (``MultimodalSource.scan``) next to ``sha256sum`` over
the same files in the same run, and validate the references (``BlobRegistry.validate_batch``).

    python benchmarks/blobs.py            # 10,000 files of 10 KB - 2 MB (~3.7 GB of disk)
    python benchmarks/blobs.py --quick    # 1,000 files, well under a minute

Sizes are log-uniform between 10 KB and 2 MB, spread over 100 folders; the files are written
once and read from the page cache by every side (each timed as the best of ``--runs``).
Last line: ratios first (``sha256sum`` seconds over Raise seconds), then throughputs.
``openssl dgst -sha256`` runs beside ``sha256sum`` as a second peer: Debian's ``sha256sum``
uses coreutils' portable SHA-256, while ``hashlib`` (and ``openssl``) use the CPU's SHA
instructions where it has them.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from raise_ import BlobRegistry, HashAlgorithm, IntegrityPolicy, MultimodalSource

MIN_BYTES, MAX_BYTES = 10_000, 2_000_000


def make_files(root: Path, count: int) -> tuple[list[Path], int]:
    rng = np.random.default_rng(16)
    sizes = np.exp(rng.uniform(np.log(MIN_BYTES), np.log(MAX_BYTES), count)).astype(np.int64)
    pool = rng.bytes(int(sizes.max()) + count)
    paths = []
    for i, size in enumerate(sizes):
        path = root / f"d{i % 100:02d}" / f"blob-{i:05d}.npy"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(pool[i:i + int(size)])
        paths.append(path)
    return paths, int(sizes.sum())


def best_of(runs: int, fn):
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def sha256sum(paths: list[Path]) -> dict[str, str]:
    out = _xargs(["sha256sum"], paths)
    return {line[66:].decode(): line[:64].decode() for line in out.splitlines()}


def openssl(paths: list[Path]) -> None:
    _xargs(["openssl", "dgst", "-sha256"], paths)


def _xargs(command: list[str], paths: list[Path]) -> bytes:
    listing = b"\0".join(str(p).encode() for p in paths)
    return subprocess.run(["xargs", "-0", *command], input=listing, capture_output=True, check=True).stdout


def scan(root: Path, algorithm: HashAlgorithm, registry: BlobRegistry | None = None):
    return MultimodalSource(name="bench", uri_prefix=str(root), hash_algorithm=algorithm, registry=registry).scan()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 files")
    parser.add_argument("--files", type=int)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    count = args.files or (1_000 if args.quick else 10_000)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "blobs"
        root.mkdir()
        paths, total = make_files(root, count)
        peer, expected = best_of(args.runs, lambda: sha256sum(paths))
        ssl = best_of(args.runs, lambda: openssl(paths))[0] if shutil.which("openssl") else float("nan")
        seconds, refs = best_of(args.runs, lambda: scan(root, HashAlgorithm.SHA256))
        assert len(refs) == count and all(expected[r.uri] == r.checksum for r in refs), "checksums differ"
        xxh3, _ = best_of(args.runs, lambda: scan(root, HashAlgorithm.XXH3))
        blake3, _ = best_of(args.runs, lambda: scan(root, HashAlgorithm.BLAKE3))
        registry = BlobRegistry(name="bench", policy=IntegrityPolicy.lazy(), home=str(Path(tmp) / "store"))
        register, registered = best_of(args.runs, lambda: registry.register_many(refs))
        scan_register, _ = best_of(args.runs, lambda: scan(root, HashAlgorithm.SHA256, registry))
        assert len(registry) == count
        validate, results = best_of(args.runs, lambda: registry.validate_batch(registered))
        assert all(r.valid for r in results)
        exists, _ = best_of(args.runs, lambda: registry.validate_batch(refs, verify_checksum=False))
    gb = total / 1e9
    figures = {
        "scan_vs_sha256sum": peer / seconds,
        "xxh3_scan_vs_sha256sum": peer / xxh3,
        "blake3_scan_vs_sha256sum": peer / blake3,
        "scan_vs_openssl": ssl / seconds,
        "scan_sha256_gbps": gb / seconds,
        "scan_xxh3_gbps": gb / xxh3,
        "scan_blake3_gbps": gb / blake3,
        "sha256sum_gbps": gb / peer,
        "openssl_sha256_gbps": gb / ssl,
        "scan_register_vs_sha256sum": peer / scan_register,
        "register_many_refs_s": count / register,
        "validate_batch_refs_s": count / validate,
        "validate_batch_exists_refs_s": count / exists,
        "files": count,
        "gb": gb,
    }
    print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
