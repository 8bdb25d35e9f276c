"""FastAPI glue for the non-blocking appender: run it inside `pgkeel_lifespan(then=...)`.

    app = FastAPI(lifespan=pgkeel_lifespan(then=audit_appender()))

    @app.post("/login")
    async def login(appender: AppenderDep) -> dict[str, bool]:
        await appender.append(action="users.login", entity_type="User", entity_id=7)
        return {"ok": True}

On shutdown (uvicorn finishes in-flight requests on SIGTERM, then runs the lifespan's exit)
the appender writes everything still queued before the database pool closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request

from pgkeel.audit.appender import AuditAppender
from pgkeel.errors import AuditAppenderClosed
from pgkeel.runtime import Services

__all__ = ["AppenderDep", "audit_appender", "get_appender"]


def audit_appender(
    **options: Any,
) -> Callable[[FastAPI, Services], AbstractAsyncContextManager[None]]:
    """A `then=` hook for `pgkeel_lifespan`: an `AuditAppender` (sized from the settings,
    `options` override) open for the app's lifetime, in `app.state.audit_appender`."""

    @asynccontextmanager
    async def hook(app: FastAPI, services: Services) -> AsyncIterator[None]:
        async with AuditAppender.from_settings(services.db, services.settings,
                                               **options) as appender:
            app.state.audit_appender = appender
            yield

    return hook


async def get_appender(request: Request) -> AuditAppender:
    appender = getattr(request.app.state, "audit_appender", None)
    if not isinstance(appender, AuditAppender):
        raise AuditAppenderClosed(
            "No audit appender is running.",
            hint="Create the app with pgkeel_lifespan(then=audit_appender()).")
    return appender


AppenderDep = Annotated[AuditAppender, Depends(get_appender)]
