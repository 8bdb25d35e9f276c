"""The reference service: every seed system, served together on pgkeel's public API."""

from __future__ import annotations

from fastapi import FastAPI

from pgkeel.config import Settings
from pgkeel.web import (
    OrjsonResponse,
    RequestIdMiddleware,
    health_router,
    install_error_handlers,
    pgkeel_lifespan,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the reference service (settings from the environment unless given)."""
    app = FastAPI(title="pgkeel reference service", version="0.1.0",
                  default_response_class=OrjsonResponse, lifespan=pgkeel_lifespan(settings))
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(health_router())
    return app
