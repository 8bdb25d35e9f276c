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

from pgkeel_apps.app import AppContext, ReferenceApp
from pgkeel_apps.commerce.inventory import InventoryService
from pgkeel_apps.commerce.orders.routes import router
from pgkeel_apps.commerce.orders.service import Line, OrderService, cleanup_expired_orders
from pgkeel_apps.commerce.orders.tables import SCHEMA, TABLES

MIGRATIONS = Path(__file__).parent / "migrations"


@asynccontextmanager
async def start(ctx: AppContext) -> AsyncIterator[None]:
    inventory = InventoryService(ctx.db, cursor_codec=ctx.cursor_codec)
    ctx.app.state.orders = OrderService(ctx.db, inventory, cursor_codec=ctx.cursor_codec)
    yield


APP = ReferenceApp(name="orders", schema=SCHEMA, migrations=MIGRATIONS, tables=TABLES,
                   router=router, start=start)

__all__ = ["APP", "MIGRATIONS", "SCHEMA", "TABLES", "Line", "OrderService",
           "cleanup_expired_orders", "router"]
