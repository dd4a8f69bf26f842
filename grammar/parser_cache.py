"""Where the LALR tables of Raise's grammars are kept between processes.

Building the parsers of every ``.lark`` file takes ~90 ms, paid again by every process (each
``raise sql`` a CI script runs). Lark can save a built parser and load it back (``cache=``):
the file is named after a hash of the grammar files and the start rules, under the user's
cache directory (``$RAISE_CACHE_DIR``, else ``$XDG_CACHE_HOME/raise``, else
``~/.cache/raise``), so a changed grammar never loads an old table (and Lark checks the hash
it stored as well). Where no such directory can be written, parsers are built as before.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import lark

_HERE = Path(__file__).parent


def cache_file(filename: str, start: tuple[str, ...]) -> str | bool:
    """The cache file for the parser of ``filename`` with ``start`` rules (False: no cache)."""
    folder = _folder()
    if folder is None:
        return False
    digest = hashlib.sha256(f"{lark.__version__}\0{','.join(start)}".encode())
    for path in sorted(_HERE.glob("*.lark")):  # any grammar may %import another
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return str(folder / f"{Path(filename).stem}-{digest.hexdigest()[:24]}.lark-cache")


def _folder() -> Path | None:
    root = os.environ.get("RAISE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "raise")
    folder = Path(root) / "grammar"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None
