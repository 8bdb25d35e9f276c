"""FastAPI glue: a lifespan that opens pgkeel's services, and dependencies that hand them out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from redis.asyncio import Redis

from pgkeel.config import Settings
from pgkeel.db import Database
from pgkeel.errors import UsageError
from pgkeel.runtime import Services, open_services

__all__ = ["DbDep", "ServicesDep", "get_db", "get_services", "pgkeel_lifespan"]

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def pgkeel_lifespan(
    settings: Settings | None = None,
    *,
    then: Callable[[FastAPI, Services], AbstractAsyncContextManager[None]] | None = None,
) -> Lifespan:
    """A FastAPI lifespan: open the services into `app.state.pgkeel`, run `then` (your own
    start-up and shutdown) inside them, close everything on shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            app.state.pgkeel = services
            if then is None:
                yield
            else:
                async with then(app, services):
                    yield

    return lifespan


def get_services(request: Request) -> Services:
    services = getattr(request.app.state, "pgkeel", None)
    if not isinstance(services, Services):
        raise UsageError("pgkeel services are not open.",
                         hint="Create the app with lifespan=pgkeel_lifespan().")
    return services


def get_db(request: Request) -> Database:
    return get_services(request).db


def get_redis(request: Request) -> Redis | None:
    return get_services(request).redis


ServicesDep = Annotated[Services, Depends(get_services)]
DbDep = Annotated[Database, Depends(get_db)]
