"""`pgkeel_lifespan` opens the cache with the database and Redis: `CacheDep` hands it out, and
`@cached` functions defined at module level, before any cache exists, use it."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from pgkeel.cache import TTL, Cache, cached, current_cache
from pgkeel.config import Settings
from pgkeel.db import use_context
from pgkeel.errors import UsageError
from pgkeel.web import CacheDep, DbDep, install_error_handlers, pgkeel_lifespan

LOADS: list[int] = []


@cached("answer", ttl=TTL.SHORT)
async def answer(n: int) -> dict[str, int]:
    """Defined at import time, with no cache anywhere yet."""
    LOADS.append(n)
    return {"n": n, "square": n * n}


def make_app(settings: Settings, *, cache: bool = True) -> FastAPI:
    app = FastAPI(lifespan=pgkeel_lifespan(settings, cache=cache))
    install_error_handlers(app)

    @app.get("/square/{n}")
    async def square(n: int, db: DbDep) -> dict[str, int]:
        with use_context(org_id=1):
            return await answer(n)

    @app.get("/same-cache")
    async def same_cache(cache: CacheDep) -> dict[str, bool]:
        return {"same": cache is current_cache()}

    return app


async def call(app: FastAPI, path: str) -> httpx.Response:
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.get(path)


async def test_a_module_level_cached_function_uses_the_lifespans_cache(pgkeel_settings):
    app = make_app(pgkeel_settings)
    LOADS.clear()
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        first = await client.get("/square/7")
        again = await client.get("/square/7")
        same = await client.get("/same-cache")
        services = app.state.pgkeel
        assert isinstance(services.cache, Cache)
    assert first.json() == again.json() == {"n": 7, "square": 49}
    assert LOADS == [7], "the second call was a cache hit"
    assert same.json() == {"same": True}
    with pytest.raises(UsageError) as info:  # the lifespan is over: no cache is open
        await answer(7)
    assert "pgkeel_lifespan" in (info.value.hint or "")


async def test_without_the_cache_cachedep_is_a_clear_500(pgkeel_settings, caplog):
    response = await call(make_app(pgkeel_settings, cache=False), "/same-cache")
    assert response.status_code == 500
    assert any("The cache is not open" in r.getMessage() for r in caplog.records)


def test_cached_takes_a_cache_and_a_resource_or_only_a_resource():
    with pytest.raises(UsageError):
        cached(Cache.memory())  # type: ignore[call-overload]
