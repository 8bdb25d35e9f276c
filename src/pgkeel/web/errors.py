"""pgkeel errors as HTTP responses: status by error class, body `{code, message, details, hint}`.

The body never carries SQL text, a stack trace or a server message: only the error's own
fields, which pgkeel builds without them.
"""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Scope

from pgkeel.db.context import current_context
from pgkeel.errors import (
    CommitOutcomeUnknown,
    ConfigError,
    Conflict,
    DatabaseError,
    DatabaseUnavailable,
    DriverError,
    PermissionDenied,
    PgkeelError,
    QueryTimeout,
    RateLimiterUnavailable,
    ReferenceNotFound,
    TransactionConflict,
    UsageError,
    ValidationFailed,
)
from pgkeel.web.contract import all_routes, document_errors
from pgkeel.web.responses import OrjsonResponse

__all__ = ["HTTP_STATUS", "MAX_PROBLEMS", "RETRY_AFTER_S", "error_body", "error_response",
           "install_error_handlers", "log_failure", "request_summary", "status_for"]

log = logging.getLogger("pgkeel.web")

HTTP_STATUS: dict[type[PgkeelError], int] = {
    Conflict: 409,
    ReferenceNotFound: 409,  # the body names a row that is missing: the URL's own resource exists
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
"""Sent as Retry-After with every 503 (DatabaseUnavailable, CommitOutcomeUnknown, ...)."""

MAX_PROBLEMS = 20
"""A 422 lists at most this many problems (`details.truncated` says when there were more)."""

CHALLENGE = "Bearer"
"""`WWW-Authenticate` on every 401."""

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
               422: "validation_failed", 429: "too_many_requests", 431: "headers_too_large"}


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


_SCOPE_ID = "pgkeel.request_id"


def request_id_of(scope: Scope | None) -> str | None:
    """The request's id: the one `RequestIdMiddleware` set, else (an app without it) one made
    for this request and kept in its scope, so its error body, X-Request-ID header and log
    line agree."""
    request_id = current_context().request_id
    if request_id or scope is None:
        return request_id
    return str(scope.setdefault(_SCOPE_ID, uuid.uuid4().hex))


def _made_id_header(scope: Scope | None) -> dict[str, str]:
    """X-Request-ID for an id made here (the middleware sends its own)."""
    if current_context().request_id or scope is None or _SCOPE_ID not in scope:
        return {}
    return {"X-Request-ID": str(scope[_SCOPE_ID])}


def request_summary(scope: Scope | None) -> dict[str, str | None]:
    """What a log line about a failed request names: its id, method, route template and path
    (also given to the log record as `extra`, for structured handlers)."""
    request_id = request_id_of(scope)
    scope = scope or {}
    return {"request_id": request_id, "method": scope.get("method"),
            "route": getattr(scope.get("route"), "path", None), "path": scope.get("path")}


def log_failure(message: str, exc: BaseException, scope: Scope | None) -> None:
    """An internal failure, logged with its traceback and the request it broke."""
    where = request_summary(scope)
    log.error("%s on %s %s (path %s, request %s)", message, where["method"], where["route"],
              where["path"], where["request_id"], exc_info=exc, extra=where)


def error_response(exc: PgkeelError, request: Request | None = None) -> Response:
    """The HTTP response for a pgkeel error (`request`, when given, is named in the log
    line of a 500)."""
    status = status_for(exc)
    scope = None if request is None else request.scope
    headers = {}
    if status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_S)
    retry_after = getattr(exc, "retry_after_s", None)
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    body = exc.to_dict()
    if isinstance(exc, DatabaseError) and exc.sqlstate is not None:
        # The client learns which fields clashed, never the database's names for things.
        body["details"] = {k: v for k, v in body["details"].items() if k not in _INTERNAL}
    if isinstance(exc, DatabaseUnavailable):
        # Where the database is and why it failed is for the operator (logged once per
        # answer), not for the client: it learns only that it may retry.
        where = request_summary(scope)
        log.warning("%s (%s %s, request %s)", exc.message, where["method"], where["route"],
                    where["request_id"], extra=where)
        body = {"code": body["code"], "message": type(exc)().message, "details": {},
                "hint": "Retry in a few seconds."}
    elif isinstance(exc, DriverError):
        # A bug, but a known kind: its code says which; the driver's message is logged only.
        log_failure(f"{type(exc).__name__}: {exc.message} (caused by {exc.__cause__!r})",
                    exc, scope)
    elif status >= 500 and not isinstance(exc, DatabaseUnavailable | CommitOutcomeUnknown |
                                          QueryTimeout | RateLimiterUnavailable):
        # An internal failure: say so, and keep its details in the log only.
        log_failure(f"{type(exc).__name__}: {exc.message} {exc.details}", exc, scope)
        body = {"code": "internal_error", "message": "Internal server error.",
                "details": {}, "hint": None}
    response = error_body(status, body["code"], body["message"], body["details"], body["hint"],
                          scope=scope)
    response.headers.update(headers)
    return response


def error_body(status: int, code: str, message: str, details: dict[str, object] | None = None,
               hint: str | None = None, *, scope: Scope | None = None) -> Response:
    """A `{code, message, details, hint}` response (with the request id in `details`; give
    the request's `scope` so that an app without `RequestIdMiddleware` gets one too)."""
    details = dict(details or {})
    request_id = request_id_of(scope)
    if request_id:
        details["request_id"] = request_id
    headers = _made_id_header(scope)
    if status == 401:
        headers["WWW-Authenticate"] = CHALLENGE
    return OrjsonResponse({"code": code, "message": message, "details": details, "hint": hint},
                          status_code=status, headers=headers or None)


async def _pgkeel_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PgkeelError)
    return error_response(exc, request)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    problems = [{"field": ".".join(str(p) for p in err.get("loc", ())[1:]) or None,
                 "problem": err.get("msg")} for err in errors[:MAX_PROBLEMS]]
    details: dict[str, object] = {"problems": problems}
    if len(errors) > MAX_PROBLEMS:
        details |= {"truncated": True, "total": len(errors)}
    return error_body(422, "validation_failed", "The request is not valid.", details,
                      "Fix the listed fields.", scope=request.scope)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "Request failed."
    details: dict[str, object] = {}
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Every method the path answers to, not only those of the first route that matched.
        allowed = allowed_methods(request.app, request.scope)
        headers["Allow"] = ", ".join(allowed)
        details["allowed"] = allowed
    response = error_body(exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"),
                          message, details, scope=request.scope)
    response.headers.update(headers)
    return response


def allowed_methods(app: Starlette, scope: Scope) -> list[str]:
    """The methods of every route matching `scope`'s path."""
    methods: set[str] = set()
    for route in all_routes(app.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(scope["path"]):
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log_failure(f"unhandled {type(exc).__name__}", exc, request.scope)
    return error_body(500, "internal_error", "Internal server error.", scope=request.scope)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error response of `app` a `{code, message, details, hint}` body, and
    document each route's error statuses in its OpenAPI (`pgkeel.web.contract`)."""
    app.add_exception_handler(PgkeelError, _pgkeel_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    document_errors(app)
