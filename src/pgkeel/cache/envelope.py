"""The stored value: a versioned envelope around the codec's bytes.

    b"pgk1" + orjson([created, delta, expiry, negative, schema]) + b"\\n" + payload

`delta` (how long the loader took) and `expiry` (the logical expiry, epoch seconds) drive
XFetch early refresh. Anything that is not a well-formed envelope of this version, or was
written by another codec schema, decodes as a miss: `decode` raises `UndecodableValue`, which
the cache counts and treats as a miss, never as a request failure.
"""

from __future__ import annotations

import time
from typing import Any, Final, Generic, NamedTuple, Protocol, TypeVar

import orjson
from pydantic import TypeAdapter

__all__ = [
    "MISS",
    "Codec",
    "Decoded",
    "JsonCodec",
    "Missing",
    "TypedCodec",
    "UndecodableValue",
    "decode",
    "encode",
]

T = TypeVar("T")

_MAGIC = b"pgk1"  # 4 bytes: `decode` slices past it by that number


class Missing:
    """The type of `MISS`."""

    _instance: Missing | None = None

    def __new__(cls) -> Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISS"

    def __bool__(self) -> bool:
        return False


MISS: Final = Missing()
"""What `Cache.get` returns when there is no value; a cached None is returned as None."""


class UndecodableValue(Exception):
    """The stored bytes are not an envelope this version can read."""


class Codec(Protocol):
    """Turns values into bytes and back; `schema` names the shape, and a stored value of
    another schema is a miss."""

    schema: str

    def dumps(self, value: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


class JsonCodec:
    """orjson: dicts, lists, str, int, float, bool, None; datetimes/UUIDs come back as str."""

    schema = "json"

    def dumps(self, value: Any) -> bytes:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)

    def loads(self, data: bytes) -> Any:
        return orjson.loads(data)


class TypedCodec(Generic[T]):
    """pydantic's JSON for one type (a model, dataclass, `list[Row]`, `Row | None`...), so
    datetimes, UUIDs and nested models come back as themselves."""

    def __init__(self, type_: Any, *, schema: str | None = None) -> None:
        self._adapter: TypeAdapter[T] = TypeAdapter(type_)
        self.schema = schema or f"typed:{getattr(type_, '__qualname__', repr(type_))}"

    def dumps(self, value: T) -> bytes:
        return self._adapter.dump_json(value, warnings=False)

    def loads(self, data: bytes) -> T:
        return self._adapter.validate_json(data)


class Decoded(NamedTuple):
    """A decoded entry and the metadata XFetch needs (a tuple: one is made on every hit)."""

    value: Any
    created: float
    delta: float
    expiry: float
    negative: bool


def encode(value: Any, codec: Codec, *, ttl_s: float, delta_s: float,
           negative: bool = False, now: float | None = None) -> bytes:
    """Wrap `value` in the envelope; `ttl_s` sets the logical expiry XFetch refreshes before."""
    created = time.time() if now is None else now
    header = orjson.dumps([round(created, 3), round(delta_s, 4), round(created + ttl_s, 3),
                           negative, codec.schema])
    payload = b"" if negative else codec.dumps(value)
    return _MAGIC + header + b"\n" + payload


def decode(data: bytes, codec: Codec) -> Decoded:
    """Unwrap an envelope; raises `UndecodableValue` for anything else."""
    try:
        if not data.startswith(_MAGIC):
            raise UndecodableValue("not a pgkeel envelope")
        newline = data.index(b"\n", len(_MAGIC))
        created, delta, expiry, negative, schema = orjson.loads(data[4:newline])
        if schema != codec.schema:
            raise UndecodableValue(f"written by schema {schema!r}")
        value = None if negative else codec.loads(data[newline + 1:])
        return Decoded(value, float(created), float(delta), float(expiry), bool(negative))
    except UndecodableValue:
        raise
    except Exception as exc:  # any malformation at all is a miss
        raise UndecodableValue(str(exc)) from exc
