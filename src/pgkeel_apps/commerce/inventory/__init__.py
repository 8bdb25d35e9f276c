"""The inventory service: stock per product, reservations that expire, movements, low-stock
alerts, suppliers, categories and analytics (schema `inventory`).

Public API:
    InventoryService                 stock reads, `reserve`, audited `adjust`, movements, alerts
    cleanup_expired_reservations     release holds past their 5 minutes (a maintenance job)
    refresh_inventory_analytics      roll today's movements up (a maintenance job)
    APP                              the reference app (`/v1/inventory`)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pgkeel_apps.app import AppContext, ReferenceApp
from pgkeel_apps.commerce.inventory.routes import router
from pgkeel_apps.commerce.inventory.service import (
    InventoryService,
    cleanup_expired_reservations,
    refresh_inventory_analytics,
)
from pgkeel_apps.commerce.inventory.tables import SCHEMA, TABLES

MIGRATIONS = Path(__file__).parent / "migrations"


@asynccontextmanager
async def start(ctx: AppContext) -> AsyncIterator[None]:
    ctx.app.state.inventory = InventoryService(ctx.db, cursor_codec=ctx.cursor_codec)
    yield


APP = ReferenceApp(name="inventory", schema=SCHEMA, migrations=MIGRATIONS, tables=TABLES,
                   router=router, start=start)

__all__ = ["APP", "MIGRATIONS", "SCHEMA", "TABLES", "InventoryService",
           "cleanup_expired_reservations", "refresh_inventory_analytics", "router"]
