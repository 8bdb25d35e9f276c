"""ASGI middleware: security headers on every response, and no caching of authenticated ones.

    app.add_middleware(SecurityHeadersMiddleware)

Every response gets `X-Content-Type-Options: nosniff`, `Referrer-Policy` and
`X-Frame-Options`; a response to a request that carried credentials (`Authorization` or
`Cookie`) also gets `Cache-Control: no-store`, unless the route set its own `Cache-Control`,
so no shared or browser cache keeps one user's data.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeadersMiddleware"]

_CREDENTIALS = (b"authorization", b"cookie")


class SecurityHeadersMiddleware:
    """Adds the headers above; headers the route set itself are left alone."""

    def __init__(self, app: ASGIApp, *, referrer_policy: str = "no-referrer",
                 frame_options: str = "DENY") -> None:
        self.app = app
        self.always = [(b"x-content-type-options", b"nosniff"),
                       (b"referrer-policy", referrer_policy.encode()),
                       (b"x-frame-options", frame_options.encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        credentialed = any(name in _CREDENTIALS for name, _ in scope["headers"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = [(n, v) for n, v in self.always if n not in present]
                if credentialed and b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = headers + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)
