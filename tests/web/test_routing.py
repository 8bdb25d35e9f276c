"""DirectRoute: simple routes run without FastAPI's dependency solver and answer exactly as
FastAPI would; everything else is FastAPI's."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from pgkeel.db import current_context
from pgkeel.security import Principal
from pgkeel.web import (
    DirectRoute,
    OrjsonResponse,
    RequestIdMiddleware,
    install_error_handlers,
    requires,
)
from pgkeel.web.routing import plan_for

pytestmark = pytest.mark.smoke

ORG = uuid.UUID("00000000-0000-4000-8000-00000000000a")
READER, ADMIN = "reader-token", "admin-token"
CALLS: dict[str, int] = {}


class Tokens:
    async def authenticate(self, token: str) -> Principal | None:
        permissions = {READER: {"THINGS_READ"}, ADMIN: {"THINGS_READ", "ADMIN"}}.get(token)
        if permissions is None:
            return None
        return Principal(user_id=uuid.uuid4(), org_id=ORG, permissions=frozenset(permissions))


async def counted(request: Request) -> str:
    CALLS["counted"] = CALLS.get("counted", 0) + 1
    return request.url.path


async def broken(request: Request) -> str:
    raise RuntimeError("the dependency failed")


Reader = Annotated[Principal, Depends(requires("THINGS_READ"))]
Counted = Annotated[str, Depends(counted)]


def make_app(route_class: type[APIRoute]) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    app.state.pgkeel_authenticator = Tokens()
    router = APIRouter(route_class=route_class)

    @router.get("/things/{thing_id}")
    async def thing(thing_id: uuid.UUID, principal: Reader, path: Counted,
                    again: Counted) -> Response:
        ctx = current_context()
        return OrjsonResponse({"id": thing_id, "org": ctx.org_id, "actor": ctx.actor_id,
                               "actorIsCaller": ctx.actor_id == principal.user_id,
                               "path": path, "same": path is again,
                               "calls": CALLS.get("counted")})

    @router.get("/pages/{number}/{word}")
    async def page(number: int, word: str, _: Reader) -> Response:
        return OrjsonResponse({"number": number, "word": word})

    @router.get("/fails/{thing_id}")
    async def fails(thing_id: uuid.UUID, _: Reader) -> Response:
        raise LookupError("the endpoint failed")

    @router.get("/broken", dependencies=[Depends(broken)])
    async def broken_route(_: Reader) -> Response:
        return OrjsonResponse({})

    @router.get("/query")
    async def query(q: str, _: Reader) -> Response:          # a query parameter: FastAPI's
        return OrjsonResponse({"q": q})

    @router.get("/model")
    async def model(_: Reader) -> dict[str, Any]:              # no Response: FastAPI's
        return {"ok": True}

    app.include_router(router)
    admin = APIRouter(route_class=route_class)

    @admin.get("/admin/things/{thing_id}")
    async def admin_thing(thing_id: uuid.UUID, _: Reader) -> Response:
        return OrjsonResponse({"id": thing_id})

    # The router's own dependency must hold on its direct routes too.
    app.include_router(admin, dependencies=[Depends(requires("ADMIN"))])
    app.state.routes = [*router.routes, *admin.routes]
    return app


async def answers(app: FastAPI, path: str, token: str | None = READER
                  ) -> tuple[int, Any]:
    CALLS.clear()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                 base_url="http://test") as client:
        response = await client.get(path, headers=headers)
    body = response.json()
    if isinstance(body, dict) and isinstance(body.get("details"), dict):
        body["details"].pop("request_id", None)   # made per request
    if isinstance(body, dict):
        body.pop("actor", None)                   # a new principal per request
    return response.status_code, body


THING = "5f0c8a4e-2b7d-4c1e-9a3f-6d2e1b0c9a87"
PATHS = [
    f"/things/{THING}", f"/things/{THING.upper()}", f"/things/{THING.replace('-', '')}",
    f"/things/{{{THING}}}", "/things/not-a-uuid", "/things/", f"/things/{THING}x",
    "/pages/7/word", "/pages/007/word", "/pages/-3/w%20x", "/pages/1_000/w", "/pages/+5/w",
    "/pages/99999999999999999999999/w", "/pages/x/w",
    f"/fails/{THING}", "/broken", "/query?q=1", "/query", "/model",
    f"/admin/things/{THING}",
]


@pytest.mark.parametrize("path", PATHS)
async def test_a_direct_route_answers_as_fastapi_does(path: str) -> None:
    direct, fastapi_ = make_app(DirectRoute), make_app(APIRoute)
    for token in (READER, ADMIN, None, "bad-token"):
        assert await answers(direct, path, token) == await answers(fastapi_, path, token), token


async def test_the_caller_is_the_context_inside_and_nothing_leaks_after() -> None:
    app = make_app(DirectRoute)
    before = current_context()
    status, body = await answers(app, f"/things/{THING}")
    assert status == 200
    assert body["org"] == str(ORG) and body["actorIsCaller"] is True
    assert body["same"] is True and body["calls"] == 1       # one call, cached as FastAPI does
    assert current_context() == before
    assert (await answers(app, f"/fails/{THING}"))[0] == 500
    assert current_context() == before


async def test_dependency_overrides_are_honoured() -> None:
    app = make_app(DirectRoute)

    async def overridden(request: Request) -> str:
        return "overridden"

    app.dependency_overrides[counted] = overridden
    status, body = await answers(app, f"/things/{THING}")
    assert (status, body["path"]) == (200, "overridden")
    app.dependency_overrides.clear()
    assert (await answers(app, f"/things/{THING}"))[1]["path"] == f"/things/{THING}"


def test_which_routes_run_directly() -> None:
    app = make_app(DirectRoute)
    direct = {route.path for route in app.state.routes if isinstance(route, APIRoute)
              and plan_for(route.dependant, route.response_field) is not None}
    assert {"/things/{thing_id}", "/pages/{number}/{word}", "/fails/{thing_id}",
            "/broken"} <= direct
    assert not direct & {"/query", "/model"}


async def test_a_generator_dependency_without_the_mark_goes_to_fastapi() -> None:
    async def session() -> Any:
        yield "s"

    router = APIRouter(route_class=DirectRoute)

    @router.get("/s")
    async def uses(value: Annotated[str, Depends(session)]) -> Response:
        return OrjsonResponse({"value": value})

    route = router.routes[0]
    assert isinstance(route, APIRoute)
    assert plan_for(route.dependant, route.response_field) is None
