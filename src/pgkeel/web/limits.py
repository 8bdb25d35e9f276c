"""ASGI middleware refusing oversized requests before anything parses them.

    app.add_middleware(RequestLimitsMiddleware, limits={"/v1/auth/": 8 * 1024})
    app.add_middleware(RequestIdMiddleware)      # outermost: the 413/431 carry X-Request-ID

A body larger than the route's limit is a 413 -- from `Content-Length` alone when it is sent,
else after reading at most limit + 1 bytes of a chunked body -- so a 50 MB upload is never read
and never reaches JSON parsing or validation. Headers are capped per header, in total and in
number (431), so a 1 MB `Authorization` header is refused before authentication runs.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pgkeel.web.errors import error_body

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_MAX_HEADER", "DEFAULT_MAX_HEADERS_TOTAL",
           "RequestLimitsMiddleware"]

DEFAULT_MAX_BODY = 1024 * 1024
"""Bytes of request body a route accepts unless a smaller limit matches its path."""
DEFAULT_MAX_HEADER = 8 * 1024
"""Bytes of one header (name and value)."""
DEFAULT_MAX_HEADERS_TOTAL = 32 * 1024
DEFAULT_MAX_HEADER_COUNT = 100
_NO_BODY_FRAMING = frozenset({"1.0", "1.1"})
"""HTTP versions where a request with neither Content-Length nor Transfer-Encoding has no
body (RFC 9112, 6.3); an HTTP/2 request may stream one without either."""


class RequestLimitsMiddleware:
    """413 for bodies over the limit (the longest matching path prefix in `limits`, else
    `max_body`), 431 for headers over `max_header` bytes each, `max_headers_total` in all, or
    more than `max_header_count` of them."""

    def __init__(self, app: ASGIApp, *, max_body: int = DEFAULT_MAX_BODY,
                 limits: Mapping[str, int] | None = None,
                 max_header: int = DEFAULT_MAX_HEADER,
                 max_headers_total: int = DEFAULT_MAX_HEADERS_TOTAL,
                 max_header_count: int = DEFAULT_MAX_HEADER_COUNT) -> None:
        self.app = app
        self.max_body = max_body
        # Longest prefix first, so "/v1/uploads" wins over "/v1/".
        self.limits = sorted((limits or {}).items(), key=lambda item: -len(item[0]))
        self.max_header = max_header
        self.max_headers_total = max_headers_total
        self.max_header_count = max_header_count

    def body_limit(self, path: str) -> int:
        """The body limit for a request path."""
        return next((limit for prefix, limit in self.limits if path.startswith(prefix)),
                    self.max_body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.body_limit(scope["path"])
        fields = dict(scope["headers"])
        length = fields.get(b"content-length")
        refusal = self._refusal(scope["headers"], length, limit)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if length is not None:
            await self.app(scope, receive, send)  # the server holds the body to its length
            return
        if b"transfer-encoding" not in fields and scope.get("http_version") in _NO_BODY_FRAMING:
            await self.app(scope, receive, send)  # HTTP/1.x without either header: no body
            return
        # No Content-Length (chunked): read at most limit + 1 bytes, then replay them.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay(chunks, message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(limit)(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        await self.app(scope, _replay(chunks, None, receive), send)

    def _refusal(self, headers: list[tuple[bytes, bytes]], length: bytes | None,
                 limit: int) -> Response | None:
        """The answer for headers over their limits, or a Content-Length over `limit`."""
        problem = self._header_problem(headers)
        if problem is not None:
            return error_body(431, "headers_too_large", problem[0], problem[1],
                              "Send smaller headers.")
        if length is None:
            return None
        if not length.isdigit():
            return error_body(400, "bad_request", "Content-Length is not a number.",
                              {"header": "Content-Length"})
        return _too_large(limit) if int(length) > limit else None

    def _header_problem(self, headers: list[tuple[bytes, bytes]]
                        ) -> tuple[str, dict[str, object]] | None:
        if len(headers) > self.max_header_count:
            return (f"More than {self.max_header_count} request headers.",
                    {"count": len(headers), "maximum": self.max_header_count})
        total = 0
        for name, value in headers:
            size = len(name) + len(value)
            if size > self.max_header:
                header = name.decode("latin-1")[:64]
                return (f"The {header} header is larger than {self.max_header} bytes.",
                        {"header": header, "maximum": self.max_header})
            total += size
        if total > self.max_headers_total:
            return (f"The request headers are larger than {self.max_headers_total} bytes.",
                    {"maximum": self.max_headers_total})
        return None



def _too_large(limit: int) -> Response:
    response = error_body(413, "payload_too_large",
                          f"The request body is larger than {limit} bytes.",
                          {"maximum": limit}, "Send a smaller body.")
    response.headers["Connection"] = "close"
    return response


def _replay(chunks: list[bytes], pending: Message | None, receive: Receive) -> Receive:
    """A `receive` that hands out the buffered body (or the message that ended it) first, then
    defers to the real one."""
    queue: list[Message] = [pending] if pending is not None else [
        {"type": "http.request", "body": b"".join(chunks), "more_body": False}]

    async def replayed() -> Message:
        if queue:
            return queue.pop()
        return await receive()

    return replayed
