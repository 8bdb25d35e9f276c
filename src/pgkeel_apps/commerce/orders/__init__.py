"""The order service: orders, items, status history (by trigger), notes and fulfilment, with
the report's business rules enforced by the database (schema `orders`).

Public API:
    OrderService             place (one transaction: stock, order, items, history, event),
                             get / list the caller's own, cancel, notes
    cleanup_expired_orders   expire pending orders past 30 minutes (a maintenance job)
    APP                      the reference app (`/v1/orders`)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pgkeel.config import Settings
from pgkeel.db import Database
from pgkeel_apps.app import AppContext, ReferenceApp
from pgkeel_apps.commerce.inventory import InventoryService
from pgkeel_apps.commerce.orders.jobs import JOBS
from pgkeel_apps.commerce.orders.routes import router
from pgkeel_apps.commerce.orders.seed import OrdersDemoSettings, load_sample_orders
from pgkeel_apps.commerce.orders.service import Line, OrderService, cleanup_expired_orders
from pgkeel_apps.commerce.orders.tables import SCHEMA, TABLES
from pgkeel_apps.settings import DemoSettings

MIGRATIONS = Path(__file__).parent / "migrations"


async def prepare(owner: Database, settings: Settings) -> None:
    """DEMO_ORDERS sample orders per organization with stock (with DEMO_SEED)."""
    if DemoSettings().seeds(settings.app_env):
        await load_sample_orders(owner, per_org=OrdersDemoSettings().demo_orders)


@asynccontextmanager
async def start(ctx: AppContext) -> AsyncIterator[None]:
    inventory = InventoryService(ctx.db, cursor_codec=ctx.cursor_codec)
    ctx.app.state.orders = OrderService(ctx.db, inventory, cursor_codec=ctx.cursor_codec)
    yield


APP = ReferenceApp(name="orders", schema=SCHEMA, migrations=MIGRATIONS, tables=TABLES,
                   router=router, prepare=prepare, start=start, jobs=JOBS)

__all__ = ["APP", "JOBS", "MIGRATIONS", "SCHEMA", "TABLES", "Line", "OrderService",
           "OrdersDemoSettings", "cleanup_expired_orders", "load_sample_orders", "router"]
