"""The product service: catalog (products, categories, reviews, images) and, served with it,
the Redis cart.

Public API:
    APP                  the ReferenceApp (schema `product`, migrations V1..V4, `/v1/products`,
                         `/v1/categories`, `/v1/cart`)
    CatalogService       catalog reads and audited writes (`app.state.catalog`)
    PRODUCTS, CATEGORIES, REVIEWS, IMAGES, TABLES, SCHEMA   the declarations
    load_sample_catalog  the COPY-loaded sample catalog
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from fastapi import APIRouter

from pgkeel.config import Settings
from pgkeel.db import Database
from pgkeel.web import DirectRoute
from pgkeel_apps.app import AppContext, ReferenceApp
from pgkeel_apps.commerce import cart
from pgkeel_apps.commerce.product.routes import router as catalog_router
from pgkeel_apps.commerce.product.seed import load_sample_catalog
from pgkeel_apps.commerce.product.service import CatalogService
from pgkeel_apps.commerce.product.settings import CatalogDemoSettings
from pgkeel_apps.commerce.product.tables import (
    CATEGORIES,
    IMAGES,
    PRODUCTS,
    REVIEWS,
    SCHEMA,
    TABLES,
)
from pgkeel_apps.settings import DemoSettings

MIGRATIONS = Path(__file__).parent / "migrations"

router = APIRouter(route_class=DirectRoute)
router.include_router(catalog_router)
router.include_router(cart.router)


async def prepare(owner: Database, settings: Settings) -> None:
    """Load the sample catalog (DEMO_PRODUCTS in DEMO_CATALOG_ORGS organizations)."""
    if DemoSettings().seeds(settings.app_env):
        demo = CatalogDemoSettings()
        await load_sample_catalog(owner, organizations=demo.demo_catalog_orgs,
                                  products=demo.demo_products)


@asynccontextmanager
async def start(ctx: AppContext) -> AsyncIterator[None]:
    """The catalog service (`app.state.catalog`) and the cart (`app.state.cart`)."""
    ctx.app.state.catalog = CatalogService(ctx.db, ctx.cache, cursor_codec=ctx.cursor_codec)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(cart.start_carts(ctx))
        yield


APP = ReferenceApp(name="product", schema=SCHEMA, migrations=MIGRATIONS, tables=TABLES,
                   router=router, prepare=prepare, start=start, jobs=cart.JOBS)

__all__ = ["APP", "CATEGORIES", "IMAGES", "MIGRATIONS", "PRODUCTS", "REVIEWS", "SCHEMA",
           "TABLES", "CatalogService", "load_sample_catalog", "router"]
