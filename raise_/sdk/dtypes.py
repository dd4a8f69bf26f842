"""Typed constructors for feature dtypes, equivalent to the string shortcuts.

Each constructor is a ``FeatureType`` whose ``str()`` is the canonical dtype string Raise SQL
uses, and which compares equal to any spelling of that string:

>>> Embedding(768, dtype="float16")
Embedding(768, dtype='float16')
>>> str(Array(Int64(), max_length=100))
'int64[:100]'
>>> str(Array(String()))
'string[]'
>>> Struct({"lat": Float64(), "lon": Float64()}) == "struct<lat: float64, lon: float64>"
True
>>> Embedding(512).to_arrow()
FixedSizeListType(fixed_size_list<item: float>[512])

``feature_type("float32[512]")`` goes the other way (``Feature.dtype`` is built with it).
"""
from __future__ import annotations

from typing import Iterable, Mapping, Union

import pyarrow as pa

from grammar.dtypes import NUMERIC, DType, parse_dtype
from grammar.errors import InvalidDType
from raise_.types import from_arrow, to_arrow

__all__ = [
    "FeatureType", "Int8", "Int16", "Int32", "Int64", "Float16", "Float32", "Float64", "Bool",
    "String", "Bytes", "Timestamp", "Date", "Embedding", "Array", "Struct", "BlobRef",
    "DTypeLike", "dtype_text", "feature_type",
]


class FeatureType:
    """A Raise dtype. ``str(t)`` is its canonical shortcut; ``t.to_arrow()`` its Arrow type."""

    __slots__ = ("_spec",)

    def __init__(self, spec: DType | str) -> None:
        object.__setattr__(self, "_spec", parse_dtype(spec) if isinstance(spec, str) else spec)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    @property
    def spec(self) -> DType:
        """The parsed dtype (``grammar.dtypes.DType``)."""
        return self._spec

    def to_arrow(self) -> pa.DataType:
        """The Arrow type values of this dtype have (``float32[512]``: a fixed-size list)."""
        return to_arrow(self._spec)

    def __str__(self) -> str:
        return str(self._spec)

    def __repr__(self) -> str:
        return f"FeatureType({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FeatureType):
            return str(self) == str(other)
        if isinstance(other, str):
            try:
                return str(self) == str(parse_dtype(other))
            except InvalidDType:
                return False
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))


class _Primitive(FeatureType):
    """A scalar dtype: the constructor's name lower-cased is the shortcut."""

    __slots__ = ()
    _name = ""

    def __init__(self) -> None:
        super().__init__(self._name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Int8(_Primitive):
    __slots__ = ()
    _name = "int8"


class Int16(_Primitive):
    __slots__ = ()
    _name = "int16"


class Int32(_Primitive):
    __slots__ = ()
    _name = "int32"


class Int64(_Primitive):
    __slots__ = ()
    _name = "int64"


class Float16(_Primitive):
    __slots__ = ()
    _name = "float16"


class Float32(_Primitive):
    __slots__ = ()
    _name = "float32"


class Float64(_Primitive):
    __slots__ = ()
    _name = "float64"


class Bool(_Primitive):
    __slots__ = ()
    _name = "bool"


class Bytes(_Primitive):
    __slots__ = ()
    _name = "bytes"


class Timestamp(_Primitive):
    __slots__ = ()
    _name = "timestamp"


class Date(_Primitive):
    __slots__ = ()
    _name = "date"


class String(FeatureType):
    """``string``, or ``string[128]`` with ``max_length=128``."""

    __slots__ = ()

    def __init__(self, max_length: int | None = None) -> None:
        super().__init__("string" if max_length is None else f"string[{_size(max_length)}]")

    @property
    def max_length(self) -> int | None:
        return self._spec.max_length

    def __repr__(self) -> str:
        return "String()" if self.max_length is None else f"String(max_length={self.max_length})"


class Embedding(FeatureType):
    """A fixed-size vector: ``Embedding(512)`` is ``float32[512]``."""

    __slots__ = ()

    def __init__(self, dim: int, dtype: "DTypeLike" = "float32") -> None:
        super().__init__(f"{_element(dtype)}[{_size(dim)}]")

    @property
    def dim(self) -> int:
        """Number of values per vector."""
        return self._spec.size

    @property
    def element(self) -> str:
        return self._spec.element

    def __repr__(self) -> str:
        extra = "" if self.element == "float32" else f", dtype={self.element!r}"
        return f"Embedding({self.dim}{extra})"


class Array(FeatureType):
    """A variable-length array of numbers or strings: ``Array(Int64(), max_length=100)`` is
    ``int64[:100]``, ``Array(String())`` is ``string[]`` (tags, categories, tokens)."""

    __slots__ = ()

    def __init__(self, element: "DTypeLike", max_length: int | None = None) -> None:
        bound = "" if max_length is None else f":{_size(max_length)}"
        super().__init__(f"{_element(element, _ARRAY_ELEMENTS)}[{bound}]")

    @property
    def element(self) -> FeatureType:
        return feature_type(self._spec.element)

    @property
    def max_length(self) -> int | None:
        return self._spec.max_length

    def __repr__(self) -> str:
        bound = "" if self.max_length is None else f", max_length={self.max_length}"
        return f"Array({self.element!r}{bound})"


class Struct(FeatureType):
    """Named fields: ``Struct({"lat": Float64(), "lon": Float64()})``."""

    __slots__ = ()

    def __init__(self, fields: Mapping[str, "DTypeLike"]) -> None:
        if not isinstance(fields, Mapping) or not fields:
            raise InvalidDType("Struct needs a non-empty mapping of field name to dtype",
                               name=repr(fields))
        inner = ", ".join(f"{name}: {dtype_text(dtype)}" for name, dtype in fields.items())
        super().__init__(f"struct<{inner}>")

    @property
    def fields(self) -> dict[str, FeatureType]:
        return {name: feature_type(str(spec)) for name, spec in self._spec.fields}

    def __repr__(self) -> str:
        return f"Struct({self.fields!r})"


class BlobRef(FeatureType):
    """A reference to a blob (never its bytes), optionally limited to some content types.

    ``registry`` names the blob registry values are validated against when written: on every
    write with ``validate_on_write=True``, else as the registry's policy says. Both are part of
    the dtype string: ``blob_ref<video/mp4|video/webm, registry=video-store, validate_on_write>``.

    >>> BlobRef(content_types=["image/png", "image/jpeg"]).accepts("video/mp4")
    False
    """

    __slots__ = ()

    def __init__(self, content_types: Iterable[str] | None = None, *, registry: str | None = None,
                 validate_on_write: bool = False) -> None:
        if isinstance(content_types, str):
            raise InvalidDType("content_types is a list of MIME types, e.g. ['image/png']",
                               name=content_types)
        parts = ["|".join(str(t) for t in content_types)] if content_types else []
        if registry is not None:
            parts.append(f"registry={registry}")
        if validate_on_write:
            parts.append("validate_on_write")
        super().__init__("blob_ref" + (f"<{', '.join(parts)}>" if parts else ""))

    @property
    def content_types(self) -> list[str]:
        return list(self._spec.content_types)

    @property
    def registry(self) -> str | None:
        return self._spec.blob_registry

    @property
    def validate_on_write(self) -> bool:
        return self._spec.validate_on_write

    def accepts(self, content_type: str) -> bool:
        """Whether a blob of ``content_type`` may be referenced by a value of this type."""
        return self._spec.accepts(content_type)

    def __repr__(self) -> str:
        parts = [f"content_types={self.content_types!r}"] if self.content_types else []
        if self.registry is not None:
            parts.append(f"registry={self.registry!r}")
        if self.validate_on_write:
            parts.append("validate_on_write=True")
        return f"BlobRef({', '.join(parts)})"


DTypeLike = Union[str, FeatureType]

_PRIMITIVES: dict[str, type[_Primitive]] = {
    cls._name: cls for cls in (Int8, Int16, Int32, Int64, Float16, Float32, Float64, Bool,
                               Bytes, Timestamp, Date)
}


def dtype_text(dtype: DTypeLike | pa.DataType) -> str:
    """The canonical dtype string of a shortcut, a typed constructor or an Arrow type."""
    if isinstance(dtype, FeatureType):
        return str(dtype)
    if isinstance(dtype, pa.DataType):
        return str(parse_dtype(from_arrow(dtype)))
    if isinstance(dtype, str):
        return str(parse_dtype(dtype))
    raise InvalidDType(
        f"dtype must be a string such as 'float32[512]' or a typed constructor such as "
        f"Embedding(512), got {type(dtype).__name__}", name=repr(dtype),
    )


def feature_type(dtype: DTypeLike) -> FeatureType:
    """The typed constructor for a dtype: ``feature_type("float16[768]")`` is ``Embedding(768, dtype='float16')``."""
    if isinstance(dtype, FeatureType):
        return dtype
    spec = parse_dtype(dtype)
    if spec.kind == "primitive":
        return String() if spec.element == "string" else _PRIMITIVES[spec.element]()
    if spec.kind == "embedding":
        return Embedding(spec.size, dtype=spec.element)
    if spec.kind == "array":
        return Array(spec.element, max_length=spec.max_length)
    if spec.kind == "string":
        return String(max_length=spec.max_length)
    if spec.kind == "struct":
        return Struct({name: str(inner) for name, inner in spec.fields})
    return BlobRef(content_types=spec.content_types, registry=spec.blob_registry,
                   validate_on_write=spec.validate_on_write)


_EMBEDDING_ELEMENTS = tuple(n for n in _PRIMITIVES if n in NUMERIC)
_ARRAY_ELEMENTS = _EMBEDDING_ELEMENTS + ("string",)


def _element(dtype: DTypeLike, allowed: tuple[str, ...] = _EMBEDDING_ELEMENTS) -> str:
    text = dtype_text(dtype)
    if text not in allowed:
        raise InvalidDType(f"the element type must be one of {', '.join(allowed)}, got {text}", name=text)
    return text


def _size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidDType(f"sizes must be positive integers, got {value!r}", name=repr(value))
    return value
