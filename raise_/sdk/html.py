"""Small HTML renderings for notebooks (``_repr_html_``): every value is escaped."""
from __future__ import annotations

from html import escape
from typing import Any, Iterable, Sequence

__all__ = ["card", "grid", "block"]

_STYLE = "border-collapse:collapse;font-family:monospace;font-size:12px"
_CELL = "border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top"


def _text(value: Any) -> str:
    return "" if value is None else escape(str(value))


def card(title: str, rows: Iterable[tuple[str, Any]]) -> str:
    """A titled two-column table of label and value; rows whose value is None are left out."""
    body = "".join(
        f'<tr><th style="{_CELL}">{_text(label)}</th><td style="{_CELL}">{_text(value)}</td></tr>'
        for label, value in rows if value not in (None, "")
    )
    return f'<table style="{_STYLE}"><caption><b>{_text(title)}</b></caption>{body}</table>'


def grid(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A titled table with a header row."""
    head = "".join(f'<th style="{_CELL}">{_text(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f'<td style="{_CELL}">{_text(v)}</td>' for v in row) + "</tr>"
                   for row in rows)
    return f'<table style="{_STYLE}"><caption><b>{_text(title)}</b></caption><tr>{head}</tr>{body}</table>'


def block(text: str) -> str:
    """Preformatted text (an ASCII drawing)."""
    return f'<pre style="font-size:12px">{_text(text)}</pre>'
