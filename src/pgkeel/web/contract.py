"""The HTTP contract in OpenAPI: every error status a route can answer, with the error body.

`install_error_handlers(app)` installs `document_errors(app)`, so an app's OpenAPI lists, for
every operation, the statuses its dependencies, parameters and method can produce -- each with
the `ErrorBody` schema -- and the list grammar's parameters for list routes:

    @router.get("/v1/things/{thing_id}")          # 404 (an id route), 422 (a bad id), 500
    async def thing(thing_id: UUID, _: Reader):    # + 401/403 declared by `requires(...)`

Dependencies declare what they can raise with `declares_errors(...)`; a route adds statuses of
its own with `responses=error_responses(...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import BaseRoute

__all__ = ["ErrorBody", "all_routes", "declares_errors", "declares_parameters",
           "declares_security", "document_errors", "error_responses", "route_error_statuses"]

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__pgkeel_errors__"
_PARAMS_MARK = "__pgkeel_parameters__"
_SECURITY_MARK = "__pgkeel_security__"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ALWAYS = (431, 500)
"""Any request can have oversized headers (refused by `RequestLimitsMiddleware`) or fail."""

DESCRIPTIONS: dict[int, str] = {
    400: "A parameter is unknown or malformed (`invalid_parameter`), or the body is not "
         "JSON (`bad_request`).",
    401: "No bearer token, or one that is not valid (`unauthorized`).",
    403: "The caller lacks a permission (`forbidden`).",
    404: "No such resource in the caller's organization (`not_found`).",
    409: "A conflicting change: a unique value, a stale version, a concurrent transaction.",
    413: "The request body is larger than this route accepts (`payload_too_large`).",
    422: "The request is not valid (`validation_failed`, `rule_violation`).",
    429: "Too many requests: wait for `Retry-After` seconds (`rate_limited`).",
    431: "A request header, or all of them, is too large (`headers_too_large`).",
    500: "An unexpected failure (`internal_error`); logged with the request id.",
    503: "The database or a dependency is unavailable: retry after `Retry-After` seconds.",
    504: "The query ran past its time limit (`query_timeout`).",
}

_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "The authentication scheme: Bearer.",
                               "required": True, "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait before retrying.", "required": True,
                          "schema": {"type": "integer", "minimum": 1}}},
    503: {"Retry-After": {"description": "Seconds to wait before retrying.",
                          "schema": {"type": "integer", "minimum": 1}}},
}


class ErrorBody(BaseModel):
    """Every error response's body: a stable code, a message, structured details, a hint."""

    model_config = ConfigDict(title="ErrorBody")

    code: str = Field(description="Stable, machine-readable error code.",
                      examples=["invalid_parameter"])
    message: str = Field(description="What went wrong, for people.")
    details: dict[str, Any] = Field(
        description="Structured facts: the parameter or field, allowed values, request_id.")
    hint: str | None = Field(description="How to fix it, when there is something to do.")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: these statuses, each with the `ErrorBody` schema."""
    return {status: {"model": ErrorBody, "description": DESCRIPTIONS.get(status, "Error."),
                     **({"headers": _HEADERS[status]} if status in _HEADERS else {})}
            for status in statuses}


def declares_errors(*statuses: int) -> Callable[[F], F]:
    """Mark a dependency with the error statuses it can raise (documented on every route that
    uses it, directly or through another dependency)."""

    def mark(func: F) -> F:
        setattr(func, _MARK, tuple(sorted({*getattr(func, _MARK, ()), *statuses})))
        return func

    return mark


def declares_parameters(parameters: Iterable[dict[str, Any]]) -> Callable[[F], F]:
    """Mark a dependency that reads the request itself with the OpenAPI parameter objects it
    accepts (documented on every route that uses it)."""

    def mark(func: F) -> F:
        setattr(func, _PARAMS_MARK, [*getattr(func, _PARAMS_MARK, ()), *parameters])
        return func

    return mark


def all_routes(routes: Iterable[BaseRoute]) -> list[Any]:
    """Every route of an app, included routers flattened (newer FastAPI nests them), each
    with its full `path_format`, `path_regex` and `methods` (and, for API routes,
    `original_route`, `dependant` and `responses`)."""
    flatten = getattr(routing, "iter_route_contexts", None)
    return list(flatten(list(routes))) if flatten is not None else list(routes)


def api_routes(app: FastAPI) -> list[Any]:
    """The app's `APIRoute`s (or their included, prefixed versions)."""
    return [r for r in all_routes(app.routes)
            if isinstance(getattr(r, "original_route", r), APIRoute)]


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for child in dependant.dependencies:
        yield from _dependants(child)


def route_error_statuses(route: Any) -> set[int]:
    """The error statuses `route` can answer: its dependencies' declarations, 404/422 for path
    parameters, 422 for any other parameter or a body, 413 for a body, 409 for writes."""
    statuses: set[int] = set(ALWAYS)
    for dependant in _dependants(route.dependant):
        statuses.update(getattr(dependant.call, _MARK, ()))
        if dependant.path_params:
            statuses.update((404, 422))
        if dependant.query_params or dependant.header_params or dependant.cookie_params:
            statuses.add(422)
        if dependant.body_params:  # 400: a body that is not UTF-8 JSON
            statuses.update((400, 413, 422))
    if (route.methods or set()) & WRITE_METHODS:
        statuses.update((409, 422))
    statuses.update(int(s) for s in route.responses if str(s).isdigit() and int(s) >= 400)
    return statuses


def declares_security(name: str, scheme: dict[str, Any]) -> Callable[[F], F]:
    """Mark a dependency that authenticates the request itself with the OpenAPI security
    scheme it checks: every route using it requires `name`, and the scheme is listed in
    `components.securitySchemes` (what Swagger UI's Authorize button reads). Unlike a
    `Security(...)` parameter, this costs the request nothing."""

    def mark(func: F) -> F:
        setattr(func, _SECURITY_MARK, (name, scheme))
        return func

    return mark


def _declared_security(route: Any) -> dict[str, dict[str, Any]]:
    marks = (getattr(d.call, _SECURITY_MARK, None) for d in _dependants(route.dependant))
    return dict(mark for mark in marks if mark is not None)


def _declared_parameters(route: Any) -> Iterator[dict[str, Any]]:
    for dependant in _dependants(route.dependant):
        yield from getattr(dependant.call, _PARAMS_MARK, ())


def _error_entry(status: int) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "description": DESCRIPTIONS.get(status, "Error."),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    if status in _HEADERS:
        entry["headers"] = _HEADERS[status]
    return entry


def _merge_parameters(operation: dict[str, Any], extra: Iterable[dict[str, Any]]) -> None:
    params: list[dict[str, Any]] = operation.get("parameters", [])
    known = {(p.get("name"), p.get("in")) for p in params}
    added = [p for p in extra if (p["name"], p["in"]) not in known]
    if added:
        operation["parameters"] = [*params, *added]


def _merge_security(operation: dict[str, Any], names: Iterable[str]) -> None:
    requirements: list[dict[str, list[str]]] = operation.get("security", [])
    added: list[dict[str, list[str]]] = [{name: []} for name in names
                                          if {name: []} not in requirements]
    if added:
        operation["security"] = [*requirements, *added]


def _document(app: FastAPI, schema: dict[str, Any]) -> dict[str, Any]:
    schemes = schema.setdefault("components", {}).get("securitySchemes", {})
    components = schema["components"].setdefault("schemas", {})
    components["ErrorBody"] = ErrorBody.model_json_schema(
        ref_template="#/components/schemas/{model}")
    for route in api_routes(app):
        if not route.include_in_schema:
            continue
        path = schema.get("paths", {}).get(route.path_format, {})
        statuses = route_error_statuses(route)
        parameters = list(_declared_parameters(route))
        security = _declared_security(route)
        schemes.update(security)
        for method in route.methods or ():
            operation = path.get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                entry = responses.get(str(status))
                # FastAPI's own 422 (HTTPValidationError) is not what pgkeel sends.
                if entry is None or "HTTPValidationError" in str(entry):
                    responses[str(status)] = _error_entry(status)
            _merge_parameters(operation, parameters)
            _merge_security(operation, security)
    if schemes:
        schema["components"]["securitySchemes"] = schemes
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in components and unused not in str(schema.get("paths")):
            del components[unused]
    return schema


def document_errors(app: FastAPI) -> None:
    """Make `app.openapi()` document every route's error statuses with `ErrorBody`."""
    build = app.openapi
    documented: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not documented or documented[0] is not app.openapi_schema:
            app.openapi_schema = None
            documented[:] = [_document(app, build())]
            app.openapi_schema = documented[0]
        return documented[0]

    app.openapi = openapi  # type: ignore[method-assign]
