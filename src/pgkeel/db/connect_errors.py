"""Why a connection could not be made: refused, unknown host, authentication failed (or no
password given), database missing, timeout, not a PostgreSQL server, SSL refused -- each with
the (redacted) target and a hint that fits, since retrying never fixes a typo.

libpq reports connection failures without a SQLSTATE, so this is the one place pgkeel reads an
error's text: it picks the cause; only a failure of none of these kinds shows libpq's own reason
(which never contains the password).
"""

from __future__ import annotations

import re
from enum import StrEnum

import psycopg
from psycopg.conninfo import conninfo_to_dict

from pgkeel.errors import DatabaseUnavailable

__all__ = ["ConnectCause", "classify_connect_error", "connect_failure"]


class ConnectCause(StrEnum):
    """`details.cause` of a DatabaseUnavailable raised when connecting."""

    REFUSED = "refused"
    UNKNOWN_HOST = "unknown_host"
    AUTH_FAILED = "auth_failed"
    DATABASE_MISSING = "database_missing"
    TIMEOUT = "timeout"
    NOT_POSTGRES = "not_postgres"
    SSL = "ssl"
    OTHER = "other"


_PATTERNS: tuple[tuple[ConnectCause, re.Pattern[str]], ...] = (
    (ConnectCause.DATABASE_MISSING, re.compile(r'database "[^"]*" does not exist')),
    (ConnectCause.AUTH_FAILED, re.compile(
        r'authentication failed|role "[^"]*" does not exist|no pg_hba\.conf entry'
        r"|password is required|no password supplied|not permitted to log in")),
    (ConnectCause.UNKNOWN_HOST, re.compile(
        r"failed to resolve host|could not translate host name|Name or service not known"
        r"|nodename nor servname")),
    (ConnectCause.TIMEOUT, re.compile(r"timeout expired|timed out", re.IGNORECASE)),
    (ConnectCause.REFUSED, re.compile(r"Connection refused|No such file or directory")),
    (ConnectCause.NOT_POSTGRES, re.compile(
        r"invalid response to SSL negotiation|expected authentication request from server"
        r"|received invalid response|unexpected message from server")),
    (ConnectCause.SSL, re.compile(r"SSL", re.IGNORECASE)),
)

_NO_PASSWORD = re.compile(r"no password supplied|password is required")
_SEVERITY = re.compile(r"^(?:FATAL|ERROR|connection is bad):\s*")


def _reason(exc: BaseException) -> str:
    """libpq's reason for a failure of no known kind: the last line's text after its last
    `failed:`, without the severity (`FATAL:`)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    reason = _SEVERITY.sub("", last.rpartition("failed:")[2].strip())
    return reason.rstrip(".") or type(exc).__name__


def classify_connect_error(exc: BaseException) -> ConnectCause:
    """The cause of a failed connection attempt (OTHER when the text says none of these)."""
    text = str(exc)
    for cause, pattern in _PATTERNS:
        if pattern.search(text):
            return cause
    return ConnectCause.OTHER


def connect_failure(exc: psycopg.OperationalError | OSError, conninfo: str, shown: str | None,
                    *, timeout_s: float) -> DatabaseUnavailable:
    """A DatabaseUnavailable naming the cause of `exc`, the target `shown` (the redacted URL)
    and what to do about it. `conninfo` is the real connection string (for host, port,
    database and user names; its password is never read)."""
    cause = classify_connect_error(exc)
    try:
        parts = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        parts = {}
    host = str(parts.get("host") or "localhost")
    where = f"{host}:{parts.get('port') or 5432}"
    database = str(parts.get("dbname") or parts.get("user") or "")
    user = str(parts.get("user") or "")
    target = shown or where
    messages: dict[ConnectCause, tuple[str, str]] = {
        ConnectCause.REFUSED: (
            f"Nothing accepts connections at {where} (connection refused; {target}).",
            "Check the host and port in DATABASE_URL, and that PostgreSQL is running there."),
        ConnectCause.UNKNOWN_HOST: (
            f"The database host {host!r} is unknown ({target}).",
            "Check the host name in DATABASE_URL."),
        ConnectCause.AUTH_FAILED: (
            f"PostgreSQL at {where} refused the login of role {user!r} ({target}).",
            "Check the user and password in DATABASE_URL, and the server's pg_hba.conf.")
        if not _NO_PASSWORD.search(str(exc)) else (
            f"PostgreSQL at {where} asks role {user!r} for a password and none was given "
            f"({target}).",
            "Put the password in DATABASE_URL (postgresql://user:password@host/db) or in "
            "~/.pgpass."),
        ConnectCause.DATABASE_MISSING: (
            f"The database {database!r} does not exist at {where} ({target}).",
            f"Create it (createdb {database}), or fix the database name in DATABASE_URL."),
        ConnectCause.TIMEOUT: (
            f"No answer from {where} within {timeout_s:g} s ({target}).",
            "Check the host, port and firewall; if the server is only slow, retry or raise "
            "DB_CONNECT_TIMEOUT_S."),
        ConnectCause.NOT_POSTGRES: (
            f"Something at {where} answered, but not as PostgreSQL does ({target}).",
            "Check the port in DATABASE_URL: another service listens there."),
        ConnectCause.SSL: (
            f"The SSL connection to {where} failed: {_reason(exc)} ({target}).",
            "Check sslmode (DB_SSLMODE or ?sslmode= in DATABASE_URL) against what the server "
            "supports."),
        ConnectCause.OTHER: (
            f"The database at {target} is unavailable: {_reason(exc)}.",
            "Retry in a few seconds; if it persists, check DATABASE_URL and the server's log."),
    }
    message, hint = messages[cause]
    return DatabaseUnavailable(message, details={"database": target, "cause": str(cause)},
                               hint=hint)
