"""Cursors are signed with HMAC-SHA256 from precomputed key states and a payload whose tail is
serialised once per query: the bytes must be exactly those of the documented JSON object and
its HMAC, so cursors issued before still verify, and a changed byte is still rejected."""

from __future__ import annotations

import datetime as dt
import decimal
import hmac
import secrets
import uuid

import orjson
import pytest

from pgkeel.errors import InvalidParameter
from pgkeel.repo import CursorCodec, FieldType
from pgkeel.repo import cursor as cursor_module
from pgkeel.repo.cursor import _b64
from pgkeel.repo.fields import Field
from pgkeel.repo.query import SortKey

KEYS = [SortKey(Field("created_at", FieldType.TIMESTAMPTZ)), SortKey(Field("id", FieldType.UUID))]
WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)


def _reference(secret: bytes, codec: CursorCodec, values: list[object], backward: bool,
               binding: str) -> str:
    """A cursor as the plain definition makes it: the JSON object, `hmac.digest`, base64url."""
    payload = orjson.dumps({"v": cursor_module.VERSION, "k": values,
                            "d": "p" if backward else "n", "b": binding,
                            "i": cursor_module.key_id(secret)}, default=str)
    signature = hmac.digest(secret, payload, "sha256")[:16]
    return f"{_b64(payload)}.{_b64(signature)}"


@pytest.mark.parametrize("length", [16, 32, 64, 65, 200])
def test_a_cursor_is_the_hmac_of_its_json_for_any_key_length(length):
    secret = secrets.token_bytes(length)   # longer than a SHA-256 block: hashed first
    codec = CursorCodec(secret)
    cases: list[list[object]] = [[WHEN, uuid.uuid4()], [1, 'quote " and \\', None],
                                 [decimal.Decimal("1.50"), dt.date(2026, 1, 2)], []]
    for values in cases:
        for backward in (False, True):
            for binding in ("0123456789abcdef01234567", 'odd "binding"'):
                made = codec.encode(values, backward=backward, binding=binding)
                assert made == _reference(secret, codec, values, backward, binding)
                # A tuple of values is the same cursor as the list.
                assert codec.encode(tuple(values), backward=backward, binding=binding) == made


def test_a_cursor_signed_once_verifies_and_a_changed_one_is_rejected():
    secret = secrets.token_bytes(32)
    codec = CursorCodec(secret)
    ident = uuid.uuid4()
    issued = _reference(secret, codec, [WHEN, ident], False, "b")   # as issued before
    assert codec.decode(issued, keys=KEYS, binding="b") == ([WHEN, ident], False)
    token = codec.encode([WHEN, ident], backward=True, binding="b")
    assert CursorCodec(secret).decode(token, keys=KEYS, binding="b") == ([WHEN, ident], True)
    body, signature = token.split(".")
    # The first character: the last one of 16 bytes in base64 carries padding bits too.
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(InvalidParameter, match="bad signature"):
        codec.decode(f"{body}.{flipped}", keys=KEYS, binding="b")
    other = CursorCodec(secrets.token_bytes(32))
    with pytest.raises(InvalidParameter, match="unknown or retired key"):
        other.decode(token, keys=KEYS, binding="b")


def test_the_payload_tails_are_bounded_and_keep_direction_and_binding_apart():
    codec = CursorCodec(secrets.token_bytes(32))
    forward = codec.encode([WHEN], backward=False, binding="x")
    backward = codec.encode([WHEN], backward=True, binding="x")
    elsewhere = codec.encode([WHEN], backward=False, binding="y")
    assert len({forward, backward, elsewhere}) == 3
    keys = KEYS[:1]
    assert codec.decode(backward, keys=keys, binding="x") == ([WHEN], True)
    with pytest.raises(InvalidParameter, match="different query"):
        codec.decode(elsewhere, keys=keys, binding="x")
    for i in range(cursor_module.VERIFIED_MEMO + 10):
        codec.encode([i], backward=False, binding=f"b{i}")
    assert len(codec._tails) <= cursor_module.VERIFIED_MEMO
    assert codec.encode([WHEN], backward=True, binding="x") == backward
