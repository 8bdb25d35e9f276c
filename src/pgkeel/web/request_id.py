"""ASGI middleware: an X-Request-ID for every request, carried into the database context."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pgkeel.db.context import use_context

HEADER = "x-request-id"
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Accepts a well-formed incoming X-Request-ID (else makes one), echoes it on the response,
    and runs the request under `use_context(request_id=...)` so it reaches every transaction,
    log line and audit row."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(HEADER.encode(), b"").decode("latin-1")
        request_id = incoming if _ACCEPTABLE.match(incoming) else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"],
                                      (HEADER.encode(), request_id.encode())]
            await send(message)

        with use_context(request_id=request_id, inherit=False):
            await self.app(scope, receive, send_with_id)
