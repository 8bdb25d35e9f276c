"""`python -m pgkeel_apps`: serve the reference service on 127.0.0.1:$PORT (default 8000)."""

from __future__ import annotations

import asyncio
import logging

import uvicorn
from pydantic import ValidationError

from pgkeel.config import load_settings, redact_dsn
from pgkeel.embedded import EmbeddedServers
from pgkeel.errors import PermissionDenied, PgkeelError
from pgkeel_apps.main import create_app
from pgkeel_apps.roles import serve_as_roles
from pgkeel_apps.settings import DemoSettings

log = logging.getLogger("pgkeel_apps")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    servers: EmbeddedServers | None = None
    try:
        settings = load_settings()
        demo = DemoSettings()
        port = demo.port
        if (demo.demo_roles and settings.migration_database_url is None
                and not settings.is_production):
            servers = EmbeddedServers.for_settings(settings)
            try:
                settings = asyncio.run(serve_as_roles(servers.settings,
                                                      demo.demo_role_service))
            except PermissionDenied as exc:
                exc.message = ("DATABASE_URL's role may not create the service's roles "
                               f"({exc.message})")
                exc.hint = ("Use an admin DATABASE_URL, or set DEMO_ROLES=false to serve as "
                            "DATABASE_URL as given (see docs/security.md).")
                raise
            log.info("serving as %s (migrations as %s)", redact_dsn(settings.database_url),
                     redact_dsn(settings.migration_database_url))
    except (PgkeelError, ValidationError) as exc:
        if servers is not None:
            servers.stop_started()
        hint = f" (hint: {exc.hint})" if isinstance(exc, PgkeelError) and exc.hint else ""
        message = exc.message if isinstance(exc, PgkeelError) else str(exc)
        raise SystemExit(f"error: {message}{hint}") from None
    print(f"pgkeel demo: http://127.0.0.1:{port}  (/docs, /health/ready, /metrics)")  # noqa: T201
    try:
        uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="info")
    finally:
        if servers is not None:
            servers.stop_started()


if __name__ == "__main__":
    main()
