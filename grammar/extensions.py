"""Statement families that live in their own grammar module (models, security, ...).

Each family registers a parser that returns a statement for text it recognises and ``None``
otherwise, plus a renderer per statement class. ``grammar.parse`` asks the families before
the core grammar; ``grammar.render`` dispatches on the class as for core statements.

A family's module (and Lark with it) is imported when a statement first begins with one of the
words its statements begin with (``FAMILIES``; a test derives them from each family's grammar),
so a script of plain SQL imports none of them. ``load()`` imports them all.
"""
from __future__ import annotations

import importlib
import re
from typing import Any, Callable

StatementParser = Callable[[str], Any]

#: The parser of each family imported so far, by module.
PARSERS: dict[str, StatementParser] = {}
RENDERERS: dict[type, Callable[[Any], str]] = {}

#: Modules that hold statement families, in the order ``parse`` asks them, with the first words
#: of their statements; each exposes ``EXTENSION = (parser, {cls: renderer})``.
FAMILIES: dict[str, frozenset[str]] = {
    "grammar.models": frozenset({"CREATE", "DESCRIBE", "DROP", "SHOW"}),
    "grammar.security": frozenset({"ALTER", "CREATE", "DROP", "EXPORT", "GRANT", "REVOKE", "SET", "SHOW",
                                   "VERIFY"}),
    "grammar.serving": frozenset({"LOOKUP", "MATERIALIZE", "SHOW"}),
    "grammar.analytics": frozenset({"CHECK", "CREATE", "DESCRIBE", "DROP", "REFRESH", "SHOW"}),
    "grammar.blobs": frozenset({"CREATE", "DESCRIBE", "DROP", "REGISTER", "SHOW", "VALIDATE"}),
    "grammar.jobs": frozenset({"ALTER", "CREATE", "DESCRIBE", "DROP", "RUN", "SHOW"}),
    "grammar.vectors": frozenset({"CREATE", "DROP", "SHOW"}),
    "grammar.dashboards": frozenset({"ALTER", "CREATE", "DESCRIBE", "DROP", "PUBLISH", "RENDER", "SHOW"}),
}
_FIRST_WORD = re.compile(r"(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*(\w+)", re.DOTALL)
_MISSING: set[str] = set()


def load() -> None:
    """Register every family that is installed (a missing module is simply not offered)."""
    for module_name in FAMILIES:
        _load(module_name)


def _load(module_name: str) -> StatementParser | None:
    parser = PARSERS.get(module_name)
    if parser is not None or module_name in _MISSING:
        return parser
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        _MISSING.add(module_name)
        return None
    parser, renderers = module.EXTENSION
    RENDERERS.update(renderers)
    PARSERS[module_name] = parser
    return parser


def parse_extension(text: str) -> Any:
    match = _FIRST_WORD.match(text)
    word = match.group(1).upper() if match else None
    for module_name, words in FAMILIES.items():
        if word in words and (parser := _load(module_name)) is not None:
            statement = parser(text)
            if statement is not None:
                return statement
    return None


def renderer(cls: type) -> Callable[[Any], str] | None:
    """The renderer of a family's statement class (None: no family declares ``cls``)."""
    if cls not in RENDERERS:
        load()
    return RENDERERS.get(cls)
