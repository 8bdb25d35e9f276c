"""ASGI middleware: a server-made request id for every request, carried into the database
context; the client's own X-Request-ID is kept beside it, never in its place."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pgkeel.db.context import use_context

HEADER = "x-request-id"
CLIENT_HEADER = "x-client-request-id"
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Makes a request id, sends it as X-Request-ID, and runs the request under
    `use_context(request_id=...)` so it reaches every transaction, log line and audit row.

    A client cannot choose that id (so it cannot forge the correlation of audit rows); a
    well-formed X-Request-ID it sends is kept as `client_request_id` (audit rows record it in
    their metadata) and echoed as X-Client-Request-ID."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(HEADER.encode(), b"").decode("latin-1")
        client_id = incoming if _ACCEPTABLE.match(incoming) else None
        request_id = uuid.uuid4().hex
        added = [(HEADER.encode(), request_id.encode())]
        if client_id:
            added.append((CLIENT_HEADER.encode(), client_id.encode()))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *added]
            await send(message)

        with use_context(request_id=request_id, client_request_id=client_id, inherit=False):
            await self.app(scope, receive, send_with_id)
