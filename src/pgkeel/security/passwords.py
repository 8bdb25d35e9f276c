"""Password hashing: Argon2id (OWASP's first choice); bcrypt hashes verified and upgraded.

`verify_password` returns a replacement hash whenever the stored one is bcrypt or Argon2 with
outdated parameters, so a successful login migrates the user transparently.

Argon2 costs tens of milliseconds of CPU by design. Async code must call
`hash_password_async` / `verify_password_async`, which run it on a small dedicated thread pool
(argon2-cffi releases the GIL), so a burst of logins never freezes the event loop; the pool's
size bounds how many hashes run at once (`PASSWORD_HASH_WORKERS`, default: CPU count).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["PasswordCheck", "checks_in_flight", "hash_password", "hash_password_async",
           "verify_password", "verify_password_async"]

_HASHER = PasswordHasher()  # argon2-cffi's defaults follow RFC 9106's recommendations
MAX_PASSWORD_BYTES = 1024
_WORKERS = int(os.environ.get("PASSWORD_HASH_WORKERS", "0")) or (os.cpu_count() or 2)
_EXECUTOR = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="pgkeel-argon2")
_in_flight = 0
_T = TypeVar("_T")


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when there is none, made on first use (an Argon2 hash costs
    tens of milliseconds: not at import, where every CLI command would pay it)."""
    return _HASHER.hash("pgkeel timing equaliser")


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
        _verify_argon2(password, _dummy_hash())
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


def checks_in_flight() -> int:
    """Hashes and verifications submitted to the pool and not yet finished."""
    return _in_flight


async def _off_loop(work: Callable[[], _T]) -> _T:
    global _in_flight  # noqa: PLW0603 -- a process-wide gauge, touched only on the loop
    _in_flight += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, work)
    finally:
        _in_flight -= 1


async def hash_password_async(password: str) -> str:
    """`hash_password` on the hashing pool, off the event loop."""
    return await _off_loop(lambda: hash_password(password))


async def verify_password_async(password: str, stored: str | None) -> PasswordCheck:
    """`verify_password` on the hashing pool, off the event loop."""
    return await _off_loop(lambda: verify_password(password, stored))
