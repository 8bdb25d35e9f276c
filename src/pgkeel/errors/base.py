"""The root of the hierarchy and the errors every capability shares.

`PgkeelError` carries the four fields of every error body -- `code`, `message`, `details`,
`hint`; a class's `http_status`, where set, is the status `pgkeel.web` answers with.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "PgkeelError",
    "ConfigError",
    "SchemaMismatch",
    "EmbeddedServerError",
    "UsageError",
    "TenantRequired",
    "InvalidParameter",
    "NotFound",
    "RuleViolation",
    "Unauthorized",
    "Forbidden",
    "RateLimited",
    "RateLimiterUnavailable",
    "CacheUnreachable",
    "MissingExtra",
]


class PgkeelError(Exception):
    """Something went wrong in pgkeel."""

    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message or (self.__doc__ or self.code).strip().splitlines()[0]
        self.details: dict[str, Any] = details or {}
        self.hint = hint
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        """The `{code, message, details, hint}` body used over HTTP and by `--json`."""
        return {"code": self.code, "message": self.message, "details": self.details,
                "hint": self.hint}


class ConfigError(PgkeelError):
    """The configuration is invalid."""

    code = "config_error"


class SchemaMismatch(ConfigError):
    """A declared table does not match the live database."""

    code = "schema_mismatch"


class EmbeddedServerError(PgkeelError):
    """An embedded server could not be started or stopped."""

    code = "embedded_server_error"


class UsageError(PgkeelError):
    """pgkeel was called in a way it does not support."""

    code = "usage_error"


class TenantRequired(UsageError):
    """A tenant-scoped operation ran with no organization in the context."""

    code = "tenant_required"


class InvalidParameter(PgkeelError):
    """A request parameter is unknown or malformed."""

    code = "invalid_parameter"
    http_status: ClassVar[int] = 400


class NotFound(PgkeelError):
    """The requested row does not exist (in this organization)."""

    code = "not_found"
    http_status: ClassVar[int] = 404


class RuleViolation(PgkeelError):
    """A business rule forbids this change (`details.rule` names the rule)."""

    code = "rule_violation"
    http_status: ClassVar[int] = 422


class Unauthorized(PgkeelError):
    """Authentication is required, or the credentials are not valid."""

    code = "unauthorized"
    http_status: ClassVar[int] = 401


class Forbidden(PgkeelError):
    """The caller lacks the permission this operation needs."""

    code = "forbidden"
    http_status: ClassVar[int] = 403


class RateLimited(PgkeelError):
    """Too many requests: wait `retry_after_s` seconds (sent as Retry-After)."""

    code = "rate_limited"
    http_status: ClassVar[int] = 429

    def __init__(self, message: str | None = None, *, retry_after_s: float,
                 details: dict[str, Any] | None = None, hint: str | None = None) -> None:
        super().__init__(message, details=details, hint=hint)
        self.retry_after_s = max(1, int(-(-retry_after_s // 1)))
        """Whole seconds, rounded up, at least 1."""


class RateLimiterUnavailable(PgkeelError):
    """A limiter configured to fail closed could not reach Redis."""

    code = "rate_limiter_unavailable"
    http_status: ClassVar[int] = 503


class CacheUnreachable(PgkeelError):
    """Redis did not answer."""

    code = "cache_unreachable"


class MissingExtra(ConfigError):
    """An optional integration needs a package that is not installed."""

    code = "missing_extra"
