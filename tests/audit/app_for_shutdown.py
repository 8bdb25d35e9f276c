"""A tiny service for the SIGTERM test: each POST commits a row, then appends its audit event
to the non-blocking appender; the appender only writes on shutdown (huge flush interval), so
the test proves that a graceful shutdown writes every queued event.

    ITEMS_TABLE=schema.items python -m uvicorn tests.audit.app_for_shutdown:app --port N
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from psycopg import sql

from pgkeel.audit import AuditAppender
from pgkeel.runtime import Services
from pgkeel.web import health_router, pgkeel_lifespan

SCHEMA, _, TABLE = os.environ["ITEMS_TABLE"].partition(".")
INSERT = sql.SQL("INSERT INTO {} (org, name) VALUES (%s, %s) RETURNING id").format(
    sql.Identifier(SCHEMA, TABLE))


@asynccontextmanager
async def appender_lifespan(app: FastAPI, services: Services) -> AsyncIterator[None]:
    async with AuditAppender.from_settings(services.db, services.settings) as appender:
        app.state.appender = appender
        yield
    stats = appender.stats()
    print(f"audit appender closed: queued={stats.queued} written={stats.written} "
          f"dropped={stats.dropped} pending={stats.pending}", flush=True)
    sys.stdout.flush()


app = FastAPI(lifespan=pgkeel_lifespan(then=appender_lifespan))
app.include_router(health_router())


@app.post("/items/{org}/{name}")
async def create_item(org: str, name: str, request: Request) -> dict[str, int]:
    services: Services = request.app.state.pgkeel
    async with services.db.transaction() as tx:
        item_id = int(await tx.fetch_val(INSERT, (org, name)))
    appender: AuditAppender = request.app.state.appender
    await appender.append(action="items.create", entity_type="Item", entity_id=item_id,
                          org_id=org, actor_id="load-test", new={"name": name})
    return {"id": item_id}


@app.get("/pending")
async def pending(request: Request) -> dict[str, int]:
    appender: AuditAppender = request.app.state.appender
    return {"pending": appender.pending}
