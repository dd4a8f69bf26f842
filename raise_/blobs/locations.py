"""Where blobs live: URIs parsed into scheme, bucket and key, and opened through ``pyarrow.fs``.

``s3://bucket/key``, ``gs://bucket/key``, ``az://container/key``, ``file:///abs/path`` and plain
paths (scheme ``file``, no bucket, the path as key). Object stores are reached the way the
Delta tables reach them, with options passed to pyarrow's filesystem
(``S3FileSystem(region=..., endpoint_override=...)``, ``GcsFileSystem``, ``AzureFileSystem``
with ``account_name``).
"""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping

import pyarrow.fs as pafs

from grammar.errors import ValidationError

__all__ = ["Location", "parse_uri", "parse_prefix", "filesystem", "join"]

MALFORMED_URI = "RAISE-V300"
OBJECT_STORES = ("s3", "gs", "az")
SCHEMES = OBJECT_STORES + ("file",)

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._\-]{0,254}$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://(.*)$", re.S)
_FILESYSTEMS: dict[tuple, pafs.FileSystem] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Location:
    """A parsed URI: ``scheme`` (s3, gs, az, file), ``bucket`` (None for files) and ``key``."""

    scheme: str
    bucket: str | None
    key: str

    @property
    def path(self) -> str:
        """The path pyarrow's filesystem for the scheme expects."""
        if self.bucket is None:
            return os.path.abspath(self.key)
        return f"{self.bucket}/{self.key}" if self.key else self.bucket


def _malformed(uri: Any, why: str) -> ValidationError:
    return ValidationError(
        f"malformed blob URI {uri!r}: {why}; expected s3://bucket/key, gs://bucket/key, "
        "az://container/key, file:///path or a path", code=MALFORMED_URI, name=str(uri),
    )


def parse_uri(uri: str) -> Location:
    """Parse the URI of one blob (it must name an object, not a bucket)."""
    location = parse_prefix(uri)
    if not location.key or location.key.endswith("/"):
        raise _malformed(uri, "it names no object")
    return location


def parse_prefix(uri: str) -> Location:
    """Parse a URI that may stop at a bucket or a folder (``s3://products/images/``)."""
    if not isinstance(uri, str) or not uri:
        raise _malformed(uri, "a URI is a non-empty string")
    if uri != uri.strip() or any(ord(c) < 32 for c in uri):
        raise _malformed(uri, "it has surrounding blanks or control characters")
    match = _SCHEME.match(uri)
    if match is None:
        return Location("file", None, uri)
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme not in SCHEMES:
        raise _malformed(uri, f"unsupported scheme {scheme!r} (supported: {', '.join(SCHEMES)})")
    if scheme == "file":
        if not rest.startswith("/"):
            raise _malformed(uri, "file URIs need an absolute path (file:///data/x.png)")
        return Location("file", None, rest)
    bucket, _, key = rest.partition("/")
    if not _BUCKET.match(bucket):
        raise _malformed(uri, f"{bucket!r} is not a bucket name")
    return Location(scheme, bucket, key)


def join(prefix: str, relative: str) -> str:
    """``prefix`` + ``relative`` with exactly one ``/`` between them."""
    return prefix.rstrip("/") + "/" + relative.lstrip("/") if relative else prefix


def filesystem(location: Location, options: Mapping[str, Any] | None = None) -> pafs.FileSystem:
    """The (cached) pyarrow filesystem serving ``location``; ``options`` are passed to it."""
    options = dict(options or {})
    cache_key = (location.scheme, tuple(sorted((k, repr(v)) for k, v in options.items())))
    with _LOCK:
        found = _FILESYSTEMS.get(cache_key)
        if found is None:
            found = _FILESYSTEMS[cache_key] = _make(location.scheme, options)
        return found


def _make(scheme: str, options: dict[str, Any]) -> pafs.FileSystem:
    if scheme == "file":
        return pafs.LocalFileSystem()
    if scheme == "s3":
        # one attempt with short timeouts: an unreachable store is reported, not waited on
        options.setdefault("connect_timeout", 5)
        options.setdefault("request_timeout", 30)
        options.setdefault("retry_strategy", pafs.AwsStandardS3RetryStrategy(max_attempts=2))
        return pafs.S3FileSystem(**options)
    if scheme == "gs":
        options.setdefault("retry_time_limit", timedelta(seconds=10))
        return pafs.GcsFileSystem(**options)
    if "account_name" not in options:
        raise ValidationError("az:// blobs need storage option account_name (the Azure storage account)",
                              code=MALFORMED_URI, name="account_name")
    return pafs.AzureFileSystem(**options)
