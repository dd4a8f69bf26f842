"""Progress bars (``tqdm``) for long training-set builds and materializations.

Shown only where someone watches: a terminal (stderr is a TTY) or a notebook kernel, never in
CI (``$CI`` set) or when ``RAISE_PROGRESS=0``; and only once a run has taken a second, so
quick calls print nothing. Over Flight SQL the work runs in the server, whose stderr is its
log, so the bars stay quiet there.
"""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tqdm import tqdm

_DELAY_S = 1.0


def watched() -> bool:
    """Whether a bar would be seen (see the module docstring)."""
    if os.environ.get("RAISE_PROGRESS", "1") == "0" or os.environ.get("CI"):
        return False
    return "ipykernel" in sys.modules or bool(getattr(sys.stderr, "isatty", lambda: False)())


def bar(total: int, desc: str) -> "tqdm":
    """A bar of ``total`` steps (a disabled one, which costs nothing, where no one watches)."""
    from tqdm.auto import tqdm  # loaded here: ``tqdm.auto`` loads asyncio, ~0.1 s of every start

    return tqdm(total=total, desc=desc, unit="step", delay=_DELAY_S, leave=False, disable=not watched())
