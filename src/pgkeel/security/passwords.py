"""Password hashing: Argon2id (OWASP's first choice); bcrypt hashes verified and upgraded.

`verify_password` returns a replacement hash whenever the stored one is bcrypt or Argon2 with
outdated parameters, so a successful login migrates the user transparently.
"""

from __future__ import annotations

from dataclasses import dataclass

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["PasswordCheck", "hash_password", "verify_password"]

_HASHER = PasswordHasher()  # argon2-cffi's defaults follow RFC 9106's recommendations
_DUMMY = _HASHER.hash("pgkeel timing equaliser")
MAX_PASSWORD_BYTES = 1024


@dataclass(frozen=True)
class PasswordCheck:
    ok: bool
    new_hash: str | None = None
    """Set when the stored hash should be replaced (bcrypt, or weaker Argon2 parameters)."""


def hash_password(password: str) -> str:
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise ValueError("password too long")
    return _HASHER.hash(password)


def verify_password(password: str, stored: str | None) -> PasswordCheck:
    """Check `password` against `stored` in roughly constant time, even when there is no
    stored hash (so unknown accounts cannot be told apart by timing)."""
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        return PasswordCheck(False)
    if stored is None:
        _verify_argon2(password, _DUMMY)
        return PasswordCheck(False)
    if stored.startswith(("$2a$", "$2b$", "$2y$")):
        try:
            ok = bcrypt.checkpw(password.encode(), stored.encode())
        except ValueError:
            return PasswordCheck(False)
        return PasswordCheck(ok, hash_password(password) if ok else None)
    if not _verify_argon2(password, stored):
        return PasswordCheck(False)
    return PasswordCheck(True, hash_password(password) if _HASHER.check_needs_rehash(stored)
                         else None)


def _verify_argon2(password: str, stored: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
