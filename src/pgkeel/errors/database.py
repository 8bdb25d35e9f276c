"""Errors that came back from PostgreSQL, and their translation from the driver by SQLSTATE.

Database errors are translated once, at the driver boundary, by SQLSTATE (never by message
text); the server's message is never copied, since it can quote SQL or data.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
import psycopg.errors as pg_errors
import psycopg_pool

from pgkeel.errors.base import PgkeelError

__all__ = [
    "DatabaseError",
    "Conflict",
    "VersionConflict",
    "ReferenceNotFound",
    "ValidationFailed",
    "TransactionConflict",
    "QueryTimeout",
    "PermissionDenied",
    "ReadOnlyTransaction",
    "DriverError",
    "DatabaseUnavailable",
    "PoolExhausted",
    "CommitOutcomeUnknown",
    "translate",
    "is_retryable_conflict",
    "is_connection_lost",
]


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
    """The database role lacks the privilege for this operation: a server misconfiguration,
    never the client's fault (HTTP 500; `details.object` names what was refused)."""

    code = "permission_denied"


class ReadOnlyTransaction(DatabaseError):
    """A write reached a read-only transaction: a read routed to a replica
    (`replica=True`) or `readonly=True`. A bug in the calling code (HTTP 500)."""

    code = "read_only_transaction"


class DriverError(DatabaseError):
    """The database driver refused the query before sending it (a bug in the calling code)."""

    code = "driver_error"


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
    "25006": ReadOnlyTransaction,
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
    ReadOnlyTransaction: ("A write was sent in a read-only transaction.",
                          "Writes run in db.transaction() without replica=True or "
                          "readonly=True; replica reads are for reading only."),
    DatabaseUnavailable: ("The database is unavailable.", "Retry in a few seconds."),
    CommitOutcomeUnknown: (
        "The connection was lost during COMMIT; the change may or may not be applied.",
        "Check whether the change is present before repeating it.",
    ),
}

# "Key (org_id, email)=(...) already exists." -- only the column list is kept, never values.
_KEY_COLUMNS = re.compile(r"^Key \((?P<cols>[^)]*)\)=")
# "permission denied for table users", 'new row violates row-level security policy for table
# "users"': the object, for the operator's log line.
_DENIED_OBJECT = re.compile(r"^permission denied for (?P<object>\w+ \S+)$"
                            r'|row-level security policy for (?P<rls>table "[^"]+")')


def _fields_from_detail(detail: str | None) -> list[str]:
    if not detail:
        return []
    match = _KEY_COLUMNS.match(detail)
    if not match:
        return []
    return [c.strip().strip('"') for c in match.group("cols").split(",") if c.strip()]


def _denied_object(diag: psycopg.errors.Diagnostic) -> str | None:
    """What a 42501 refused: "table users" from PostgreSQL's own message, else the table."""
    match = _DENIED_OBJECT.search(diag.message_primary or "")
    if match:
        return match.group("object") or f"{match.group('rls')} (row-level security)"
    if diag.table_name:
        return ".".join(filter(None, (diag.schema_name, diag.table_name)))
    return None


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


_UNSENDABLE = ("A value cannot be stored: it contains a NUL character or cannot be encoded.",
               "Remove NUL characters and lone surrogates from text values.")


def _client_side(exc: BaseException) -> PgkeelError:
    """An error the pool or driver raised without reaching the server (no SQLSTATE)."""
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return PoolExhausted(hint="Retry in a few seconds, or raise DB_POOL_MAX_SIZE.")
    if isinstance(exc, psycopg_pool.PoolClosed):
        return DatabaseUnavailable("The connection pool is closed.")
    if isinstance(exc, UnicodeEncodeError | psycopg.DataError):
        # A value it cannot send: a NUL, a lone surrogate.
        return ValidationFailed(_UNSENDABLE[0], details={"reason": "unsendable_value"},
                                hint=_UNSENDABLE[1])
    if is_connection_lost(exc):
        return DatabaseUnavailable(_MESSAGES[DatabaseUnavailable][0], details={"sqlstate": None},
                                   hint=_MESSAGES[DatabaseUnavailable][1])
    # ProgrammingError, NotSupportedError, ...: a query the driver refused to send (wrong
    # number of parameters, a type it cannot adapt). Its message is logged, never sent.
    return DriverError("The database driver refused the query before sending it.",
                       details={"error": type(exc).__name__})


def translate(exc: BaseException) -> PgkeelError:
    """Map a driver or pool exception to its pgkeel error (callers `raise ... from exc`)."""
    if isinstance(exc, PgkeelError):
        return exc
    if isinstance(exc, psycopg_pool.PoolTimeout | psycopg_pool.PoolClosed | UnicodeEncodeError
                  ) or (isinstance(exc, psycopg.Error) and exc.sqlstate is None):
        return _client_side(exc)
    if not isinstance(exc, psycopg.Error):
        return PgkeelError(str(exc) or type(exc).__name__)

    state = exc.sqlstate
    assert state is not None
    cls = _BY_SQLSTATE.get(state) or _BY_CLASS.get(state[:2])
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
    if cls is PermissionDenied:
        details["object"] = _denied_object(diag)
    return cls(message, details=details, hint=hint, sqlstate=state)
