"""ASGI middleware: a server-made request id for every request, carried into the database
context; the client's own X-Request-ID is kept beside it, never in its place."""

from __future__ import annotations

import logging
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pgkeel.db.context import use_context
from pgkeel.web.errors import log_failure
from pgkeel.web.responses import OrjsonResponse

log = logging.getLogger("pgkeel.web")

HEADER = "x-request-id"
CLIENT_HEADER = "x-client-request-id"
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Makes a request id, sends it as X-Request-ID, and runs the request under
    `use_context(request_id=...)` so it reaches every transaction, log line and audit row.

    A client cannot choose that id (so it cannot forge the correlation of audit rows); a
    well-formed X-Request-ID it sends is kept as `client_request_id` (audit rows record it in
    their metadata) and echoed as X-Client-Request-ID.

    An exception that escapes the app (even one raised while an error response was being
    written) becomes a 500 `internal_error` that still carries the id."""

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

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *added]
            await send(message)

        with use_context(request_id=request_id, client_request_id=client_id, inherit=False):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                if started:
                    raise
                log_failure(f"unhandled {type(exc).__name__}", exc, scope)
                response = OrjsonResponse(
                    {"code": "internal_error", "message": "Internal server error.",
                     "details": {"request_id": request_id}, "hint": None}, status_code=500)
                await response(scope, receive, send_with_id)
