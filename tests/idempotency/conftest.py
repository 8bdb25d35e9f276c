"""A small FastAPI app with idempotent routes, served in-process over httpx, on the run's
real database. Each test gets organizations of its own (the keys table is shared)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import StreamingResponse
from psycopg import sql
from pydantic import BaseModel
from starlette.responses import Response

from pgkeel import idempotency
from pgkeel.config import Settings
from pgkeel.db import Database, use_context
from pgkeel.errors import RuleViolation, TransactionConflict
from pgkeel.runtime import Services
from pgkeel.web import (
    Idempotency,
    IdempotencyKey,
    IdempotentRoute,
    OrjsonResponse,
    RequestIdMiddleware,
    idempotent,
    install_error_handlers,
    pgkeel_lifespan,
)


class ItemIn(BaseModel):
    name: str
    delay_s: float = 0.0
    """Seconds the route sleeps after its write, on a key's first attempt only."""
    fail: str | None = None


async def tenant(request: Request) -> AsyncIterator[str]:
    """The test's stand-in for authentication: the organization comes from X-Org."""
    org = request.headers.get("x-org", "")
    with use_context(org_id=org or None, actor_id="tester"):
        yield org


Tenant = Annotated[str, Depends(tenant)]
Required = Annotated[Idempotency, Depends(idempotent(required=True))]


def make_app(settings: Settings, schema: str) -> FastAPI:
    items = sql.Identifier(schema, "items")
    insert = sql.SQL("INSERT INTO {} (org, name) VALUES (%s, %s) RETURNING id").format(items)

    @asynccontextmanager
    async def start(app: FastAPI, services: Services) -> AsyncIterator[None]:
        await idempotency.install(services.db)
        await services.db.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (id bigint GENERATED ALWAYS AS IDENTITY, "
            "org text NOT NULL, name text NOT NULL)").format(items))
        app.state.executions = 0
        yield

    app = FastAPI(default_response_class=OrjsonResponse,
                  lifespan=pgkeel_lifespan(settings, then=start))
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    router = APIRouter(route_class=IdempotentRoute)

    async def create(request: Request, body: ItemIn, idem: Idempotency) -> Response:
        request.app.state.executions += 1
        item_id = await idem.tx.fetch_val(insert, (current_org(request), body.name))
        if body.delay_s and idem.attempts == 1:
            await asyncio.sleep(body.delay_s)
        if body.fail == "rule":
            raise RuleViolation("Names may not be 'forbidden'.", details={"rule": "name"})
        if body.fail == "transient":
            raise TransactionConflict()
        if body.fail == "bug":
            raise RuntimeError("a bug")
        if body.fail == "steal":  # another request takes the key over meanwhile
            await request.app.state.pgkeel.db.execute(
                "UPDATE idempotency.idempotency_keys SET lock_token = gen_random_uuid() "
                "WHERE organization_id = %s AND key = %s",
                (current_org(request), idem.key))
        if body.fail == "stream":
            return StreamingResponse(iter([b"x"]))
        return OrjsonResponse({"id": item_id, "name": body.name, "attempts": idem.attempts},
                              status_code=201, headers={"Location": f"/items/{item_id}",
                                                        "Set-Cookie": "s=1"})

    @router.post("/items", status_code=201)
    async def create_item(request: Request, body: ItemIn, _: Tenant,
                          idem: IdempotencyKey) -> Response:
        return await create(request, body, idem)

    @router.post("/required", status_code=201)
    async def create_required(request: Request, body: ItemIn, _: Tenant,
                              idem: Required) -> Response:
        return await create(request, body, idem)

    @router.post("/groups/{group}/items", status_code=201)
    async def create_in_group(request: Request, group: str, body: ItemIn, _: Tenant,
                              idem: IdempotencyKey) -> Response:
        return await create(request, body, idem)

    @router.post("/untenanted", status_code=201)
    async def untenanted(idem: IdempotencyKey) -> Response:
        return OrjsonResponse({"ok": True})

    @router.get("/plain")
    async def plain() -> dict[str, bool]:
        return {"plain": True}

    app.include_router(router)

    @app.post("/wrong-route-class")
    async def wrong(idem: IdempotencyKey, _: Tenant) -> dict[str, bool]:
        return {"ok": True}

    return app


def current_org(request: Request) -> str:
    return request.headers["x-org"]


class Client:
    """httpx bound to the app, plus the database to check what was written."""

    def __init__(self, http: httpx.AsyncClient, app: FastAPI, schema: str) -> None:
        self.http = http
        self.app = app
        self.schema = schema

    @property
    def db(self) -> Database:
        db: Database = self.app.state.pgkeel.db
        return db

    @property
    def executions(self) -> int:
        return int(self.app.state.executions)

    async def post(self, path: str, org: str, key: str | None, body: dict[str, Any],
                   **kwargs: Any) -> httpx.Response:
        headers = {"X-Org": org, **kwargs.pop("headers", {})}
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.http.post(path, json=body, headers=headers, **kwargs)

    async def items(self, org: str) -> list[str]:
        rows = await self.db.fetch_all(
            sql.SQL("SELECT name FROM {} WHERE org = %s ORDER BY id").format(
                sql.Identifier(self.schema, "items")), (org,))
        return [r["name"] for r in rows]

    async def keys(self, org: str) -> list[dict[str, Any]]:
        return await self.db.fetch_all(
            "SELECT * FROM idempotency.idempotency_keys WHERE organization_id = %s "
            "ORDER BY created_at", (org,))


@pytest.fixture
async def client(pgkeel_settings: Settings, pgkeel_schema: str) -> AsyncIterator[Client]:
    app = make_app(pgkeel_settings, pgkeel_schema)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield Client(http, app, pgkeel_schema)


@pytest.fixture
def org() -> str:
    """An organization no other test uses."""
    return f"org-{secrets.token_hex(5)}"


def new_key() -> str:
    return secrets.token_hex(16)
