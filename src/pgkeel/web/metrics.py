"""ASGI middleware: `pgkeel_http_request_duration_seconds{method, route, status}`.

`route` is the matched route's template (`/v1/users/{user_id}`), never the raw path, so a
client cannot grow the number of series by requesting distinct URLs; a request no route
matched is counted under `<unmatched>`, and a method outside the standard ones under
`OTHER`."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pgkeel.observe import tracing
from pgkeel.observe.metrics import REGISTRY

__all__ = ["HTTP_DURATION", "HttpMetricsMiddleware"]

HTTP_DURATION = Histogram(
    "pgkeel_http_request_duration_seconds", "HTTP request duration, by route template.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY)

UNMATCHED = "<unmatched>"
_TIMERS: dict[tuple[str, str, str], Any] = {}
"""Each (method, route, status)'s histogram child, looked up once: a finite set, since routes
are templates."""
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetricsMiddleware:
    """Times every HTTP request and labels it by method, route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        method = scope.get("method", "GET")
        method = method if method in _METHODS else "OTHER"
        with tracing.span(f"HTTP {method}", {"http.request.method": method}) as span:
            try:
                await self.app(scope, receive, send_status)
            finally:
                route = scope.get("route")
                template = getattr(route, "path_format", None) or getattr(route, "path", None)
                label = str(template) if template else UNMATCHED
                key = (method, label, str(status))
                timer = _TIMERS.get(key)
                if timer is None:
                    timer = _TIMERS[key] = HTTP_DURATION.labels(*key)
                timer.observe(time.perf_counter() - started)
                if span is not None:
                    span.update_name(f"{method} {label}")
                    span.set_attribute("http.route", label)
                    span.set_attribute("http.response.status_code", status)
