"""No route of the reference service runs a dependency on a worker thread: FastAPI sends a
plain `def` dependency (or endpoint) to its thread pool, a hop that costs more than the
look-ups these do. A dependency added later is covered without touching this file."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant

from pgkeel.web.contract import api_routes
from pgkeel_apps.main import create_app


def _runs_on_the_loop(call: Any) -> bool:
    # A dependency object (HTTPBearer(), a class instance) runs its __call__.
    target = call if inspect.isfunction(call) or inspect.ismethod(call) else type(call).__call__
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def test_every_dependency_and_endpoint_is_a_coroutine():
    routes = api_routes(create_app())
    assert len(routes) >= 50
    on_threads = sorted({
        f"{getattr(call, '__module__', '?')}.{getattr(call, '__qualname__', repr(call))}"
        for route in routes
        for call in [route.dependant.call, *_calls(route.dependant)]
        if call is not None and not _runs_on_the_loop(call)})
    assert on_threads == []


def test_the_check_sees_a_plain_function():
    def lookup() -> int:
        return 1

    async def coroutine() -> int:
        return 1

    assert not _runs_on_the_loop(lookup)
    assert _runs_on_the_loop(coroutine)
