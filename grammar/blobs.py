"""The blob registry statements: CREATE/DROP/DESCRIBE BLOB REGISTRY, SHOW BLOB REGISTRIES,
REGISTER BLOBS, SHOW BLOBS, VALIDATE BLOBS.

A statement family of its own (grammar in ``blobs.lark``), registered with
:mod:`grammar.extensions` through :data:`EXTENSION`. ``parse_blob_statement(render_blob_statement(s))
== s`` holds for every statement.

>>> s = parse_blob_statement("register blob in images 's3://b/a.png' content type 'image/png' size 10")
>>> render_blob_statement(s)
'REGISTER BLOB IN "images" \\'s3://b/a.png\\' CONTENT TYPE \\'image/png\\' SIZE 10'
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Union

from lark import Lark, Token, v_args

from grammar import clauses
from grammar.errors import RaiseSyntaxError, ValidationError
from grammar.render import quote_ident, quote_literal

__all__ = [
    "POLICY_OPTIONS", "MODES", "ALGORITHMS", "STATUSES", "RegistryRef", "BlobEntry", "CreateBlobRegistry",
    "DropBlobRegistry", "DescribeBlobRegistry", "ShowBlobRegistries", "RegisterBlobs", "ShowBlobs",
    "ValidateBlobs", "BLOB_STATEMENTS", "parse_blob_statement", "render_blob_statement", "EXTENSION",
]

#: POLICY (...) options and the Python type of each value (``mode`` is a bare word of MODES).
POLICY_OPTIONS: dict[str, type] = {"mode": str, "fail_on_missing": bool, "fail_on_mismatch": bool,
                                   "cache_validation_seconds": float}
MODES = ("strict", "on_write", "on_read", "lazy", "periodic")
ALGORITHMS = ("sha256", "sha512", "md5", "blake3", "xxh3")
STATUSES = ("valid", "missing", "size_mismatch", "checksum_mismatch", "unreachable")
_KINDS = {str: "a mode (" + ", ".join(MODES) + ")", float: "a number", bool: "TRUE or FALSE"}

Conflict = Literal["error", "skip", "update"]
PolicyValue = Union[str, bool, int, float]
_frozen = dict(frozen=True, slots=True, kw_only=True)


@dataclass(**_frozen)
class RegistryRef:
    """A blob registry, optionally qualified by its project path (1 to 3 names)."""

    name: str
    project: tuple[str, ...] | None = None


@dataclass(**_frozen)
class BlobEntry:
    """One reference to register: its URI and stored fields; ``metadata`` is a JSON object's
    text; ``status``/``validated_at`` record a validation already made (a scan that hashed it)."""

    uri: str
    content_type: str | None = None
    checksum: str | None = None
    algorithm: str | None = None
    size_bytes: int | None = None
    etag: str | None = None
    version_id: str | None = None
    metadata: str | None = None
    status: str | None = None
    validated_at: str | None = None


@dataclass(**_frozen)
class CreateBlobRegistry:
    """``CREATE [OR REPLACE] BLOB REGISTRY [IF NOT EXISTS] r [POLICY (...)] [DESCRIPTION '...']``.

    ``conflict``: ``error`` (plain), ``skip`` (IF NOT EXISTS), ``update`` (OR REPLACE: the
    policy and description change, the references stay). ``policy``: ``(option, value)`` pairs
    in the order written; see :data:`POLICY_OPTIONS`.
    """

    registry: RegistryRef
    policy: tuple[tuple[str, PolicyValue], ...] | None = None
    description: str | None = None
    conflict: Conflict = "error"


@dataclass(**_frozen)
class DropBlobRegistry:
    """``DROP BLOB REGISTRY [IF EXISTS] r``: the registry and its references."""

    registry: RegistryRef
    if_exists: bool = False


@dataclass(**_frozen)
class DescribeBlobRegistry:
    """``DESCRIBE BLOB REGISTRY r``."""

    registry: RegistryRef


@dataclass(**_frozen)
class ShowBlobRegistries:
    """``SHOW BLOB REGISTRIES [IN path]``: the registries of a project (the current one by default)."""

    within: tuple[str, ...] | None = None


@dataclass(**_frozen)
class RegisterBlobs:
    """``REGISTER BLOB[S] IN r 'uri' [options] [, 'uri' [options]]*``: all stored or none."""

    registry: RegistryRef
    entries: tuple[BlobEntry, ...]


@dataclass(**_frozen)
class ShowBlobs:
    """``SHOW BLOBS IN r [ID '...'] [URI '...'] [CONTENT TYPE '...'] [PREFIX '...']``."""

    registry: RegistryRef
    registry_id: str | None = None
    uri: str | None = None
    content_type: str | None = None
    prefix: str | None = None


@dataclass(**_frozen)
class ValidateBlobs:
    """``VALIDATE BLOBS IN r [filters] [NO CHECKSUM]``: validate the selected references against
    their blobs and record the outcome."""

    registry: RegistryRef
    registry_id: str | None = None
    uri: str | None = None
    content_type: str | None = None
    prefix: str | None = None
    verify_checksum: bool = True


BLOB_STATEMENTS: tuple[type, ...] = (CreateBlobRegistry, DropBlobRegistry, DescribeBlobRegistry,
                                     ShowBlobRegistries, RegisterBlobs, ShowBlobs, ValidateBlobs)

_LEADING = re.compile(
    r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*"
    r"(?:CREATE\s+(?:OR\s+REPLACE\s+)?BLOB\s+REGISTRY|(?:DROP|DESCRIBE)\s+BLOB\s+REGISTRY"
    r"|SHOW\s+BLOB\s+REGISTRIES|REGISTER\s+BLOBS?|(?:SHOW|VALIDATE)\s+BLOBS)\b",
    re.IGNORECASE | re.DOTALL,
)
_FRIENDLY = {
    "NAME": "a name", "QUOTED": "a quoted name", "STRING": "a string literal", "INT": "an integer",
    "SIGNED_NUMBER": "a number", "LPAR": "'('", "RPAR": "')'", "COMMA": "','", "SLASH": "'/'",
    "EQUAL": "'='", "$END": "end of statement",
}


# ------------------------------------------------------------------ parsing


def parse_blob_statement(text: str) -> object | None:
    """Parse one statement (no ``;``) if it is a blob statement, else return None; errors are
    ``RaiseSyntaxError``/``ValidationError`` with a 1-based line and column relative to ``text``."""
    if not _LEADING.match(text):
        return None
    return clauses.transform(_lark(), _ToBlob(), text, _friendly, "blob statement")


def _lark() -> Lark:
    return clauses.grammar("blobs.lark")


def _friendly(terminal: str) -> str:
    return _FRIENDLY.get(terminal, terminal.strip('"').upper())


def _policy_value(key: Token, value: PolicyValue) -> PolicyValue:
    name = str(key).lower()
    if name not in POLICY_OPTIONS:
        raise ValidationError(f"unknown POLICY option {str(key)!r}; expected one of {', '.join(POLICY_OPTIONS)}",
                              name=str(key), line=key.line, column=key.column)
    wanted = POLICY_OPTIONS[name]
    if wanted is str and isinstance(value, Token):
        return clauses.word(value, MODES, "integrity mode")
    if wanted is float and isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return value
    if wanted is bool and isinstance(value, bool):
        return value
    what = "a non-negative number" if wanted is float else _KINDS[wanted]
    raise ValidationError(f"POLICY option {name} takes {what}, got {str(value)!r}", name=name,
                          line=key.line, column=key.column)


@v_args(meta=True)
class _ToBlob(clauses.CommonTransformer):
    """Map each rule of ``blobs.lark`` to a statement dataclass (stateless)."""

    def registry_ref(self, meta, names) -> RegistryRef:
        clauses.check_path(tuple(names), 4, "a blob registry reference", meta)
        return RegistryRef(name=names[-1], project=tuple(names[:-1]) or None)

    def number(self, meta, children):
        text = re.sub(r"\s+", "", str(children[0]))
        return float(text) if re.search(r"[.eE]", text) else int(text)

    def true(self, meta, _):
        return True

    def false(self, meta, _):
        return False

    def word(self, meta, children):
        return children[0]

    def policy_item(self, meta, children):
        key, value = children
        return str(key).lower(), _policy_value(key, value)

    def policy(self, meta, children):
        keys = [k for k, _ in children]
        twice = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
        if twice:
            raise RaiseSyntaxError(f"POLICY option {twice} given twice", name=twice, line=meta.line,
                                   column=meta.column)
        return clauses.option("policy", tuple(children), meta)

    def description(self, meta, children):
        return clauses.option("description", children[0], meta)

    def content_type(self, meta, children):
        return clauses.option("content_type", children[0], meta)

    def checksum(self, meta, children):
        return clauses.option("checksum", children[0], meta)

    def algorithm(self, meta, children):
        return clauses.option("algorithm", clauses.word(children[0], ALGORITHMS, "hash algorithm"), meta)

    def size(self, meta, children):
        return clauses.option("size_bytes", int(children[0]), meta)

    def etag(self, meta, children):
        return clauses.option("etag", children[0], meta)

    def version_id(self, meta, children):
        return clauses.option("version_id", children[0], meta)

    def metadata(self, meta, children):
        return clauses.option("metadata", children[0], meta)

    def validated(self, meta, children):
        return clauses.option("validated", (clauses.word(children[0], STATUSES, "blob status"), children[1]), meta)

    def blob_id(self, meta, children):
        return clauses.option("registry_id", children[0], meta)

    def blob_uri(self, meta, children):
        return clauses.option("uri", children[0], meta)

    def prefix(self, meta, children):
        return clauses.option("prefix", children[0], meta)

    def no_checksum(self, meta, _):
        return clauses.option("verify_checksum", False, meta)

    def blob_entry(self, meta, children) -> BlobEntry:
        (uri,) = clauses.positional(children)
        options = clauses.options(children)
        status, at = options.pop("validated", (None, None))
        return BlobEntry(uri=uri, status=status, validated_at=at, **options)

    def create_registry(self, meta, children) -> CreateBlobRegistry:
        (registry,) = clauses.positional(children)
        options = clauses.options(children)
        if options.pop("if_not_exists", False):
            if options.get("conflict") == "update":
                raise RaiseSyntaxError("OR REPLACE and IF NOT EXISTS exclude each other",
                                       line=meta.line, column=meta.column)
            options["conflict"] = "skip"
        return CreateBlobRegistry(registry=registry, **options)

    def drop_registry(self, meta, children) -> DropBlobRegistry:
        (registry,) = clauses.positional(children)
        return DropBlobRegistry(registry=registry, **clauses.options(children))

    def describe_registry(self, meta, children) -> DescribeBlobRegistry:
        return DescribeBlobRegistry(registry=children[0])

    def show_registries(self, meta, children) -> ShowBlobRegistries:
        return ShowBlobRegistries(within=children[0] if children else None)

    def register_blobs(self, meta, children) -> RegisterBlobs:
        return RegisterBlobs(registry=children[0], entries=tuple(children[1:]))

    def show_blobs(self, meta, children) -> ShowBlobs:
        return ShowBlobs(registry=children[0], **clauses.options(children[1:]))

    def validate_blobs(self, meta, children) -> ValidateBlobs:
        return ValidateBlobs(registry=children[0], **clauses.options(children[1:]))


# ------------------------------------------------------------------ rendering


def _ref(ref: RegistryRef) -> str:
    return "/".join(quote_ident(n) for n in (*(ref.project or ()), ref.name))


def _policy(pairs: tuple[tuple[str, PolicyValue], ...]) -> str:
    return "(" + ", ".join(f"{k} = {v if k == 'mode' else quote_literal(v)}" for k, v in pairs) + ")"


def _create(stmt: CreateBlobRegistry) -> str:
    head = "CREATE OR REPLACE BLOB REGISTRY " if stmt.conflict == "update" else "CREATE BLOB REGISTRY "
    parts = [head + ("IF NOT EXISTS " if stmt.conflict == "skip" else "") + _ref(stmt.registry)]
    if stmt.policy is not None:
        parts += ["POLICY", _policy(stmt.policy)]
    if stmt.description is not None:
        parts += ["DESCRIPTION", quote_literal(stmt.description)]
    return " ".join(parts)


def _drop(stmt: DropBlobRegistry) -> str:
    return "DROP BLOB REGISTRY " + ("IF EXISTS " if stmt.if_exists else "") + _ref(stmt.registry)


def _describe(stmt: DescribeBlobRegistry) -> str:
    return "DESCRIBE BLOB REGISTRY " + _ref(stmt.registry)


def _show_registries(stmt: ShowBlobRegistries) -> str:
    if stmt.within is None:
        return "SHOW BLOB REGISTRIES"
    return "SHOW BLOB REGISTRIES IN " + "/".join(quote_ident(n) for n in stmt.within)


_ENTRY_CLAUSES = (("content_type", "CONTENT TYPE"), ("checksum", "CHECKSUM"), ("algorithm", "ALGORITHM"),
                  ("size_bytes", "SIZE"), ("etag", "ETAG"), ("version_id", "VERSION"), ("metadata", "METADATA"))
_BARE = {"algorithm", "size_bytes"}


def _entry(entry: BlobEntry) -> str:
    parts = [quote_literal(entry.uri)]
    for field, clause in _ENTRY_CLAUSES:
        value = getattr(entry, field)
        if value is not None:
            parts += [clause, str(value) if field in _BARE else quote_literal(value)]
    if entry.status is not None:
        parts += ["VALIDATED", entry.status, "AT", quote_literal(entry.validated_at or "")]
    return " ".join(parts)


def _register(stmt: RegisterBlobs) -> str:
    if not stmt.entries:
        raise ValidationError("REGISTER BLOBS needs at least one reference", code="RAISE-V311",
                              name=stmt.registry.name)
    head = "REGISTER BLOB IN " if len(stmt.entries) == 1 else "REGISTER BLOBS IN "
    return head + _ref(stmt.registry) + " " + ", ".join(_entry(e) for e in stmt.entries)


def _filters(stmt: ShowBlobs | ValidateBlobs) -> str:
    parts = []
    for field, clause in (("registry_id", "ID"), ("uri", "URI"), ("content_type", "CONTENT TYPE"),
                          ("prefix", "PREFIX")):
        value = getattr(stmt, field)
        if value is not None:
            parts.append(f"{clause} {quote_literal(value)}")
    return "".join(" " + p for p in parts)


def _show_blobs(stmt: ShowBlobs) -> str:
    return "SHOW BLOBS IN " + _ref(stmt.registry) + _filters(stmt)


def _validate(stmt: ValidateBlobs) -> str:
    return "VALIDATE BLOBS IN " + _ref(stmt.registry) + _filters(stmt) + \
        ("" if stmt.verify_checksum else " NO CHECKSUM")


_RENDERERS = {CreateBlobRegistry: _create, DropBlobRegistry: _drop, DescribeBlobRegistry: _describe,
              ShowBlobRegistries: _show_registries, RegisterBlobs: _register, ShowBlobs: _show_blobs,
              ValidateBlobs: _validate}


def render_blob_statement(stmt: object) -> str:
    """Canonical Raise SQL for a blob statement (quoted names, escaped literals)."""
    renderer = _RENDERERS.get(type(stmt))
    if renderer is None:
        raise ValidationError(f"not a blob statement: {type(stmt).__name__}")
    return renderer(stmt)


#: ``(parser, {class: renderer})`` for :mod:`grammar.extensions`.
EXTENSION = (parse_blob_statement, dict(_RENDERERS))
