"""The car dealership (seed 003): cars with typo-forgiving search, leads, analytics, and the
report's cache keys and TTL tiers. Public pages under `/v1/dealers/{dealer}/...`, the staff's
API under `/v1/dealership/...`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pgkeel.config import Settings
from pgkeel.db import Database
from pgkeel_apps.app import AppContext, ReferenceApp
from pgkeel_apps.dealership.analytics import Analytics, view_counters
from pgkeel_apps.dealership.beacons import BeaconWriter
from pgkeel_apps.dealership.cars import CarService
from pgkeel_apps.dealership.config import ConfigService
from pgkeel_apps.dealership.dealers import Dealers
from pgkeel_apps.dealership.jobs import JOBS
from pgkeel_apps.dealership.lead_routes import ContactLimits
from pgkeel_apps.dealership.leads import LeadService
from pgkeel_apps.dealership.newsletter import Newsletter
from pgkeel_apps.dealership.routes import router
from pgkeel_apps.dealership.search import TRIGRAM_SCHEMA, SearchSql
from pgkeel_apps.dealership.seed import load_sample_cars
from pgkeel_apps.dealership.seed_views import load_sample_views
from pgkeel_apps.dealership.settings import ContactSettings, DealershipDemoSettings
from pgkeel_apps.dealership.tables import SCHEMA, TABLES
from pgkeel_apps.settings import DemoSettings

MIGRATIONS = Path(__file__).parent / "migrations"

log = logging.getLogger("pgkeel_apps.dealership")


async def prepare(owner: Database, settings: Settings) -> None:
    """Load the sample inventory and its views (DEMO_DEALERS, DEMO_CARS, DEMO_CAR_VIEWS, ...)
    when DEMO_SEED says so."""
    if not DemoSettings().seeds(settings.app_env):
        return
    demo = DealershipDemoSettings()
    loaded = await load_sample_cars(owner, dealers=demo.demo_dealers, cars=demo.demo_cars,
                                    leads=demo.demo_leads)
    await load_sample_views(owner, loaded, views=demo.demo_car_views)


@asynccontextmanager
async def start(ctx: AppContext) -> AsyncIterator[None]:
    """The car service (search statements built for pg_trgm's schema) and the dealer
    directory."""
    trigram_schema = await ctx.db.fetch_val(TRIGRAM_SCHEMA, readonly=True)
    state = ctx.app.state
    state.dealers = Dealers(ctx.db)
    state.dealership_cars = CarService(ctx.db, ctx.cache, SearchSql(str(trigram_schema)),
                                       cursor_codec=ctx.cursor_codec)
    state.dealership_leads = LeadService(ctx.db, ctx.cache, cursor_codec=ctx.cursor_codec)
    state.dealership_contact_limits = ContactLimits(ctx.services.redis, ContactSettings(),
                                                    prefix=ctx.settings.cache_prefix)
    state.dealership_config = ConfigService(ctx.db, ctx.cache)
    state.dealership_newsletter = Newsletter(ctx.db)
    counters = view_counters(ctx.services.redis, ctx.settings.cache_prefix)
    # When the service stops, the beacon writer writes everything queued, and view counts
    # kept in memory through a Redis outage are pushed to Redis.
    try:
        async with BeaconWriter(ctx.db) as writer:
            state.dealership_beacons = writer
            state.dealership_analytics = Analytics(ctx.db, writer, counters, ctx.cache)
            yield
    finally:
        if not await counters.flush_pending():
            log.error("dealership: %d view counts not pushed to Redis at shutdown",
                      counters.pending)


APP = ReferenceApp(name="dealership", schema=SCHEMA, migrations=MIGRATIONS, tables=TABLES,
                   router=router, prepare=prepare, start=start, jobs=JOBS)

__all__ = ["APP", "MIGRATIONS", "SCHEMA", "TABLES", "CarService", "router"]
