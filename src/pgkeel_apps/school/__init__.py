"""The school analytics app: students, courses, enrollments, class sessions, attendance and
feedback, with dashboards read from `student_metrics_mv` on a replica."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pgkeel.config import Settings
from pgkeel.db import Database
from pgkeel_apps.app import AppContext, ReferenceApp
from pgkeel_apps.school.jobs import JOBS
from pgkeel_apps.school.metrics import Refresh, last_refresh, refresh_student_metrics
from pgkeel_apps.school.routes import router
from pgkeel_apps.school.seed import load_sample_data
from pgkeel_apps.school.service import SchoolService
from pgkeel_apps.school.settings import SchoolSettings
from pgkeel_apps.school.tables import SCHEMA, TABLES
from pgkeel_apps.settings import DemoSettings

MIGRATIONS = Path(__file__).parent / "migrations"


async def prepare(owner: Database, settings: Settings) -> None:
    """Load the sample schools (DEMO_SCHOOLS, ...) when DEMO_SEED asks for sample data."""
    demo, school = DemoSettings(), SchoolSettings()
    if demo.seeds(settings.app_env):
        await load_sample_data(owner, schools=min(school.demo_schools, demo.demo_orgs),
                               students=school.demo_students, courses=school.demo_courses,
                               attendances=school.demo_attendances)


@asynccontextmanager
async def start(ctx: AppContext) -> AsyncIterator[None]:
    """The school service (`pgkeel maintain` refreshes its metrics view: `JOBS`)."""
    ctx.app.state.school = SchoolService(ctx.db, ctx.cache, cursor_codec=ctx.cursor_codec,
                                         settings=SchoolSettings())
    yield


APP = ReferenceApp(name="school", schema=SCHEMA, migrations=MIGRATIONS, tables=TABLES,
                   router=router, prepare=prepare, start=start, jobs=JOBS)

__all__ = ["APP", "JOBS", "MIGRATIONS", "SCHEMA", "TABLES", "Refresh", "SchoolService",
           "SchoolSettings", "last_refresh", "load_sample_data", "refresh_student_metrics",
           "router"]
