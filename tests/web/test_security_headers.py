"""Security headers on every response; no caching of credentialed ones; /metrics can be shut
or put behind a token."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from starlette.responses import JSONResponse

from pgkeel.web import SecurityHeadersMiddleware, install_error_handlers
from pgkeel.web.health import health_router


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(SecurityHeadersMiddleware)

    @app.get("/plain")
    async def plain() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/cached")
    async def cached() -> JSONResponse:
        return JSONResponse({}, headers={"Cache-Control": "max-age=60"})

    return app


async def _get(app: FastAPI, path: str, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path, headers=headers)


async def test_every_response_gets_the_headers_and_credentialed_ones_are_not_cached():
    app = _app()
    anonymous = await _get(app, "/plain")
    assert anonymous.headers["x-content-type-options"] == "nosniff"
    assert anonymous.headers["referrer-policy"] == "no-referrer"
    assert anonymous.headers["x-frame-options"] == "DENY"
    assert "cache-control" not in anonymous.headers
    missing = await _get(app, "/nowhere", Authorization="Bearer x")
    assert missing.status_code == 404
    assert missing.headers["x-content-type-options"] == "nosniff"
    assert missing.headers["cache-control"] == "no-store"
    assert (await _get(app, "/plain", Cookie="s=1")).headers["cache-control"] == "no-store"
    own = await _get(app, "/cached", Authorization="Bearer x")
    assert own.headers["cache-control"] == "max-age=60", "a route's own choice is kept"


async def test_metrics_can_be_closed_or_need_a_token():
    closed = FastAPI()
    install_error_handlers(closed)
    closed.include_router(health_router(metrics=False))
    assert (await _get(closed, "/metrics")).status_code == 404
    guarded = FastAPI()
    install_error_handlers(guarded)
    guarded.include_router(health_router(metrics=False, metrics_token="s3cret-token"))
    assert (await _get(guarded, "/metrics")).status_code == 401
    assert (await _get(guarded, "/metrics", Authorization="Bearer wrong")).status_code == 401
    assert (await _get(guarded, "/metrics", Authorization="Bearer s3cret-token")
            ).status_code == 200
