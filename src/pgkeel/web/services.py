"""FastAPI glue: a lifespan that opens pgkeel's services, and dependencies that hand them out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from redis.asyncio import Redis

from pgkeel.cache import Cache, default_cache
from pgkeel.config import Settings
from pgkeel.db import Database
from pgkeel.errors import UsageError
from pgkeel.runtime import Services, open_services

__all__ = ["CacheDep", "DbDep", "ServicesDep", "get_cache", "get_db", "get_services",
           "pgkeel_lifespan", "request_services"]

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def pgkeel_lifespan(
    settings: Settings | None = None,
    *,
    then: Callable[[FastAPI, Services], AbstractAsyncContextManager[None]] | None = None,
    cache: bool = True,
) -> Lifespan:
    """A FastAPI lifespan: open the services into `app.state.pgkeel` -- the database, Redis
    and (unless `cache=False`) a `Cache` from the settings, which `@cached` functions defined
    without one use -- run `then` (your own start-up and shutdown) inside them, close
    everything on shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings) as services, AsyncExitStack() as stack:
            if cache:
                # Its own Redis client: short timeouts, no retries -- its breaker handles
                # outages.
                services.cache = await stack.enter_async_context(
                    Cache.from_settings(services.settings))
                stack.enter_context(default_cache(services.cache))
            app.state.pgkeel = services
            if then is not None:
                await stack.enter_async_context(then(app, services))
            yield

    return lifespan


def request_services(request: Request) -> Services:
    """The app's open `Services` (a `UsageError` when the lifespan did not open them)."""
    services = getattr(request.app.state, "pgkeel", None)
    if not isinstance(services, Services):
        raise UsageError("pgkeel services are not open.",
                         hint="Create the app with lifespan=pgkeel_lifespan().")
    return services


# The dependencies are coroutines though they do no I/O: FastAPI runs a plain `def`
# dependency on a worker thread, a hop that costs more than the lookup itself.

async def get_services(request: Request) -> Services:
    return request_services(request)


async def get_db(request: Request) -> Database:
    return request_services(request).db


async def get_redis(request: Request) -> Redis | None:
    return request_services(request).redis


async def get_cache(request: Request) -> Cache:
    cache = request_services(request).cache
    if cache is None:
        raise UsageError("The cache is not open.",
                         hint="Create the app with lifespan=pgkeel_lifespan() (cache=True).")
    return cache


ServicesDep = Annotated[Services, Depends(get_services)]
DbDep = Annotated[Database, Depends(get_db)]
CacheDep = Annotated[Cache, Depends(get_cache)]
