"""Argon2id hashing, bcrypt verification with upgrade, and hashed opaque tokens."""

from __future__ import annotations

import bcrypt
import pytest
from argon2 import PasswordHasher

from pgkeel.security import hash_password, issue_token, token_digest, verify_password

pytestmark = pytest.mark.smoke


def test_argon2id_round_trip():
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2id$")
    assert verify_password("correct horse", stored).ok
    assert verify_password("correct horse", stored).new_hash is None
    assert not verify_password("wrong horse", stored).ok


def test_bcrypt_is_verified_and_upgraded():
    legacy = bcrypt.hashpw(b"from the report", bcrypt.gensalt(rounds=4)).decode()
    check = verify_password("from the report", legacy)
    assert check.ok
    assert check.new_hash is not None and check.new_hash.startswith("$argon2id$")
    assert verify_password("from the report", check.new_hash).ok
    assert not verify_password("nope", legacy).ok


def test_weak_argon2_parameters_are_upgraded():
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("pw")
    check = verify_password("pw", weak)
    assert check.ok
    assert check.new_hash is not None


def test_missing_or_garbage_hash_never_verifies():
    assert not verify_password("anything", None).ok
    assert not verify_password("anything", "not-a-hash").ok
    assert not verify_password("x" * 5000, hash_password("short")).ok
    with pytest.raises(ValueError, match="too long"):
        hash_password("x" * 5000)


def test_tokens_are_random_and_stored_as_digests():
    token, digest = issue_token()
    other, _ = issue_token()
    assert token != other
    assert token.startswith("pgk_") and len(token) > 40
    assert digest == token_digest(token)
    assert len(digest) == 32
    assert token.encode() not in digest
