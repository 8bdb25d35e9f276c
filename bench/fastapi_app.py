"""The comparison service: plain FastAPI + SQLAlchemy 2 (async, asyncpg) + fastapi-pagination,
written the way its users write it -- a session dependency, a `current_user` dependency that
looks the bearer token up through the ORM, `apaginate(session, select(...))`, pydantic response
models. It serves the same two endpoints as the pgkeel reference service, over the same
tables, with the same answers:

    GET /v1/users?page=1&pageSize=20   (the organization's live users, newest first, + total)
    GET /v1/users/{id}                 (one user with their active roles)

With BENCH_CACHE_URL (a Redis URL) set, `GET /v1/users/{id}` is cached as its users would
cache it: fastapi-cache2's `@cache` on Redis, 5 minutes, keyed by the caller's organization and
the id (the bearer look-up still runs on every request, as in the reference service).

Run: BENCH_DATABASE_URL=postgresql+asyncpg://... uvicorn bench.fastapi_app:app
"""


import datetime as dt
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_pagination import Page, add_pagination
from fastapi_pagination.customization import CustomizedPage, UseParamsFields
from fastapi_pagination.ext.sqlalchemy import apaginate
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import selectinload

from bench.models import Session, User

T = TypeVar("T")

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL",
                              "postgresql+asyncpg://postgres@127.0.0.1:5432/pgkeel_bench")
POOL_SIZE = int(os.environ.get("BENCH_POOL_SIZE", "10"))
CACHE_URL = os.environ.get("BENCH_CACHE_URL", "")
CACHE_TTL_S = 300

engine = create_async_engine(DATABASE_URL, pool_size=POOL_SIZE, max_overflow=0)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
bearer = HTTPBearer()



@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    client = None
    if CACHE_URL:
        from fastapi_cache import FastAPICache
        from fastapi_cache.backends.redis import RedisBackend
        from redis.asyncio import Redis

        client = Redis.from_url(CACHE_URL)
        FastAPICache.init(RedisBackend(client), prefix="bench-fastapi-cache")
    try:
        yield
    finally:
        if client is not None:
            await client.aclose()
        await engine.dispose()


app = FastAPI(title="FastAPI + SQLAlchemy + fastapi-pagination (bench comparison)",
              lifespan=lifespan)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def current_user(session: SessionDep,
                       credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]
                       ) -> User:
    digest = hashlib.sha256(credentials.credentials.encode()).digest()
    user = await session.scalar(
        select(User)
        .join(Session, (Session.organization_id == User.organization_id)
              & (Session.user_id == User.id))
        .where(Session.token_hash == digest, Session.expires_at > func.now(),
               User.is_active, User.status == "active", User.deleted_at.is_(None))
        .options(selectinload(User.roles)))
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Invalid token")
    if not any("USERS_READ" in role.permissions for role in user.roles if role.is_active):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Missing USERS_READ")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


class ApiModel(BaseModel):
    model_config = ConfigDict(from_attributes=True, alias_generator=to_camel,
                              populate_by_name=True)


class UserOut(ApiModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    email: str
    display_name: str
    status: str
    is_active: bool
    deleted_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class RoleOut(ApiModel):
    id: uuid.UUID
    name: str


class UserDetail(UserOut):
    roles: list[RoleOut]


# fastapi-pagination's documented way to rename its query parameter (`size` -> `pageSize`),
# so both services answer the very same URL.
UsersPage = CustomizedPage[
    Page[T],
    UseParamsFields(size=Query(20, ge=1, le=100, alias="pageSize")),
]


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/v1/users", response_model=UsersPage[UserOut])
async def list_users(user: CurrentUser, session: SessionDep) -> Any:
    return await apaginate(
        session,
        select(User)
        .where(User.organization_id == user.organization_id, User.deleted_at.is_(None))
        .order_by(User.created_at.desc(), User.id.desc()))


def _user_key(func: Callable[..., Any], namespace: str = "", *,
              request: Request | None = None, response: Response | None = None,
              args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> str:
    """The organization and the id (the default key would include the session object)."""
    given = kwargs or {}
    return f"{namespace}:user:{given['user'].organization_id}:{given['user_id']}"


def _cached(func: Callable[..., Any]) -> Callable[..., Any]:
    if not CACHE_URL:
        return func
    from fastapi_cache.decorator import cache

    decorated: Callable[..., Any] = cache(expire=CACHE_TTL_S, key_builder=_user_key)(func)
    return decorated


@app.get("/v1/users/{user_id}", response_model=UserDetail, response_model_by_alias=True)
@_cached
async def get_user(user_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> UserDetail:
    found = await session.scalar(
        select(User)
        .where(User.id == user_id, User.organization_id == user.organization_id,
               User.deleted_at.is_(None))
        .options(selectinload(User.roles)))
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "User not found")
    return UserDetail.model_validate(found)


add_pagination(app)  # after the routes: it wires the pagination parameters into them
