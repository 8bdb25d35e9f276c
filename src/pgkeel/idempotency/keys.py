"""What identifies a request: the client's key (validated) and the request's fingerprint.

The key is the `Idempotency-Key` header: 1 to `max_length` printable ASCII characters, sent
bare (`Idempotency-Key: 8e03978e-...`, as most clients do) or as the structured-field string
the IETF draft specifies (`Idempotency-Key: "8e03978e-..."`), which means the same key.

The fingerprint is sha256 over the method, the route template, the path and query parameters,
the canonical JSON body (sorted keys, no insignificant whitespace) and the caller (the
context's actor, when there is one), so a replay is only ever answered with the response of
the same request by the same caller, never of another one that happens to carry the same key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import orjson

from pgkeel.errors import IdempotencyKeyInvalid

__all__ = ["DEFAULT_MAX_KEY_LENGTH", "canonical_json", "fingerprint", "parse_key"]

DEFAULT_MAX_KEY_LENGTH = 255
"""Stripe's limit; long enough for a UUID with any prefix a client library adds."""

_HINT = "Send a fresh UUID (e.g. uuid4) per operation, and the same one when retrying it."


def parse_key(values: Iterable[str], *, max_length: int = DEFAULT_MAX_KEY_LENGTH) -> str | None:
    """The key carried by the request's `Idempotency-Key` header values (None when absent).

    Raises `IdempotencyKeyInvalid` for an empty, too long, repeated or non-printable key.
    """
    given = list(values)
    if not given:
        return None
    if len(given) > 1:
        raise IdempotencyKeyInvalid("Send the Idempotency-Key header only once.",
                                    details={"reason": "repeated"}, hint=_HINT)
    text = given[0].strip(" \t")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if not text:
        raise IdempotencyKeyInvalid("The Idempotency-Key header is empty.",
                                    details={"reason": "empty"}, hint=_HINT)
    if len(text) > max_length:
        raise IdempotencyKeyInvalid(
            f"The Idempotency-Key is longer than {max_length} characters.",
            details={"reason": "too_long", "max_length": max_length, "length": len(text)},
            hint=_HINT)
    if not all(" " <= ch <= "~" for ch in text):
        raise IdempotencyKeyInvalid(
            "The Idempotency-Key may only contain printable ASCII characters.",
            details={"reason": "invalid_characters"}, hint=_HINT)
    return text


def canonical_json(body: bytes) -> bytes:
    """`body` as canonical JSON (sorted keys, no whitespace); non-JSON bodies unchanged."""
    if not body.strip():
        return b""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def fingerprint(method: str, route: str, body: bytes, *,
                path_params: Mapping[str, object] | None = None,
                query: Iterable[tuple[str, str]] = (), caller: str | None = None) -> bytes:
    """sha256 of the request's method, route template, parameters and canonical body, and of
    `caller` when given: another caller's request with the same key is another request."""
    digest = hashlib.sha256()
    params = sorted((str(k), str(v)) for k, v in (path_params or {}).items())
    parts = [method.upper().encode(), route.encode(), orjson.dumps(params),
             orjson.dumps(sorted(query)), canonical_json(body)]
    if caller is not None:
        parts.append(b"caller:" + caller.encode())
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()
