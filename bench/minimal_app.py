"""The ceiling of the HTTP bench: a hand-written minimal service, Starlette + raw psycopg
(psycopg_pool, dict rows, orjson), no pgkeel, no ORM, no validation framework. It serves the
two read endpoints of the reference service over the same tables with the same answers and
the same bearer-token look-up (`identity.session_principal`, then the USERS_READ permission):

    GET /v1/users?page=1&pageSize=20   (the organization's live users, newest first, + total)
    GET /v1/users/{id}                 (one user with their active roles)

It sends the statements the reference service sends for these requests (the page with its
limited count, pipelined as pgkeel pipelines them; the user and its roles) -- written out by
hand, in autocommit, with nothing around them. What the reference service spends beyond this
app is its own framework and library code.

`fastapi_app` serves the same two handlers from a bare FastAPI app (`minimal_fastapi`): the
routes on the app itself, each endpoint taking only the `Request`, no middleware, no
validation. Beside the Starlette app it tells what FastAPI alone costs, so that the reference
service's distance to the ceiling splits into FastAPI's part and pgkeel's.

Run: BENCH_DATABASE_URL=postgresql://... uvicorn bench.minimal_app:app
     (or bench.minimal_app:fastapi_app)
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, LiteralString

import orjson
from fastapi import FastAPI
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL",
                              "postgresql://postgres@127.0.0.1:5432/pgkeel_bench")
POOL_SIZE = int(os.environ.get("BENCH_POOL_SIZE", "10"))
COUNT_THRESHOLD = 10_000
"""The users table's count policy in the reference service: exact up to this, then the
planner's estimate."""

PRINCIPAL: LiteralString = (
    "SELECT user_id, organization_id, permissions FROM identity.session_principal(%s)")
_COLUMNS: LiteralString = (
    't.id, t.organization_id AS "organizationId", t.email, t.display_name AS "displayName", '
    't.status, t.is_active AS "isActive", t.deleted_at AS "deletedAt", '
    't.created_at AS "createdAt", t.updated_at AS "updatedAt", t.version, '
    't.last_login_at AS "lastLoginAt", t.email_verified_at AS "emailVerifiedAt"')
_LIVE: LiteralString = "t.organization_id = %s AND t.deleted_at IS NULL"
GET_USER: LiteralString = (
    "SELECT " + _COLUMNS + " FROM identity.users AS t WHERE " + _LIVE + " AND t.id = %s")
USER_ROLES: LiteralString = (
    "SELECT r.id, r.name FROM identity.user_roles ur JOIN identity.roles r"
    " ON r.organization_id = ur.organization_id AND r.id = ur.role_id"
    " WHERE ur.organization_id = %s AND ur.user_id = %s AND ur.is_active ORDER BY r.name")
LIST_PAGE: LiteralString = (
    "SELECT " + _COLUMNS + " FROM identity.users AS t WHERE " + _LIVE
    + " ORDER BY t.created_at DESC, t.id DESC LIMIT %s OFFSET %s")
COUNT_LIMITED: LiteralString = (
    "SELECT count(*) AS n FROM (SELECT 1 FROM identity.users AS t WHERE " + _LIVE
    + " LIMIT %s) AS s")
COUNT_PLANNED: LiteralString = (
    "EXPLAIN (FORMAT JSON) SELECT 1 FROM identity.users AS t WHERE " + _LIVE)

pool = AsyncConnectionPool(DATABASE_URL, min_size=POOL_SIZE, max_size=POOL_SIZE, open=False,
                           kwargs={"autocommit": True, "row_factory": dict_row})


@asynccontextmanager
async def _connection() -> AsyncIterator[Any]:
    """A pooled connection by getconn/putconn, as the bench's raw contender takes them
    (`pool.connection()` would also run a commit on the way back)."""
    conn = await pool.getconn()
    try:
        yield conn
    finally:
        await pool.putconn(conn)


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _error(status: int, code: str) -> Response:
    return _json({"code": code, "message": code, "details": None, "hint": None}, status)


async def _principal(request: Request) -> dict[str, Any] | Response:
    """The caller's session, or the 401/403 answer."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return _error(401, "unauthorized")
    digest = hashlib.sha256(token.encode()).digest()
    async with _connection() as conn:
        row = await (await conn.execute(PRINCIPAL, (digest,))).fetchone()
    if row is None:
        return _error(401, "unauthorized")
    if "USERS_READ" not in row["permissions"]:
        return _error(403, "forbidden")
    return row


async def get_user(request: Request) -> Response:
    principal = await _principal(request)
    if isinstance(principal, Response):
        return principal
    try:
        user_id = uuid.UUID(request.path_params["user_id"])
    except ValueError:
        return _error(422, "validation_error")
    org = principal["organization_id"]
    async with _connection() as conn:
        user = await (await conn.execute(GET_USER, (org, user_id))).fetchone()
        if user is None:
            return _error(404, "not_found")
        user["roles"] = await (await conn.execute(USER_ROLES, (org, user_id))).fetchall()
    return _json(user)


async def list_users(request: Request) -> Response:
    principal = await _principal(request)
    if isinstance(principal, Response):
        return principal
    try:
        page = int(request.query_params.get("page", "1"))
        size = int(request.query_params.get("pageSize", "20"))
    except ValueError:
        return _error(422, "validation_error")
    if page < 1 or not 1 <= size <= 100:
        return _error(422, "validation_error")
    org = principal["organization_id"]
    async with _connection() as conn:
        async with conn.pipeline():
            rows_cur = await conn.execute(LIST_PAGE, (org, size, (page - 1) * size))
            count_cur = await conn.execute(COUNT_LIMITED, (org, COUNT_THRESHOLD + 1))
        rows = await rows_cur.fetchall()
        counted = await count_cur.fetchone()
        total = int(counted["n"]) if counted else 0
        estimate = total > COUNT_THRESHOLD
        if estimate:
            plan = await (await conn.execute(COUNT_PLANNED, (org,))).fetchone()
            total = int(next(iter(plan.values()))[0]["Plan"]["Plan Rows"]) if plan else 0
    return _json({"items": rows, "page": page, "pageSize": size, "total": total,
                  "totalPages": -(-total // size), "totalIsEstimate": estimate})


async def health(request: Request) -> Response:
    return _json({"status": "ok"})


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    await pool.open(wait=True)
    try:
        yield
    finally:
        await pool.close()


app = Starlette(routes=[Route("/health", health), Route("/v1/users", list_users),
                        Route("/v1/users/{user_id}", get_user)], lifespan=lifespan)


fastapi_app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
fastapi_app.add_api_route("/health", health, methods=["GET"])
fastapi_app.add_api_route("/v1/users", list_users, methods=["GET"])
fastapi_app.add_api_route("/v1/users/{user_id}", get_user, methods=["GET"])
