"""The key's format and the request fingerprint (pure functions, no server)."""

from __future__ import annotations

import pytest

from pgkeel.errors import IdempotencyKeyInvalid
from pgkeel.idempotency import canonical_json, fingerprint, parse_key

pytestmark = pytest.mark.smoke


def test_parse_key_accepts_bare_and_quoted_keys():
    assert parse_key([]) is None
    assert parse_key(["8e03978e-40d5-43e8-bc93-6894a57f9324"]) == (
        "8e03978e-40d5-43e8-bc93-6894a57f9324")
    assert parse_key(['"abc-1"']) == "abc-1"
    assert parse_key([' spaced  ']) == "spaced"
    assert parse_key(["x" * 255]) == "x" * 255


@pytest.mark.parametrize(("values", "reason"), [
    ([""], "empty"),
    (["   "], "empty"),
    (['""'], "empty"),
    (["x" * 256], "too_long"),
    (["bad\x01key"], "invalid_characters"),
    (["tab\tinside"], "invalid_characters"),
    (["naïve"], "invalid_characters"),
    (["a", "b"], "repeated"),
])
def test_parse_key_rejects_malformed_keys(values, reason):
    with pytest.raises(IdempotencyKeyInvalid) as caught:
        parse_key(values)
    assert caught.value.details["reason"] == reason
    assert caught.value.hint


def test_max_length_is_configurable():
    assert parse_key(["x" * 20], max_length=20) == "x" * 20
    with pytest.raises(IdempotencyKeyInvalid):
        parse_key(["x" * 21], max_length=20)


def test_canonical_json_ignores_key_order_and_whitespace():
    assert canonical_json(b'{ "b": 1,\n "a": [1, 2, {"d": 0, "c": null}] }') == (
        b'{"a":[1,2,{"c":null,"d":0}],"b":1}')
    assert canonical_json(b"") == b""
    assert canonical_json(b"not json") == b"not json"


def test_fingerprint_separates_what_differs():
    base = fingerprint("POST", "/items", b'{"a": 1, "b": 2}')
    assert fingerprint("post", "/items", b'{"b":2,"a":1}') == base
    assert fingerprint("PUT", "/items", b'{"a": 1, "b": 2}') != base
    assert fingerprint("POST", "/other", b'{"a": 1, "b": 2}') != base
    assert fingerprint("POST", "/items", b'{"a": 1, "b": 3}') != base
    assert fingerprint("POST", "/items", b'{"a": 1, "b": 2}', path_params={"id": "1"}) != base
    assert fingerprint("POST", "/items", b'{"a": 1, "b": 2}', query=[("x", "1")]) != base
    alice = fingerprint("POST", "/items", b'{"a": 1, "b": 2}', caller="alice")
    assert alice not in (base, fingerprint("POST", "/items", b'{"a": 1, "b": 2}', caller="bob"))
    # Field boundaries are length-prefixed: moving bytes between parts changes the digest.
    assert fingerprint("POST", "/items{", b"}") != fingerprint("POST", "/items", b"{}")
