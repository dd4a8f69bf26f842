"""Statement families that live in their own grammar module (models, security, ...).

Each family registers a parser that returns a statement for text it recognises and ``None``
otherwise, plus a renderer per statement class. ``grammar.parse`` asks every family before
the core grammar; ``grammar.render`` dispatches on the class as for core statements.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

StatementParser = Callable[[str], Any]

PARSERS: list[StatementParser] = []
RENDERERS: dict[type, Callable[[Any], str]] = {}

#: Modules that hold statement families; each exposes ``EXTENSION = (parser, {cls: renderer})``.
FAMILIES = ("grammar.models", "grammar.security", "grammar.serving", "grammar.analytics", "grammar.blobs",
            "grammar.jobs")


def load() -> None:
    """Register every family that is installed (a missing module is simply not offered)."""
    for module_name in FAMILIES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        parser, renderers = module.EXTENSION
        if parser not in PARSERS:
            PARSERS.append(parser)
        RENDERERS.update(renderers)


def parse_extension(text: str) -> Any:
    for parser in PARSERS:
        statement = parser(text)
        if statement is not None:
            return statement
    return None
