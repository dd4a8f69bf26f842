"""Text to model inputs with Hugging Face ``tokenizers``.

A model folder's ``tokenizer.json`` is loaded with truncation at the model's maximum sequence
length (``sentence_bert_config.json``'s ``max_seq_length``, else ``tokenizer_config.json``'s
``model_max_length``, capped at 512) and without the file's own fixed padding: each batch is
padded to its longest row, as sentence-transformers does. All texts of a call are tokenized
at once (the Rust tokenizer runs in parallel); batches then take rows by index.
"""
from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from udfs.infer.errors import UnsupportedModel

TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_MAX_LENGTH = 512


@dataclass(frozen=True, slots=True)
class Encoded:
    """Token ids of many texts, concatenated: row ``i`` is ``ids[starts[i]:starts[i] + lengths[i]]``."""

    ids: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray

    def padded(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """``input_ids``, ``attention_mask`` and ``token_type_ids`` of ``rows``, padded with 0."""
        lengths = self.lengths[rows]
        width = int(lengths.max()) if len(rows) else 0
        positions = np.arange(width, dtype=np.int64)
        mask = positions[None, :] < lengths[:, None]
        index = np.where(mask, self.starts[rows][:, None] + positions[None, :], 0)
        ids = np.where(mask, self.ids[index] if len(self.ids) else 0, 0).astype(np.int64)
        return {"input_ids": ids, "attention_mask": mask.astype(np.int64),
                "token_type_ids": np.zeros_like(ids)}


class TextTokenizer:
    """A model's tokenizer, truncating to ``max_length`` tokens."""

    def __init__(self, path: Path, max_length: int) -> None:
        from tokenizers import Tokenizer

        self.path = path
        self.max_length = max_length
        self._tokenizer = Tokenizer.from_file(str(path))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length)

    def __repr__(self) -> str:
        return f"TextTokenizer({str(self.path)!r}, max_length={self.max_length})"

    @classmethod
    def for_model(cls, folder: Path) -> "TextTokenizer | None":
        """The tokenizer next to a model (``tokenizer.json`` in ``folder``), or None."""
        path = folder / "tokenizer.json"
        if not path.is_file():
            return None
        if importlib.util.find_spec("tokenizers") is None:
            raise UnsupportedModel(f"the model at {folder} takes text: install the 'tokenizers' "
                                   "package to run it", name=str(folder))
        return cls(path, max_sequence_length(folder))

    def encode(self, texts: list[str]) -> Encoded:
        encodings = self._tokenizer.encode_batch(texts)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        starts = np.zeros(len(encodings), dtype=np.int64)
        if len(lengths):
            np.cumsum(lengths[:-1], out=starts[1:])
        ids = np.fromiter((t for e in encodings for t in e.ids), dtype=np.int64,
                          count=int(lengths.sum()))
        return Encoded(ids=ids, starts=starts, lengths=lengths)


def max_sequence_length(folder: Path) -> int:
    """The longest input a model takes, from its configuration files."""
    for name, key in (("sentence_bert_config.json", "max_seq_length"),
                      ("tokenizer_config.json", "model_max_length")):
        path = folder / name
        if path.is_file():
            value = json.loads(path.read_text()).get(key)
            if isinstance(value, int) and value > 0:
                return min(value, _MAX_LENGTH)
    return _MAX_LENGTH
