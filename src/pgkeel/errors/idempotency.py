"""Errors of idempotency keys (`pgkeel.idempotency`, the `Idempotency-Key` header)."""

from __future__ import annotations

from typing import ClassVar

from pgkeel.errors.base import PgkeelError

__all__ = [
    "IdempotencyError",
    "IdempotencyKeyMissing",
    "IdempotencyKeyInvalid",
    "IdempotencyKeyReused",
    "IdempotencyKeyInFlight",
    "IdempotencyNotInstalled",
]


class IdempotencyError(PgkeelError):
    """The request's idempotency key could not be honoured."""

    code = "idempotency_error"


class IdempotencyKeyMissing(IdempotencyError):
    """This operation requires an Idempotency-Key header."""

    code = "idempotency_key_missing"
    http_status: ClassVar[int] = 400


class IdempotencyKeyInvalid(IdempotencyError):
    """The Idempotency-Key header is malformed."""

    code = "idempotency_key_invalid"
    http_status: ClassVar[int] = 400


class IdempotencyKeyReused(IdempotencyError):
    """This Idempotency-Key was first used for a different request."""

    code = "idempotency_key_reused"
    http_status: ClassVar[int] = 422


class IdempotencyKeyInFlight(IdempotencyError):
    """A request with this Idempotency-Key is still being processed."""

    code = "idempotency_key_in_flight"
    http_status: ClassVar[int] = 409
    retry_after_s: ClassVar[int] = 1
    """Sent as Retry-After: the first request usually finishes within a second."""


class IdempotencyNotInstalled(IdempotencyError):
    """The idempotency schema is not installed in this database."""

    code = "idempotency_not_installed"
