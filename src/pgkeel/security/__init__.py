"""Authentication building blocks.

Public API:
    hash_password, verify_password, PasswordCheck    Argon2id, bcrypt verified and upgraded
    hash_password_async, verify_password_async       the same, off the event loop
    issue_token, token_digest                          opaque bearer tokens stored hashed
    Principal, Authenticator                           who is calling, and how to find out
FastAPI dependencies live in `pgkeel.web` (`requires("USERS_READ")`).
"""

from pgkeel.security.passwords import (
    PasswordCheck,
    checks_in_flight,
    hash_password,
    hash_password_async,
    verify_password,
    verify_password_async,
)
from pgkeel.security.principal import Authenticator, Principal
from pgkeel.security.tokens import issue_token, token_digest

__all__ = [
    "Authenticator",
    "PasswordCheck",
    "Principal",
    "checks_in_flight",
    "hash_password",
    "hash_password_async",
    "issue_token",
    "token_digest",
    "verify_password",
    "verify_password_async",
]
