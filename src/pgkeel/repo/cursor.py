"""Opaque keyset cursors: versioned, HMAC-signed, and bound to the query that produced them.

A cursor carries the sort-key values of the row it points after, the direction, and a digest of
the sort, filters, search and tenant. A cursor that was tampered with, is from another version,
or is replayed with different filters or by another tenant is rejected with a 400 -- never
silently reinterpreted.

The secret can rotate: each cursor names the key that signed it (`i`, the first 8 hex digits of
the key's SHA-256), new cursors are signed with `CURSOR_SECRET`, and cursors signed with one of
`CURSOR_SECRET_PREVIOUS` stay valid until `CURSOR_SECRET_PREVIOUS_UNTIL` (or for as long as the
old secret stays configured, when that is unset). After that they answer 400 like any forgery.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from pgkeel.config import Settings, load_settings
from pgkeel.errors import ConfigError, InvalidParameter
from pgkeel.repo.fields import FieldType, parse_value
from pgkeel.repo.query import SortKey

__all__ = ["CursorCodec", "default_codec"]

log = logging.getLogger("pgkeel.repo")

VERSION = 1
_SIGNATURE_BYTES = 16
VERIFIED_MEMO = 1024
"""Cursors kept per codec after their signature was verified (oldest dropped first)."""
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_HEAD = b'{"v":%d,"k":' % VERSION


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """`base64.urlsafe_b64decode` of the unpadded text, without its Python-level steps (a
    non-ASCII character is a ValueError there and here)."""
    return binascii.a2b_base64(text.encode("ascii").translate(_FROM_URLSAFE)
                               + b"=" * (-len(text) % 4))


def _invalid(reason: str) -> InvalidParameter:
    return InvalidParameter(f"The cursor is not valid: {reason}.", details={"parameter": "cursor"},
                            hint="Start again from the first page (omit cursor).")


def key_id(secret: bytes) -> str:
    """The id a cursor carries for the key that signed it (reveals nothing of the key)."""
    return hashlib.sha256(secret).hexdigest()[:8]


_BLOCK = 64  # SHA-256's block size
_INNER_PAD = bytes(x ^ 0x36 for x in range(256))
_OUTER_PAD = bytes(x ^ 0x5C for x in range(256))


class _Signer:
    """HMAC-SHA256 (RFC 2104) with the key's inner and outer hash states computed once:
    each signature then hashes only the payload and the inner digest, where `hmac.digest`
    sets the key up and looks the digest up by name again on every call."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, secret: bytes) -> None:
        if len(secret) > _BLOCK:
            secret = hashlib.sha256(secret).digest()
        padded = secret.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(padded.translate(_INNER_PAD))
        self._outer = hashlib.sha256(padded.translate(_OUTER_PAD))

    def sign(self, payload: bytes) -> bytes:
        """The first `_SIGNATURE_BYTES` of HMAC-SHA256(secret, payload)."""
        inner = self._inner.copy()
        inner.update(payload)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:_SIGNATURE_BYTES]


class _Verified:
    """What a cursor whose signature checked out says, kept so that the same cursor string
    is not verified and decoded again; every other check still runs on each use."""

    __slots__ = ("backward", "binding", "kid", "raw_values", "types", "values", "version")

    def __init__(self, data: dict[str, Any]) -> None:
        self.kid: Any = data.get("i")
        self.version: Any = data.get("v")
        self.binding: Any = data.get("b")
        self.raw_values: Any = data.get("k")
        self.backward = data.get("d") == "p"
        self.types: tuple[FieldType, ...] | None = None
        """The sort's field types `values` were restored for (None: not yet)."""
        self.values: tuple[Any, ...] = ()


class CursorCodec:
    """Encodes cursors with the current secret; verifies them with it or, during a rotation's
    grace period, with a previous one. A verified cursor is remembered by its exact string
    (`VERIFIED_MEMO` of them): any other string, a tampered one included, is verified anew."""

    def __init__(self, secret: bytes, *, previous: Sequence[bytes] = (),
                 previous_until: datetime | None = None) -> None:
        if len(secret) < 16 or any(len(old) < 16 for old in previous):
            raise ConfigError("CURSOR_SECRET (and each previous secret) must be at least "
                              "16 bytes.")
        self._signer = _Signer(secret)
        self._kid = key_id(secret)
        self._previous = {key_id(old): _Signer(old) for old in previous}
        self._previous_until = previous_until
        self._verified: dict[str, _Verified] = {}
        self._tails: dict[tuple[str, bool], bytes] = {}
        """The end of a payload (direction, binding, key id) per (binding, backward)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> CursorCodec:
        """CURSOR_SECRET's codec (with CURSOR_SECRET_PREVIOUS for a rotation), or an
        ephemeral one outside production."""
        if settings.cursor_secret is None:
            return cls.ephemeral()
        previous = settings.cursor_secret_previous
        olds = ([part.strip().encode() for part in previous.get_secret_value().split(",")
                 if part.strip()] if previous is not None else [])
        return cls(settings.cursor_secret.get_secret_value().encode(), previous=olds,
                   previous_until=settings.cursor_secret_previous_until)

    def _key(self, kid: Any) -> _Signer | None:
        """The signer of key id `kid` (no id: the current one's), or None when the key is
        unknown or its grace period is over."""
        if kid is None or kid == self._kid:
            return self._signer
        old = self._previous.get(kid) if isinstance(kid, str) else None
        if old is None:
            return None
        until = self._previous_until
        if until is not None and datetime.now(UTC) >= until:
            return None
        return old

    @classmethod
    def ephemeral(cls) -> CursorCodec:
        """A codec with a random secret: cursors die with the process (development only)."""
        log.warning("CURSOR_SECRET is not set: cursors are valid in this process only")
        return cls(secrets.token_bytes(32))

    @staticmethod
    def binding(parts: Sequence[Any]) -> str:
        """A digest of what a cursor is only valid for (sort, filters, search, tenant)."""
        raw = orjson.dumps(list(parts), default=str)
        return hashlib.sha256(raw).hexdigest()[:24]

    def encode(self, values: Sequence[Any], *, backward: bool, binding: str) -> str:
        """A signed cursor: the JSON object `{"v", "k", "d", "b", "i"}` (in that order) and
        its signature. The part after the values is the same for every cursor of a query
        and direction, so it is serialised once per binding."""
        tail = self._tails.get((binding, backward))
        if tail is None:
            if len(self._tails) >= VERIFIED_MEMO:
                self._tails.clear()
            tail = self._tails[binding, backward] = orjson.dumps(
                {"d": "p" if backward else "n", "b": binding, "i": self._kid})[1:]
        keys = values if type(values) is list else list(values)
        payload = _HEAD + orjson.dumps(keys, default=str) + b"," + tail
        signature = self._signer.sign(payload)
        return f"{_b64(payload)}.{_b64(signature)}"

    def decode(self, token: str, *, keys: Sequence[SortKey],
               binding: str) -> tuple[list[Any], bool]:
        """(sort-key values, backward) from a cursor made for this very query."""
        found = self._verified.get(token)
        if found is None:
            found = self._verify(token)
        elif self._key(found.kid) is None:  # its key was retired since
            raise _invalid("signed with an unknown or retired key")
        if found.version != VERSION:
            raise _invalid("unsupported version")
        if found.binding != binding:
            raise InvalidParameter(
                "The cursor belongs to a different query (sort, filters, search or "
                "organization changed).", details={"parameter": "cursor"},
                hint="Send the same filters and sort as the request that returned it.")
        raw_values = found.raw_values
        if not isinstance(raw_values, list) or len(raw_values) != len(keys):
            raise _invalid("wrong shape")
        types = tuple(key.field.type for key in keys)
        if found.types != types:
            values = tuple(None if raw is None else _restore(field_type, raw)
                           for field_type, raw in zip(types, raw_values, strict=True))
            found.types, found.values = types, values
        return list(found.values), found.backward

    def _verify(self, token: str) -> _Verified:
        """Check the signature of a cursor not seen yet, and remember it once it holds."""
        try:
            body, signature = token.split(".")
            payload, given = _unb64(body), _unb64(signature)
            data = orjson.loads(payload)
        except ValueError:
            raise _invalid("malformed") from None
        if not isinstance(data, dict):
            raise _invalid("malformed")
        signer = self._key(data.get("i"))
        if signer is None:
            raise _invalid("signed with an unknown or retired key")
        if not hmac.compare_digest(given, signer.sign(payload)):
            raise _invalid("bad signature")
        verified = _Verified(data)
        memo = self._verified
        if len(memo) >= VERIFIED_MEMO:
            del memo[next(iter(memo))]
        memo[token] = verified
        return verified


_CODECS: dict[tuple[str | None, str | None, Any], CursorCodec] = {}


def default_codec(settings: Settings | None = None) -> CursorCodec:
    """The codec for CURSOR_SECRET of `settings` (default: the environment's), shared by every
    repository; without a secret (never in production: the settings refuse that) one random
    key per process, so cursors then work in this process only."""
    if settings is None:
        settings = load_settings()
    secret, previous = settings.cursor_secret, settings.cursor_secret_previous
    key = (None if secret is None else secret.get_secret_value(),
           None if previous is None else previous.get_secret_value(),
           settings.cursor_secret_previous_until)  # a rotation is part of the codec
    codec = _CODECS.get(key)
    if codec is None:
        codec = _CODECS[key] = CursorCodec.from_settings(settings)
    return codec


def _restore(field_type: FieldType, raw: Any) -> Any:
    if isinstance(raw, bool | int | float) and field_type not in (FieldType.NUMERIC,):
        return raw
    try:
        return parse_value(field_type, str(raw))
    except ValueError:
        raise _invalid("bad value") from None
