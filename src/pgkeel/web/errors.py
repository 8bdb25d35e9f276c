"""pgkeel errors as HTTP responses: status by error class, body `{code, message, details, hint}`.

The body never carries SQL text, a stack trace or a server message: only the error's own
fields, which pgkeel builds without them.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from pgkeel.db.context import current_context
from pgkeel.errors import (
    CommitOutcomeUnknown,
    ConfigError,
    Conflict,
    DatabaseError,
    DatabaseUnavailable,
    PermissionDenied,
    PgkeelError,
    QueryTimeout,
    RateLimiterUnavailable,
    ReferenceNotFound,
    TransactionConflict,
    UsageError,
    ValidationFailed,
)
from pgkeel.web.responses import OrjsonResponse

__all__ = ["HTTP_STATUS", "RETRY_AFTER_S", "error_response", "install_error_handlers",
           "status_for"]

log = logging.getLogger("pgkeel.web")

HTTP_STATUS: dict[type[PgkeelError], int] = {
    Conflict: 409,
    ReferenceNotFound: 404,
    ValidationFailed: 422,
    TransactionConflict: 409,
    QueryTimeout: 504,
    DatabaseUnavailable: 503,
    CommitOutcomeUnknown: 503,
    PermissionDenied: 500,  # the database role's grants are wrong: not the client's fault
    UsageError: 500,
    ConfigError: 500,
}
"""Most specific class wins (looked up along the exception's MRO)."""

RETRY_AFTER_S = 2
"""Sent as Retry-After with 503 DatabaseUnavailable."""

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 422: "validation_failed",
               429: "too_many_requests"}


_INTERNAL = frozenset({"constraint", "table", "sqlstate", "schema"})
"""Details of a translated database error that name database objects: logged, not sent."""


def status_for(exc: PgkeelError) -> int:
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
        status = getattr(cls, "http_status", None)
        if isinstance(status, int):
            return status
    return 500


def error_response(exc: PgkeelError) -> Response:
    """The HTTP response for a pgkeel error."""
    status = status_for(exc)
    headers = {}
    if isinstance(exc, DatabaseUnavailable | RateLimiterUnavailable):
        headers["Retry-After"] = str(RETRY_AFTER_S)
    retry_after = getattr(exc, "retry_after_s", None)
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    body = exc.to_dict()
    if isinstance(exc, DatabaseError) and exc.sqlstate is not None:
        # The client learns which fields clashed, never the database's names for things.
        body["details"] = {k: v for k, v in body["details"].items() if k not in _INTERNAL}
    if status >= 500 and not isinstance(exc, DatabaseUnavailable | CommitOutcomeUnknown |
                                        QueryTimeout | RateLimiterUnavailable):
        # An internal failure: say so, and keep its details in the log only.
        log.error("%s: %s %s", type(exc).__name__, exc.message, exc.details)
        body = {"code": "internal_error", "message": "Internal server error.",
                "details": {}, "hint": None}
    request_id = current_context().request_id
    if request_id:
        body["details"] = {**body["details"], "request_id": request_id}
    return OrjsonResponse(body, status_code=status, headers=headers)


def _body(status: int, code: str, message: str, details: dict[str, object] | None = None,
          hint: str | None = None) -> Response:
    return OrjsonResponse({"code": code, "message": message, "details": details or {},
                           "hint": hint}, status_code=status)


async def _pgkeel_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PgkeelError)
    return error_response(exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [{"field": ".".join(str(p) for p in err.get("loc", ())[1:]) or None,
                 "problem": err.get("msg")} for err in exc.errors()]
    return _body(422, "validation_failed", "The request is not valid.",
                 {"problems": problems}, "Fix the listed fields.")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "Request failed."
    response = _body(exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _body(500, "internal_error", "Internal server error.")


def install_error_handlers(app: FastAPI) -> None:
    """Make every error response of `app` a `{code, message, details, hint}` body."""
    app.add_exception_handler(PgkeelError, _pgkeel_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
