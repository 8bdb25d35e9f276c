"""The reference service: the identity and customer-tags apps, served together on pgkeel's
public API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI, Request
from starlette.responses import Response

from pgkeel import audit, idempotency, ops, outbox
from pgkeel.audit import AuditAppender
from pgkeel.config import Settings, load_settings
from pgkeel.db import Database
from pgkeel.errors import Forbidden, PgkeelError
from pgkeel.migrate import Migrator
from pgkeel.repo import CursorCodec, Registry
from pgkeel.runtime import Services, open_migration_database
from pgkeel.security import Principal
from pgkeel.web import (
    HttpMetricsMiddleware,
    OrjsonResponse,
    RequestIdMiddleware,
    RequestLimitsMiddleware,
    SecurityHeadersMiddleware,
    error_response,
    health_router,
    install_error_handlers,
    ops_router,
    pgkeel_lifespan,
    run_ops_sampler,
)
from pgkeel_apps import dealership, identity, school, tags
from pgkeel_apps.app import AppContext
from pgkeel_apps.commerce import inventory, orders, payment, product
from pgkeel_apps.identity.service import ADMIN_ROLES
from pgkeel_apps.settings import AuthSettings

log = logging.getLogger("pgkeel_apps")

AUTH_MAX_BODY = 8 * 1024
"""Bytes of body the authentication endpoints accept (a login is well under 2 KiB)."""

APPS = (identity.APP, tags.APP, product.APP, inventory.APP, orders.APP, payment.APP,
        dealership.APP, school.APP)
"""The reference service's apps, in start-up order. Adding an app is one entry here."""

SCHEMAS = (audit.SCHEMA, idempotency.SCHEMA, outbox.SCHEMA, ops.SCHEMA,
           *(app.schema for app in APPS))
"""Every schema the service uses: what `pgkeel db roles --schema ...` grants."""


async def migrate(owner: Database, settings: Settings) -> None:
    """Apply the library migration sets (audit, outbox, idempotency, ops) and every app's,
    connected as the schema owner."""
    await audit.install(owner)
    await outbox.install(owner)
    await idempotency.install(owner)
    await ops.install(owner)
    for app in APPS:
        await Migrator.from_settings(owner, settings, directory=app.migrations,
                                     schema=app.schema).up()


def jobs(settings: Settings) -> ops.JobRegistry:
    """The maintenance jobs of every app (`MAINTAIN_JOBS=pgkeel_apps.main:jobs` makes
    `pgkeel maintain` run them next to the library's)."""
    return ops.JobRegistry().include(*(app.jobs for app in APPS if app.jobs is not None))


@asynccontextmanager
async def _maintenance(settings: Settings) -> AsyncIterator[None]:
    """With MAINTAIN_IN_SERVICE, the maintenance loop of the library's and the apps' jobs,
    as the schema owner (VACUUM, ANALYZE and partition drops need ownership); every copy of
    the service runs one and an advisory lock elects the one that runs the jobs."""
    if not settings.maintain_in_service:
        yield
        return
    registry = ops.library_jobs(settings).include(jobs(settings))
    async with (open_migration_database(settings) as owner,
                ops.run_maintenance(owner, registry, settings)):
        yield


@asynccontextmanager
async def start_apps(app: FastAPI, services: Services) -> AsyncIterator[None]:
    """Apply every migration set and run each app's `prepare` (sample data; as the schema
    owner, MIGRATION_DATABASE_URL), check the declarations, then start each app (as the app
    role, DATABASE_URL)."""
    db = services.db
    codec = CursorCodec.from_settings(services.settings)
    async with open_migration_database(services.settings) as owner:
        await migrate(owner, services.settings)
        # Seeding, and looking for demo accounts, cross organizations: the schema owner's job.
        for reference_app in APPS:
            await reference_app.prepare(owner, services.settings)
    tables = [table for reference_app in APPS for table in reference_app.tables]
    for advice in await Registry(db, tables, cursor_codec=codec).check():
        log.warning("%s: %s%s", advice.table, advice.message,
                    f" -- {advice.fix}" if advice.fix else "")
    # The relay publishes the service's outbox events (user.created, customer_tag.*, ...) to
    # Redis Streams (or OUTBOX_SINK_URL) from inside the service, woken by each commit.
    relay = outbox.Relay.from_settings(db, outbox.sink_from_settings(services.settings),
                                       services.settings)
    cache = services.cache  # opened by pgkeel_lifespan
    assert cache is not None
    async with (AuditAppender.from_settings(db, services.settings) as appender,
                outbox.run_relay(relay), _maintenance(services.settings),
                run_ops_sampler(app, services), AsyncExitStack() as started):
        app.state.audit_appender = appender
        app.state.cache = cache
        context = AppContext(app=app, services=services, cache=cache, cursor_codec=codec)
        for reference_app in APPS:
            await started.enter_async_context(reference_app.start(context))
        yield


async def audited_denial(request: Request, exc: Exception) -> Response:
    """A 403, recorded in the caller's organization's audit log (`access.denied`: who, which
    route, what was missing) before it is answered."""
    assert isinstance(exc, Forbidden)
    principal: Principal | None = getattr(request.state, "principal", None)
    appender: AuditAppender | None = getattr(request.app.state, "audit_appender", None)
    if principal is not None and appender is not None:
        try:
            await appender.append(
                action="access.denied", entity_type="Route",
                entity_id=f"{request.method} {request.url.path}", org_id=principal.org_id,
                actor_id=principal.user_id,
                metadata={k: exc.details[k] for k in ("missing", "rule") if k in exc.details})
        except PgkeelError as failure:  # never turn a 403 into a 500
            log.warning("access.denied not audited: %s", failure.message)
    return error_response(exc)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the reference service (settings from the environment unless given). In
    production /docs and /metrics are off unless EXPOSE_DOCS / EXPOSE_METRICS or
    METRICS_TOKEN say otherwise."""
    settings = settings or load_settings()
    auth = AuthSettings()
    docs = auth.docs_on(settings.app_env)
    app = FastAPI(title="pgkeel reference service", version="0.1.0",
                  default_response_class=OrjsonResponse,
                  lifespan=pgkeel_lifespan(settings, then=start_apps),
                  docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None,
                  openapi_url="/openapi.json" if docs else None)
    install_error_handlers(app)
    app.add_exception_handler(Forbidden, audited_denial)
    # Small bodies for the anonymous endpoints, 1 MiB elsewhere; inside RequestIdMiddleware so
    # a 413 / 431 carries the request id.
    app.add_middleware(RequestLimitsMiddleware, limits={"/v1/auth/": AUTH_MAX_BODY})
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(HttpMetricsMiddleware)  # outside RequestIdMiddleware: its 500s count
    app.add_middleware(SecurityHeadersMiddleware)
    token = auth.metrics_token.get_secret_value() if auth.metrics_token else None
    # The API first: FastAPI tries the routes in order, so the busiest paths match soonest.
    for reference_app in APPS:
        app.include_router(reference_app.router)
    app.include_router(health_router(metrics=auth.metrics_open(settings.app_env),
                                     metrics_token=token))
    # /ops: the operations page, for the identity app's administrators.
    app.include_router(ops_router(roles=ADMIN_ROLES))
    return app
