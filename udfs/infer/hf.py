"""Hugging Face model folders: reading their layout, the embedding module, ONNX export.

A sentence-transformers folder (``modules.json``, ``1_Pooling/config.json``) says how token
states become one vector: mean, CLS or max pooling, then optionally L2 normalisation. A plain
transformers folder (``config.json`` + weights) is pooled by the mean. :func:`embedding_module`
builds that as one torch module over ``transformers.AutoModel``; :func:`export_onnx` exports
it (pooling and normalisation inside the graph) once per model content into the model cache.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

from udfs.infer.errors import UnsupportedModel
from udfs.infer.resolve import cache_dir, fingerprint

_POOLING_MODES = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls",
                  "pooling_mode_max_tokens": "max"}


@dataclass(frozen=True, slots=True)
class Pooling:
    """How an embedding model turns token states into one vector."""

    mode: str = "mean"
    normalize: bool = False


def is_model_folder(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def hidden_size(folder: Path) -> int:
    config = json.loads((folder / "config.json").read_text())
    size = config.get("hidden_size") or config.get("d_model") or config.get("dim")
    if not isinstance(size, int):
        raise UnsupportedModel(f"cannot tell the embedding size of the model at {folder}: "
                               "declare OUTPUT (embedding float32[N])", name=str(folder))
    return size


def pooling(folder: Path) -> Pooling:
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return Pooling()
    modules = json.loads(modules_file.read_text())
    normalize = any(m.get("type", "").endswith("Normalize") for m in modules)
    mode = "mean"
    for module in modules:
        if module.get("type", "").endswith("Pooling"):
            config = json.loads((folder / module.get("path", "") / "config.json").read_text())
            mode = next((m for key, m in _POOLING_MODES.items() if config.get(key)), "mean")
    return Pooling(mode, normalize)


def _torch():
    try:
        import torch
        import transformers
    except ImportError:
        raise UnsupportedModel("Hugging Face models need torch and transformers: pip install "
                               "torch transformers") from None
    return torch, transformers


def embedding_module(folder: Path):
    """A torch module ``(input_ids, attention_mask, token_type_ids) -> (batch, hidden)``."""
    torch, transformers = _torch()
    encoder = transformers.AutoModel.from_pretrained(str(folder), attn_implementation="eager")
    how = pooling(folder)

    class Embedder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask, token_type_ids):
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            if how.mode == "cls":
                pooled = states[:, 0]
            elif how.mode == "max":
                pooled = states.masked_fill(mask == 0, torch.finfo(states.dtype).min).amax(dim=1)
            else:
                pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            if how.normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            return pooled

    return Embedder().eval()


def export_onnx(folder: Path) -> Path:
    """The embedding model of ``folder`` as ONNX (cached by the folder's content)."""
    target = cache_dir() / "onnx" / f"{folder.name}-{fingerprint(folder)}-embedding.onnx"
    if target.exists():
        return target
    torch, _ = _torch()
    module = embedding_module(folder)
    sample = torch.ones(2, 8, dtype=torch.int64)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    axes = {"batch": 0, "sequence": 1}
    dynamic = {name: {i: n for n, i in axes.items()} for name in
               ("input_ids", "attention_mask", "token_type_ids")}
    # The tracer warns about shape-dependent Python branches in transformers' attention masks;
    # the exported graph is checked against sentence-transformers in the tests.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (sample, sample, torch.zeros_like(sample)), str(partial),
                          dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["embedding"], dynamic_axes={**dynamic, "embedding": {0: "batch"}})
    partial.replace(target)
    return target
