"""The identity service: organizations, users, roles, sessions, `/v1/users`."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pgkeel.config import Settings
from pgkeel.db import Database
from pgkeel.security import verify_password_async
from pgkeel_apps.app import AppContext, ReferenceApp
from pgkeel_apps.identity.auth import LoginGuard, SessionAuthenticator
from pgkeel_apps.identity.routes import router
from pgkeel_apps.identity.seed import load_sample_data, refuse_demo_accounts
from pgkeel_apps.identity.service import IdentityService
from pgkeel_apps.identity.tables import ROLES, SCHEMA, TABLES, USERS
from pgkeel_apps.identity.tokens import JOBS, VerificationTokens
from pgkeel_apps.settings import AuthSettings, DemoSettings

MIGRATIONS = Path(__file__).parent / "migrations"


async def prepare(owner: Database, settings: Settings) -> None:
    """Load the sample organizations and users (DEMO_*), and refuse to run in production
    while demo accounts exist."""
    demo = DemoSettings()
    if demo.seeds(settings.app_env):
        await load_sample_data(owner, organizations=demo.demo_orgs, users=demo.demo_users,
                               password=demo.demo_password)
    if settings.is_production:
        await refuse_demo_accounts(owner)


@asynccontextmanager
async def start(ctx: AppContext) -> AsyncIterator[None]:
    """The identity service, the bearer-token authenticator and the login guard."""
    auth = AuthSettings()
    # The first check against no hash makes the timing equaliser's dummy hash: before the
    # first login, so that no login's timing differs.
    await verify_password_async("warm-up", None)
    state = ctx.app.state
    state.identity = IdentityService(ctx.db, ctx.cache, cursor_codec=ctx.cursor_codec,
                                     password_min_chars=auth.password_min_chars,
                                     cache_users=DemoSettings().user_cache)
    state.pgkeel_authenticator = SessionAuthenticator(
        ctx.db, ttl=dt.timedelta(seconds=auth.session_ttl_s))
    secret = ctx.settings.cursor_secret
    state.login_guard = LoginGuard(
        ctx.services.redis, auth, prefix=ctx.settings.cache_prefix,
        subject_key=secret.get_secret_value().encode() if secret is not None else None)
    state.verification_tokens = VerificationTokens(
        ctx.db, verify_ttl_s=auth.verify_email_ttl_s, reset_ttl_s=auth.password_reset_ttl_s,
        password_min_chars=auth.password_min_chars)
    yield


APP = ReferenceApp(name="identity", schema=SCHEMA, migrations=MIGRATIONS, tables=TABLES,
                   router=router, prepare=prepare, start=start, jobs=JOBS)

__all__ = ["APP", "MIGRATIONS", "ROLES", "SCHEMA", "TABLES", "USERS", "IdentityService",
           "LoginGuard", "SessionAuthenticator", "load_sample_data", "refuse_demo_accounts",
           "router"]
