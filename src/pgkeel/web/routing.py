"""A FastAPI route class that runs simple routes without FastAPI's general dependency solver.

    router = APIRouter(route_class=DirectRoute)

    @router.get("/v1/things/{thing_id}")
    async def get_thing(thing_id: UUID, _: Reader, service: Service) -> Response: ...

FastAPI solves every request's dependencies with a general resolver: validation of every
parameter kind, caches, exit stacks and cancel scopes for `yield` dependencies. For a hot read
that takes only its path and a few dependencies of the request, that machinery costs more CPU
than the rest of the request's Python. A route is run directly when all it takes is:

- path parameters typed `str`, `int` or `UUID` (a value not in its canonical form goes to
  FastAPI, which accepts it or answers 422 exactly as it always does);
- the `Request`, and dependencies that are `async def` functions of the request alone (or of
  nothing), or pgkeel's `requires(...)`;
- and it is an `async def` whose return annotation is a `Response`.

Any other route, and any request while `app.dependency_overrides` is set or FastAPI's own
telemetry records the request, is served by FastAPI's handler. OpenAPI is FastAPI's in both
cases. The one difference: `requires(...)`'s scope ends when the endpoint returns, just
before the response is sent, instead of after.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar
from uuid import UUID

import fastapi.routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["DirectRoute", "direct_dependency"]

F = TypeVar("F", bound=Callable[..., Any])
Handler = Callable[[Request], Coroutine[Any, Any, Response]]

_DIRECT_MARK = "__pgkeel_direct__"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_INT = re.compile(r"-?[0-9]{1,18}")
_MISS: Any = object()


def _telemetry_reader() -> Callable[[], Any]:
    """FastAPI's own telemetry (newer versions) records each dependency it solves: while it
    records a request, the request is FastAPI's."""
    try:
        from fastapi.telemetry import get_telemetry_data
    except ImportError:  # pragma: no cover - an older FastAPI: nothing to defer to
        return lambda: None
    return get_telemetry_data


_telemetry_data = _telemetry_reader()


def direct_dependency(fn: F) -> F:
    """Mark an async-generator dependency as safe for `DirectRoute`: its exit may run when
    the endpoint returns (before the response is sent) and needs no shield from
    cancellation (it does not await)."""
    setattr(fn, _DIRECT_MARK, True)
    return fn


def _as_uuid(text: str) -> Any:
    return UUID(text) if len(text) == 36 and _UUID.fullmatch(text) else _MISS


def _as_int(text: str) -> Any:
    return int(text) if _INT.fullmatch(text) else _MISS


def _as_str(text: str) -> Any:
    return text


_CONVERTERS: dict[Any, Callable[[str], Any]] = {UUID: _as_uuid, int: _as_int, str: _as_str}


class _Step:
    """One dependency of the route: how to call it and where its value goes."""

    __slots__ = ("call", "generator", "name", "same_as", "takes_request")

    def __init__(self, dependant: Dependant, same_as: int | None) -> None:
        assert dependant.call is not None
        self.call = dependant.call
        self.generator = inspect.isasyncgenfunction(dependant.call)
        self.name = dependant.name
        self.takes_request = dependant.request_param_name is not None
        self.same_as = same_as


class _Plan:
    """What a direct request does, worked out once per route."""

    def __init__(self, endpoint: Callable[..., Any], request_name: str | None,
                 path: list[tuple[str, str, Callable[[str], Any]]], steps: list[_Step]) -> None:
        self.endpoint = endpoint
        self.request_name = request_name
        self.path = path
        self.steps = steps


def _only_the_request(dependant: Dependant, *, path: bool = False) -> bool:
    """No parameters FastAPI would have to validate or inject beyond the request (and the
    path's, with `path`)."""
    return not ((dependant.path_params and not path) or dependant.query_params
                or dependant.header_params or dependant.cookie_params or dependant.body_params
                or dependant.websocket_param_name or dependant.http_connection_param_name
                or dependant.response_param_name or dependant.background_tasks_param_name
                or dependant.security_scopes_param_name
                or getattr(dependant, "own_oauth_scopes", None)
                or getattr(dependant, "parent_oauth_scopes", None)
                or getattr(dependant, "concurrency", None) is not None)


def _step_of(dependant: Dependant) -> bool:
    """Whether a dependency can be called directly."""
    call = dependant.call
    if call is None or dependant.dependencies or not _only_the_request(dependant):
        return False
    if inspect.isasyncgenfunction(call):
        return bool(getattr(call, _DIRECT_MARK, False))
    return inspect.iscoroutinefunction(call)


def _returns_response(endpoint: Callable[..., Any]) -> bool:
    try:
        hints = typing.get_type_hints(endpoint)
    except Exception:  # an annotation that does not resolve: leave it to FastAPI
        return False
    returned = hints.get("return")
    return isinstance(returned, type) and issubclass(returned, Response)


def plan_for(dependant: Dependant, response_field: Any) -> _Plan | None:
    """The direct plan of a route, or None when FastAPI's handler must serve it."""
    endpoint = dependant.call
    if (endpoint is None or not inspect.iscoroutinefunction(endpoint)
            or response_field is not None or not _returns_response(endpoint)
            or not _only_the_request(dependant, path=True)):
        return None
    path: list[tuple[str, str, Callable[[str], Any]]] = []
    for field in dependant.path_params:
        info = field.field_info
        convert = _CONVERTERS.get(info.annotation)
        if convert is None or info.metadata:
            return None
        path.append((field.name, field.alias, convert))
    steps: list[_Step] = []
    seen: dict[Any, int] = {}
    for sub in dependant.dependencies:
        if not _step_of(sub):
            return None
        same_as = seen.get(sub.call) if sub.use_cache else None
        if sub.use_cache and same_as is None:
            seen[sub.call] = len(steps)
        steps.append(_Step(sub, same_as))
    return _Plan(endpoint, dependant.request_param_name, path, steps)


def _direct_handler(plan: _Plan, standard: Handler, overrides_provider: Any) -> Handler:
    """A handler running `plan`, deferring to `standard` wherever the plan does not apply."""

    async def handler(request: Request) -> Response:
        if (getattr(overrides_provider, "dependency_overrides", None)
                or _telemetry_data() is not None):
            return await standard(request)
        kwargs: dict[str, Any] = {}
        params = request.path_params
        for name, alias, convert in plan.path:
            value = convert(params[alias])
            if value is _MISS:
                return await standard(request)
            kwargs[name] = value
        if plan.request_name is not None:
            kwargs[plan.request_name] = request
        values: list[Any] = []
        exits: list[AbstractAsyncContextManager[Any]] = []
        try:
            for step in plan.steps:
                if step.same_as is not None:
                    value = values[step.same_as]
                elif step.generator:
                    manager = asynccontextmanager(step.call)(
                        *((request,) if step.takes_request else ()))
                    value = await manager.__aenter__()
                    exits.append(manager)
                else:
                    value = await (step.call(request) if step.takes_request else step.call())
                values.append(value)
                if step.name is not None:
                    kwargs[step.name] = value
            response: Response = await plan.endpoint(**kwargs)
        except BaseException as exc:
            for manager in reversed(exits):
                await manager.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        for manager in reversed(exits):
            await manager.__aexit__(None, None, None)
        return response

    return handler


class DirectRoute(APIRoute):
    """An APIRoute that serves simple routes (see the module's docstring) without FastAPI's
    general dependency solver, and every other route exactly as APIRoute does."""

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        route: Any = self
        # A router included with its own dependencies or prefix serves this route through an
        # "effective" copy of it (newer FastAPI), whose dependant holds those dependencies.
        effective = getattr(fastapi.routing, "_effective_route_context_var", None)
        context = effective.get() if effective is not None else None
        if context is not None and getattr(context, "original_route", None) is self:
            route = context
        plan = plan_for(route.dependant, route.response_field)
        if plan is None:
            return standard
        return _direct_handler(plan, standard, route.dependency_overrides_provider)
