"""Raise dtypes: the spec's string shortcuts parsed into one value type.

``parse_dtype("FLOAT32[512]")`` gives ``DType(kind="embedding", element="float32", size=512)``
whose ``str()`` is the canonical shortcut ``float32[512]``. Shortcuts are case-insensitive.

Forms (``P`` a primitive):
- ``P``                  primitive: int8 int16 int32 int64 float16 float32 float64 bool string bytes
                         timestamp date
- ``P[N]``               fixed-size embedding, N >= 1 (numeric P only)
- ``P[]`` / ``P[:N]``    variable-length array, optionally capped at N elements (numeric P, or
                         ``string``: ``string[]`` is a list of strings such as tags or tokens)
- ``string[N]``          string of at most N characters (not an array)
- ``struct<a: T, ...>``  nested structure of named fields
- ``blob_ref`` / ``blob_ref<image/png|image/jpeg>``  reference to a blob, optionally
                         constrained to content types; options after a comma name the blob
                         registry its values are validated against and whether every write is:
                         ``blob_ref<video/mp4|video/webm, registry=video-store, validate_on_write>``
                         (the registry name keeps its case)

Limits (checked when a dtype is parsed, so at CREATE): embeddings have at most
``MAX_EMBEDDING_DIM`` (65,536) dimensions, array caps ``[:N]`` are at most ``MAX_ARRAY_LENGTH``
(1,048,576), string bounds at most ``MAX_STRING_LENGTH`` (16,777,216 characters, the 16 MiB a
Flight message carries), structs nest at most ``MAX_STRUCT_DEPTH`` (3, as deep as SQL spells dtypes) deep with at most
``MAX_STRUCT_FIELDS`` (256) fields each, and a dtype's text is at most ``MAX_DTYPE_CHARS`` (4,096).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from grammar.errors import InvalidDType

INTEGERS = ("int8", "int16", "int32", "int64")
FLOATS = ("float16", "float32", "float64")
NUMERIC = INTEGERS + FLOATS
ARRAY_ELEMENTS = NUMERIC + ("string",)
PRIMITIVES = NUMERIC + ("bool", "string", "bytes", "timestamp", "date")

MAX_EMBEDDING_DIM = 65_536
MAX_ARRAY_LENGTH = 1 << 20
MAX_STRING_LENGTH = 1 << 24
MAX_STRUCT_DEPTH = 3
MAX_STRUCT_FIELDS = 256
MAX_DTYPE_CHARS = 4096

_ARRAY = re.compile(r"^([a-z0-9]+)\[(\d*|:\d+)\]$")
_BLOB = re.compile(r"^blob_ref(?:\s*<([^<>]*)>)?$", re.I)
# a registry name, or a path to one in another project (`archive/archived`, `org/domain/project/name`)
_REGISTRY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(?:/[A-Za-z0-9][A-Za-z0-9_.\-]*){0,3}$")
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9.+\-]*/[a-z0-9*][a-z0-9.+\-*]*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class DType:
    """A parsed Raise dtype. ``str(d)`` is its canonical shortcut."""

    kind: str  # primitive | embedding | array | string | struct | blob_ref
    element: str | None = None
    size: int | None = None
    max_length: int | None = None
    fields: tuple[tuple[str, "DType"], ...] = ()
    content_types: tuple[str, ...] = ()
    blob_registry: str | None = None
    validate_on_write: bool = False

    def __str__(self) -> str:
        if self.kind == "primitive":
            return self.element
        if self.kind == "embedding":
            return f"{self.element}[{self.size}]"
        if self.kind == "array":
            return f"{self.element}[:{self.max_length}]" if self.max_length else f"{self.element}[]"
        if self.kind == "string":
            return f"string[{self.max_length}]"
        if self.kind == "struct":
            return "struct<" + ", ".join(f"{n}: {t}" for n, t in self.fields) + ">"
        parts = ["|".join(self.content_types)] if self.content_types else []
        if self.blob_registry is not None:
            parts.append(f"registry={self.blob_registry}")
        if self.validate_on_write:
            parts.append("validate_on_write")
        return "blob_ref<" + ", ".join(parts) + ">" if parts else "blob_ref"

    @property
    def is_numeric(self) -> bool:
        return self.kind == "primitive" and self.element in NUMERIC

    @property
    def is_vector(self) -> bool:
        return self.kind in ("embedding", "array") and self.element in NUMERIC

    def accepts(self, content_type: str) -> bool:
        """For ``blob_ref`` types: whether a blob of ``content_type`` may be stored."""
        if self.kind != "blob_ref":
            return False
        if not self.content_types:
            return True
        wanted = content_type.lower()
        return any(
            wanted == ct or (ct.endswith("/*") and wanted.startswith(ct[:-1]))
            for ct in self.content_types
        )


def parse_dtype(text: str) -> DType:
    """Parse a dtype shortcut; raise ``InvalidDType`` naming the text and the valid forms."""
    if not isinstance(text, str):
        raise InvalidDType(f"dtype must be a string, got {type(text).__name__}", name=repr(text))
    source = text
    text = text.strip()
    try:
        if len(text) > MAX_DTYPE_CHARS:
            raise InvalidDType(f"a dtype is at most {MAX_DTYPE_CHARS} characters")
        blob = _BLOB.match(text)
        return _blob(blob.group(1)) if blob else _parse(text.lower())
    except InvalidDType as error:
        raise InvalidDType(
            f"invalid dtype {source!r}: {error.message}; valid forms: "
            f"{', '.join(PRIMITIVES)}, float32[512], int64[], float64[:100], string[], string[128], "
            "struct<a: int64>, blob_ref, blob_ref<image/png|image/jpeg>",
            name=source,
        ) from None


def stored_dtype(text: str) -> DType | None:
    """A dtype read back from a catalog, or None if it no longer parses (written before a limit
    existed): readers skip such a feature instead of failing its whole group."""
    try:
        return parse_dtype(text)
    except InvalidDType:
        return None


def _parse(text: str, depth: int = 0) -> DType:
    if text in PRIMITIVES:
        return DType(kind="primitive", element=text)
    blob = _BLOB.match(text)
    if blob:
        return _blob(blob.group(1))
    if text.startswith("struct<") and text.endswith(">"):
        if depth >= MAX_STRUCT_DEPTH:
            raise InvalidDType(f"structs nest at most {MAX_STRUCT_DEPTH} deep")
        return DType(kind="struct", fields=_struct_fields(text[len("struct<"):-1], depth + 1))
    array = _ARRAY.match(text.replace(" ", ""))
    if array:
        return _array(array.group(1), array.group(2))
    raise InvalidDType("unknown type")


def _array(element: str, bound: str) -> DType:
    if element == "string" and bound.isdigit():
        return DType(kind="string", max_length=_positive(bound, MAX_STRING_LENGTH, "string bounds"))
    if element not in ARRAY_ELEMENTS:
        raise InvalidDType(f"arrays need a numeric or string element type and embeddings a numeric "
                           f"one, not {element!r}")
    if bound == "":
        return DType(kind="array", element=element)
    if bound.startswith(":"):
        return DType(kind="array", element=element,
                     max_length=_positive(bound[1:], MAX_ARRAY_LENGTH, "array length caps"))
    return DType(kind="embedding", element=element, size=_positive(bound, MAX_EMBEDDING_DIM, "embedding dimensions"))


def _positive(digits: str, most: int, what: str) -> int:
    if len(digits) > len(str(most)) or int(digits) > most:
        raise InvalidDType(f"{what} are at most {most:,}, not {digits}")
    value = int(digits)
    if value < 1:
        raise InvalidDType("sizes must be at least 1")
    return value


def _blob(spec: str | None) -> DType:
    if spec is None:
        return DType(kind="blob_ref")
    types: tuple[str, ...] = ()
    registry, validate = None, False
    for i, part in enumerate(p.strip() for p in spec.split(",")):
        key, eq, value = part.partition("=")
        if eq and key.strip().lower() == "registry" and _REGISTRY.match(value.strip()) and registry is None:
            registry = value.strip()
        elif part.lower() == "validate_on_write" and not validate:
            validate = True
        elif i == 0 and not eq:
            types = tuple(t.strip().lower() for t in part.split("|"))
            bad = [t for t in types if not _CONTENT_TYPE.match(t)]
            if bad:
                raise InvalidDType(f"bad content type {bad[0]!r}")
        else:
            raise InvalidDType(f"bad blob_ref option {part!r} (options: registry=NAME or registry=PATH/NAME, validate_on_write)")
    if not types and registry is None and not validate:
        raise InvalidDType(f"bad content type {spec!r}")
    return DType(kind="blob_ref", content_types=types, blob_registry=registry, validate_on_write=validate)


def _struct_fields(body: str, depth: int) -> tuple[tuple[str, DType], ...]:
    fields, open_brackets, start = [], 0, 0
    for i, char in enumerate(body + ","):
        open_brackets += char == "<"
        open_brackets -= char == ">"
        if char == "," and open_brackets == 0:
            fields.append(body[start:i])
            start = i + 1
    result, seen = [], set()
    for field in fields:
        name, sep, type_text = field.partition(":")
        name = name.strip()
        if not sep or not re.match(r"^[a-z_][a-z0-9_]*$", name) or name in seen:
            raise InvalidDType(f"bad struct field {field.strip()!r}")
        seen.add(name)
        result.append((name, _parse(type_text.strip(), depth)))
    if not result:
        raise InvalidDType("a struct needs at least one field")
    if len(result) > MAX_STRUCT_FIELDS:
        raise InvalidDType(f"a struct has at most {MAX_STRUCT_FIELDS} fields")
    return tuple(result)
