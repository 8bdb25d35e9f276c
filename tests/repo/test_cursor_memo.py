"""Verified cursors are remembered by their exact string; nothing else changes: a tampered or
forged cursor is still rejected, every check but the signature still runs on each use, a
retired key still retires its memoised cursors, and the memo is bounded."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import time
import uuid
from types import SimpleNamespace

import orjson
import pytest
from psycopg.rows import dict_row

from pgkeel.errors import InvalidParameter
from pgkeel.repo import CursorCodec, FieldType, parse_list_params
from pgkeel.repo import cursor as cursor_module
from pgkeel.repo.compiler import Compiler
from pgkeel.repo.listing import build_list
from tests.repo.conftest import people_table

SECRET = secrets.token_bytes(32)
KEYS = [SimpleNamespace(field=SimpleNamespace(type=FieldType.TIMESTAMPTZ)),
        SimpleNamespace(field=SimpleNamespace(type=FieldType.UUID))]
WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
ID = uuid.UUID("12345678-1234-5678-1234-567812345678")


def _decode(codec: CursorCodec, token: str, binding: str = "b") -> tuple[list[object], bool]:
    return codec.decode(token, keys=KEYS, binding=binding)  # type: ignore[arg-type]


def test_a_tampered_cursor_is_rejected_after_the_valid_one_was_memoised():
    codec = CursorCodec(SECRET)
    token = codec.encode([WHEN, ID], backward=False, binding="b")
    assert _decode(codec, token) == ([WHEN, ID], False)
    assert _decode(codec, token) == ([WHEN, ID], False)  # from the memo, same answer
    body, signature = token.split(".")
    payload = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["k"][1] = str(uuid.uuid4())  # another row, same key id, the old signature
    forged_body = base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()
    for tampered, reason in ((f"{body}.{signature[:-2]}AA", "bad signature"),
                             (f"{forged_body}.{signature}", "bad signature"),
                             (f"{body}x.{signature}", "malformed|bad signature"),
                             (token + ".", "malformed")):
        if tampered == token:
            continue
        with pytest.raises(InvalidParameter, match=reason):
            _decode(codec, tampered)
    assert _decode(codec, token) == ([WHEN, ID], False)


def test_a_memoised_cursor_still_meets_every_other_check():
    codec = CursorCodec(SECRET)
    token = codec.encode([WHEN, ID], backward=True, binding="b")
    assert _decode(codec, token) == ([WHEN, ID], True)
    with pytest.raises(InvalidParameter, match="different query"):
        _decode(codec, token, binding="other")
    with pytest.raises(InvalidParameter, match="wrong shape"):
        codec.decode(token, keys=KEYS[:1], binding="b")  # type: ignore[arg-type]
    text_keys = [SimpleNamespace(field=SimpleNamespace(type=FieldType.TEXT))] * 2
    assert codec.decode(token, keys=text_keys, binding="b") == (  # type: ignore[arg-type]
        [WHEN.isoformat(), str(ID)], True)  # restored for the sort it is read with
    values, _ = _decode(codec, token)
    values.append("changed by the caller")
    assert _decode(codec, token) == ([WHEN, ID], True)  # the memo hands out copies


def test_a_memoised_cursor_of_a_retired_key_is_rejected_once_its_grace_period_ends():
    old = CursorCodec(SECRET)
    token = old.encode([WHEN, ID], backward=False, binding="b")
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    rotated = CursorCodec(secrets.token_bytes(32), previous=[SECRET], previous_until=until)
    assert _decode(rotated, token) == ([WHEN, ID], False)
    while dt.datetime.now(dt.UTC) < until:
        time.sleep(0.05)
    with pytest.raises(InvalidParameter, match="retired key"):
        _decode(rotated, token)


def test_the_memo_is_bounded_and_forgets_the_oldest_first():
    codec = CursorCodec(SECRET)
    tokens = [codec.encode([WHEN, uuid.uuid4()], backward=False, binding="b")
              for _ in range(cursor_module.VERIFIED_MEMO + 10)]
    for token in tokens:
        _decode(codec, token)
    assert len(codec._verified) == cursor_module.VERIFIED_MEMO
    assert tokens[0] not in codec._verified and tokens[-1] in codec._verified
    assert _decode(codec, tokens[0])[0][0] == WHEN  # verified again, and accepted


def test_the_sort_and_binding_memo_keeps_equal_values_written_apart_apart():
    """Equal filter values that render differently (one instant written in two time zones)
    keep their own bindings; plain values share one remembered per request shape."""
    compiler = Compiler(people_table("memo"))
    codec = CursorCodec(SECRET)
    org = uuid.uuid4()

    def binding(*pairs: tuple[str, str]) -> str:
        query = parse_list_params(compiler.table, [*pairs, ("limit", "5")])
        return build_list(compiler, codec, query, org, dict_row).binding

    utc = binding(("createdAt[gte]", "2026-01-01T10:00:00+00:00"))
    paris = binding(("createdAt[gte]", "2026-01-01T11:00:00+01:00"))
    assert utc != paris  # as before the memo: the binding is of what was sent
    assert binding(("active", "true")) == binding(("active", "true"))
    assert binding(("active", "true")) != binding(("active", "false"))
    for i in range(1000):  # bounded like the compiler's other caches
        binding(("name", f"n{i}"))
    assert len(compiler._memo) <= 512
