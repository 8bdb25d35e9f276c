"""The identity suite serves through PgBouncer in transaction mode wherever pgbouncer is
installed, and straight to PostgreSQL where it is not.

So the identity API is proven behind a pooler on every run, at no extra cost: the suite runs
once, its test ids say which way (`[pgbouncer]` or `[direct]`), and the direct path stays
covered by every other app's suite. PGKEEL_TEST_PGBOUNCER=0 forces the direct way (to check
both); PGKEEL_TEST_PGBOUNCER=1 sends every app's suite through PgBouncer.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from pgkeel.config import Settings
from pgkeel.testing.pgbouncer import find_pgbouncer
from tests.pgkeel_apps.conftest import Api, open_api, through_pgbouncer

ROUTE = ("direct" if os.environ.get("PGKEEL_TEST_PGBOUNCER") == "0" or find_pgbouncer() is None
         else "pgbouncer")
"""How this run's identity service reaches PostgreSQL."""


@pytest.fixture(params=[ROUTE])
def identity_settings(role_settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The app role's settings, through PgBouncer (DB_TRANSACTION_POOLER=true) when ROUTE
    says so; migrations stay direct."""
    if request.param == "pgbouncer":
        return through_pgbouncer(role_settings, request.getfixturevalue("pgkeel_pgbouncer"))
    return role_settings


@pytest.fixture
async def api(pgkeel_settings: Settings, identity_settings: Settings,
              monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    """The identity service as the app role, the way ROUTE says."""
    async with open_api(identity_settings, monkeypatch, admin=pgkeel_settings) as opened:
        yield opened
