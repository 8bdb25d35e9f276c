"""`/health` (liveness), `/health/ready` (readiness: database and Redis) and `/metrics`."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from pgkeel.errors import PgkeelError, Unauthorized
from pgkeel.observe import render_latest
from pgkeel.redis_client import ping_redis, redis_unavailable
from pgkeel.web.responses import OrjsonResponse
from pgkeel.web.services import ServicesDep

__all__ = ["health_router"]


def health_router(*, metrics: bool = True, metrics_token: str | None = None) -> APIRouter:
    """The routes above. `metrics=False` hides /metrics from anonymous callers: with a
    `metrics_token` it answers only to `Authorization: Bearer <token>`, without one it is
    not served at all (turn it off, or protect it, in production)."""
    router = APIRouter(tags=["health"])

    @router.get("/health", summary="Liveness: the process is serving requests")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/health/ready", summary="Readiness: the database and Redis answer",
                responses={503: {"description": "A dependency is unavailable"}})
    async def ready(services: ServicesDep) -> Response:
        # Anonymous callers reach this route: it says whether each dependency answers and how
        # fast, never where it is, which version it runs or how the pool is sized. That
        # detail is on the admins' /ops page and in `pgkeel health`.
        database: dict[str, Any]
        try:
            ping = await services.db.ping()
            database = {"ok": True, "latency_ms": round(ping.latency_ms, 2)}
        except PgkeelError as exc:
            database = {"ok": False, "error": exc.code}
        cache: dict[str, Any]
        if services.redis is None:
            cache = {"ok": True, "backend": "memory"}
        else:
            try:
                latency = await asyncio.wait_for(ping_redis(services.redis), timeout=1.0)
                cache = {"ok": True, "backend": "redis", "latency_ms": round(latency, 2)}
            except Exception as exc:
                if not redis_unavailable(exc):
                    raise
                cache = {"ok": False, "backend": "redis", "error": type(exc).__name__}
        healthy = database["ok"] and cache["ok"]
        return OrjsonResponse(
            {"status": "ok" if healthy else "unavailable",
             "checks": {"database": database, "redis": cache}},
            status_code=200 if healthy else 503)

    if not metrics and metrics_token is None:
        return router
    expected = f"Bearer {metrics_token}".encode() if metrics_token else b""

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics_route(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode()
        if not metrics and not hmac.compare_digest(given, expected):
            raise Unauthorized("/metrics needs the metrics token.",
                               hint="Send Authorization: Bearer <METRICS_TOKEN>.")
        return Response(render_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
