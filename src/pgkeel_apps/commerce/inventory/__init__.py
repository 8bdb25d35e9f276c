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

from pgkeel.config import Settings
from pgkeel.db import Database
from pgkeel_apps.app import AppContext, ReferenceApp
from pgkeel_apps.commerce.inventory.jobs import JOBS
from pgkeel_apps.commerce.inventory.routes import router
from pgkeel_apps.commerce.inventory.seed import load_sample_stock
from pgkeel_apps.commerce.inventory.service import (
    InventoryService,
    cleanup_expired_reservations,
    refresh_inventory_analytics,
)
from pgkeel_apps.commerce.inventory.tables import SCHEMA, TABLES
from pgkeel_apps.settings import DemoSettings

MIGRATIONS = Path(__file__).parent / "migrations"


async def prepare(owner: Database, settings: Settings) -> None:
    """Sample stock for every sample product (with DEMO_SEED)."""
    if DemoSettings().seeds(settings.app_env):
        await load_sample_stock(owner)


@asynccontextmanager
async def start(ctx: AppContext) -> AsyncIterator[None]:
    ctx.app.state.inventory = InventoryService(ctx.db, cursor_codec=ctx.cursor_codec)
    yield


APP = ReferenceApp(name="inventory", schema=SCHEMA, migrations=MIGRATIONS, tables=TABLES,
                   router=router, prepare=prepare, start=start, jobs=JOBS)

__all__ = ["APP", "JOBS", "MIGRATIONS", "SCHEMA", "TABLES", "InventoryService",
           "cleanup_expired_reservations", "load_sample_stock", "refresh_inventory_analytics",
           "router"]
