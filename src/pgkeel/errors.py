"""The one pgkeel error hierarchy.

Every failure pgkeel raises is a `PgkeelError` carrying a stable `code`, a human `message`,
structured `details` and an optional `hint` -- the same four fields the web layer sends as JSON.
Database errors are translated once, at the driver boundary, by SQLSTATE (never by message text):

    PgkeelError
    ├── ConfigError                      invalid settings (names the variable)
    │   └── SchemaMismatch               a declared table does not match the live catalog
    ├── EmbeddedServerError              the embedded PostgreSQL / Valkey could not start or stop
    ├── UsageError                       the library was called wrongly (a bug in the caller)
    │   └── TenantRequired               a tenant-scoped call ran with no organization in context
    ├── CacheUnreachable                 `pgkeel cache stats` found no Redis (the cache itself
    │                                    never raises on Redis failures)
    ├── InvalidParameter                 a request parameter is unknown or malformed (400)
    ├── NotFound                         no such row in this organization (404)
    ├── RuleViolation                    a business rule forbids the change (422, details.rule)
    ├── Unauthorized                     no valid credentials (401)
    ├── Forbidden                        authenticated, but lacking the permission (403)
    ├── MigrationError                   a migration set could not be read, checked or applied
    │   ├── InvalidMigrationFile         a file's name, header or SQL text is malformed
    │   ├── MigrationFailed              a statement failed (file:line, PostgreSQL's message)
    │   ├── MigrationDrift               the history no longer matches the files
    │   ├── OutOfOrder                   a pending version is older than an applied one
    │   ├── IrreversibleMigration        `down` needs an undo file that does not exist
    │   ├── LintFailed                   `up` refused files with lint errors
    │   ├── MigrationLockTimeout         another runner held the migration lock too long
    │   ├── BaselineRefused              `baseline` on a history that already has migrations
    │   └── ProductionRefused            a destructive command refused when APP_ENV=production
    ├── AuditError                       the audit log could not do what was asked
    │   ├── AuditNotInstalled            the audit schema is missing (`pgkeel audit install`)
    │   ├── AuditEventInvalid            an event cannot be stored (empty action, NUL character)
    │   ├── AuditCursorInvalid           a keyset cursor is malformed
    │   ├── AuditQueueFull               append_nowait() found the appender's queue full
    │   ├── AuditAppenderClosed          append() on an appender that is closed or not started
    │   ├── AuditChainBroken             verify found edited, deleted or inserted audit rows
    │   └── AuditCheckpointInvalid       a checkpoint file is malformed or its signature is wrong
    └── DatabaseError                    anything that came back from PostgreSQL
        ├── Conflict                     23505 unique violation (constraint, fields)
        │   └── VersionConflict          optimistic lock: the row changed since it was read
        ├── ReferenceNotFound            23503 foreign key violation
        ├── ValidationFailed             23502, 23514, 22P02, 22001 and the rest of class 22
        ├── TransactionConflict          40001 / 40P01 (after retries are exhausted)
        ├── QueryTimeout                 57014 statement timeout or cancel
        ├── PermissionDenied             42501
        ├── DatabaseUnavailable          class 08, 57P01-57P03, 53300, pool timeouts
        │   └── PoolExhausted            no pooled connection was free in time
        └── CommitOutcomeUnknown         the connection broke during COMMIT: never retried
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import psycopg
import psycopg.errors as pg_errors
import psycopg_pool

__all__ = [
    "PgkeelError",
    "ConfigError",
    "EmbeddedServerError",
    "UsageError",
    "CacheUnreachable",
    "DatabaseError",
    "Conflict",
    "ReferenceNotFound",
    "ValidationFailed",
    "TransactionConflict",
    "QueryTimeout",
    "PermissionDenied",
    "DatabaseUnavailable",
    "PoolExhausted",
    "CommitOutcomeUnknown",
    "TenantRequired",
    "SchemaMismatch",
    "InvalidParameter",
    "NotFound",
    "RuleViolation",
    "Unauthorized",
    "Forbidden",
    "VersionConflict",
    "MigrationError",
    "InvalidMigrationFile",
    "MigrationFailed",
    "MigrationDrift",
    "OutOfOrder",
    "IrreversibleMigration",
    "LintFailed",
    "MigrationLockTimeout",
    "BaselineRefused",
    "ProductionRefused",
    "AuditError",
    "AuditNotInstalled",
    "AuditEventInvalid",
    "AuditCursorInvalid",
    "AuditQueueFull",
    "AuditAppenderClosed",
    "AuditChainBroken",
    "AuditCheckpointInvalid",
    "translate",
    "is_retryable_conflict",
    "is_connection_lost",
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


class EmbeddedServerError(PgkeelError):
    """An embedded server could not be started or stopped."""

    code = "embedded_server_error"


class UsageError(PgkeelError):
    """pgkeel was called in a way it does not support."""

    code = "usage_error"


class TenantRequired(UsageError):
    """A tenant-scoped operation ran with no organization in the context."""

    code = "tenant_required"


class SchemaMismatch(ConfigError):
    """A declared table does not match the live database."""

    code = "schema_mismatch"


class InvalidParameter(PgkeelError):
    """A request parameter is unknown or malformed."""

    code = "invalid_parameter"
    http_status: ClassVar[int] = 400


class RuleViolation(PgkeelError):
    """A business rule forbids this change (`details.rule` names the rule)."""

    code = "rule_violation"
    http_status: ClassVar[int] = 422


class NotFound(PgkeelError):
    """The requested row does not exist (in this organization)."""

    code = "not_found"
    http_status: ClassVar[int] = 404


class Unauthorized(PgkeelError):
    """Authentication is required, or the credentials are not valid."""

    code = "unauthorized"
    http_status: ClassVar[int] = 401


class Forbidden(PgkeelError):
    """The caller lacks the permission this operation needs."""

    code = "forbidden"
    http_status: ClassVar[int] = 403


class DatabaseError(PgkeelError):
    """PostgreSQL reported an error."""

    code = "database_error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        hint: str | None = None,
        sqlstate: str | None = None,
    ) -> None:
        super().__init__(message, details=details, hint=hint)
        self.sqlstate = sqlstate


class Conflict(DatabaseError):
    """A row with the same unique value already exists."""

    code = "conflict"

    @property
    def constraint(self) -> str | None:
        value = self.details.get("constraint")
        return value if isinstance(value, str) else None

    @property
    def fields(self) -> list[str]:
        value = self.details.get("fields")
        return list(value) if isinstance(value, list) else []


class VersionConflict(Conflict):
    """The row was changed by someone else since it was read."""

    code = "version_conflict"


class ReferenceNotFound(DatabaseError):
    """A referenced row does not exist."""

    code = "reference_not_found"


class ValidationFailed(DatabaseError):
    """A value was rejected by the database."""

    code = "validation_failed"


class TransactionConflict(DatabaseError):
    """The transaction kept conflicting with concurrent ones and was given up."""

    code = "transaction_conflict"


class QueryTimeout(DatabaseError):
    """The query was cancelled because it ran past its time limit."""

    code = "query_timeout"


class PermissionDenied(DatabaseError):
    """The database role lacks the privilege for this operation."""

    code = "permission_denied"


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached right now."""

    code = "database_unavailable"


class PoolExhausted(DatabaseUnavailable):
    """No pooled connection became free in time."""

    code = "pool_exhausted"


class CommitOutcomeUnknown(DatabaseError):
    """The connection was lost during COMMIT: the change may or may not have been applied."""

    code = "commit_outcome_unknown"


# SQLSTATE -> class; exact codes first, then two-character class prefixes.
_BY_SQLSTATE: dict[str, type[DatabaseError]] = {
    "23505": Conflict,
    "23503": ReferenceNotFound,
    "23502": ValidationFailed,
    "23514": ValidationFailed,
    "23P01": Conflict,
    "40001": TransactionConflict,
    "40P01": TransactionConflict,
    "40003": CommitOutcomeUnknown,
    "08007": CommitOutcomeUnknown,
    "57014": QueryTimeout,
    "57P01": DatabaseUnavailable,
    "57P02": DatabaseUnavailable,
    "57P03": DatabaseUnavailable,
    "53300": DatabaseUnavailable,
    "42501": PermissionDenied,
}
_BY_CLASS: dict[str, type[DatabaseError]] = {
    "08": DatabaseUnavailable,
    "22": ValidationFailed,
}
_RETRYABLE = frozenset({"40001", "40P01"})

_MESSAGES: dict[type[DatabaseError], tuple[str, str | None]] = {
    Conflict: ("A row with the same unique value already exists.",
               "Use a different value, or update the existing row."),
    ReferenceNotFound: ("A referenced row does not exist.",
                        "Check that the referenced id exists in this organization."),
    ValidationFailed: ("A value was rejected by the database.",
                       "Check the field's type, length and required-ness."),
    TransactionConflict: ("The transaction conflicted with a concurrent one.",
                          "Retry the request."),
    QueryTimeout: ("The query ran past its time limit and was cancelled.",
                   "Narrow the request, or raise the timeout."),
    PermissionDenied: ("The database refused this operation.", None),
    DatabaseUnavailable: ("The database is unavailable.", "Retry in a few seconds."),
    CommitOutcomeUnknown: (
        "The connection was lost during COMMIT; the change may or may not be applied.",
        "Check whether the change is present before repeating it.",
    ),
}

# "Key (org_id, email)=(...) already exists." -- only the column list is kept, never values.
_KEY_COLUMNS = re.compile(r"^Key \((?P<cols>[^)]*)\)=")


def _fields_from_detail(detail: str | None) -> list[str]:
    if not detail:
        return []
    match = _KEY_COLUMNS.match(detail)
    if not match:
        return []
    return [c.strip().strip('"') for c in match.group("cols").split(",") if c.strip()]


def is_retryable_conflict(exc: BaseException) -> bool:
    """True for serialization failures and deadlocks, which a whole-transaction retry can fix."""
    return isinstance(exc, psycopg.Error) and exc.sqlstate in _RETRYABLE


def is_connection_lost(exc: BaseException) -> bool:
    """True when the error means the connection itself is gone."""
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return False
    if isinstance(exc, psycopg.OperationalError):
        state = exc.sqlstate
        return state is None or state.startswith("08") or state in {"57P01", "57P02", "57P03"}
    return isinstance(exc, psycopg.InterfaceError)


def translate(exc: BaseException) -> PgkeelError:
    """Map a driver or pool exception to its pgkeel error (callers `raise ... from exc`)."""
    if isinstance(exc, PgkeelError):
        return exc
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return PoolExhausted(hint="Retry in a few seconds, or raise DB_POOL_MAX_SIZE.")
    if isinstance(exc, psycopg_pool.PoolClosed):
        return DatabaseUnavailable("The connection pool is closed.")
    if not isinstance(exc, psycopg.Error):
        return PgkeelError(str(exc) or type(exc).__name__)

    state = exc.sqlstate
    cls: type[DatabaseError] | None = None
    if state is not None:
        cls = _BY_SQLSTATE.get(state) or _BY_CLASS.get(state[:2])
    elif is_connection_lost(exc):
        cls = DatabaseUnavailable
    if cls is None:
        # Unclassified: keep the SQLSTATE, never the server's message (it can quote SQL or data).
        name = type(exc).__name__ if isinstance(exc, pg_errors.Error) else "Error"
        return DatabaseError(f"The database reported an error ({name}).",
                             details={"sqlstate": state}, sqlstate=state)

    message, hint = _MESSAGES.get(cls, (None, None))
    diag = exc.diag
    details: dict[str, Any] = {"sqlstate": state}
    if diag.constraint_name:
        details["constraint"] = diag.constraint_name
    if diag.table_name:
        details["table"] = diag.table_name
    if diag.column_name:
        details["fields"] = [diag.column_name]
    elif cls in (Conflict, ReferenceNotFound):
        details["fields"] = _fields_from_detail(diag.message_detail)
    return cls(message, details=details, hint=hint, sqlstate=state)


class MigrationError(PgkeelError):
    """A migration set could not be read, checked or applied."""

    code = "migration_error"


class InvalidMigrationFile(MigrationError):
    """A migration file's name, header or SQL text is malformed."""

    code = "invalid_migration_file"


class MigrationFailed(MigrationError):
    """A migration statement failed."""

    code = "migration_failed"


class MigrationDrift(MigrationError):
    """The migration history no longer matches the migration files."""

    code = "migration_drift"


class OutOfOrder(MigrationError):
    """A pending migration's version is older than one already applied."""

    code = "migration_out_of_order"


class IrreversibleMigration(MigrationError):
    """An applied migration has no undo file, so it cannot be undone."""

    code = "irreversible_migration"


class LintFailed(MigrationError):
    """Pending migrations have lint errors."""

    code = "migration_lint_failed"


class MigrationLockTimeout(MigrationError):
    """Another migration runner held the migration lock for too long."""

    code = "migration_lock_timeout"


class BaselineRefused(MigrationError):
    """A baseline can only be set on a history without applied migrations."""

    code = "baseline_refused"


class ProductionRefused(MigrationError):
    """This destructive command is refused when APP_ENV=production."""

    code = "production_refused"


class AuditError(PgkeelError):
    """The audit log could not do what was asked."""

    code = "audit_error"


class AuditNotInstalled(AuditError):
    """The audit schema is not installed in this database."""

    code = "audit_not_installed"


class AuditEventInvalid(AuditError):
    """This audit event cannot be stored."""

    code = "audit_event_invalid"
    http_status: ClassVar[int] = 422


class AuditCursorInvalid(AuditError):
    """The audit list cursor is malformed."""

    code = "audit_cursor_invalid"
    http_status: ClassVar[int] = 400


class AuditQueueFull(AuditError):
    """The audit appender's queue is full."""

    code = "audit_queue_full"
    http_status: ClassVar[int] = 503


class AuditAppenderClosed(AuditError):
    """The audit appender is closed (or was never started)."""

    code = "audit_appender_closed"
    http_status: ClassVar[int] = 503


class AuditChainBroken(AuditError):
    """Audit verification found edited, deleted or inserted rows."""

    code = "audit_chain_broken"


class AuditCheckpointInvalid(AuditError):
    """The audit checkpoint is malformed or its signature does not match."""

    code = "audit_checkpoint_invalid"


class CacheUnreachable(PgkeelError):
    """Redis did not answer."""

    code = "cache_unreachable"
