"""Opaque bearer tokens: random to the client, stored only as a SHA-256 digest.

A database leak then yields no usable token; the digest is the lookup key, so verification is
one indexed equality query with no timing side channel worth having.
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["TOKEN_BYTES", "issue_token", "token_digest"]

TOKEN_BYTES = 32
_PREFIX = "pgk_"


def issue_token() -> tuple[str, bytes]:
    """(the token to hand out once, the digest to store)."""
    token = _PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_digest(token)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
