"""The reference service in-process (its real lifespan: migrations, sample data) + helpers.

The service runs as it does in production: migrations as this session's migrator role,
requests as its app role (NOBYPASSRLS, not the owner), so row-level security is exercised
for real. `api.db` is an admin connection for test set-up and checks; `api.app_db` is the
service's own.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from pgkeel.config import Settings
from pgkeel.db import Database
from pgkeel.security import RoleNames, hash_password
from pgkeel_apps.main import create_app
from pgkeel_apps.roles import serve_as_roles

PASSWORD = "pgkeel-demo"
DEMO_ENV = {"DEMO_SEED": "true", "DEMO_ORGS": "3", "DEMO_USERS": "60", "DEMO_PASSWORD": PASSWORD,
            "DEMO_CARS": "200", "DEMO_LEADS": "50", "DEMO_CAR_VIEWS": "2000",
            "DEMO_COURSES": "6", "DEMO_ATTENDANCES": "3000"}
# The suite logs in far more often than any person: login limits stay out of its way unless a
# test asks for them (`open_api(..., LOGIN_ACCOUNT_LIMIT="3")`).
TEST_ENV = {**DEMO_ENV, "LOGIN_IP_LIMIT": "1000000", "LOGIN_ACCOUNT_LIMIT": "1000000",
            "LOGIN_LOCKOUT_THRESHOLD": "1000000"}
_HASH = hash_password(PASSWORD)


class Api:
    """An httpx client bound to the app, with login helpers."""

    def __init__(self, client: httpx.AsyncClient, app: Any, admin: Database) -> None:
        self.client = client
        self.app = app
        self.db = admin
        """An admin Database (bypasses row-level security): for set-up and checks."""

    async def token(self, org: str, who: str = "admin") -> str:
        response = await self.client.post("/v1/auth/login", json={
            "organization": org, "email": f"{who}@{org}.example", "password": PASSWORD})
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    async def as_(self, org: str, who: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(org, who)}"}

    @property
    def app_db(self) -> Database:
        """The service's Database: connected as the app role."""
        db: Database = self.app.state.pgkeel.db
        return db


@pytest.fixture(scope="session")
def role_settings(pgkeel_settings: Settings, role_names: RoleNames) -> Settings:
    """Settings that migrate as this session's migrator and serve as its app role."""
    return asyncio.run(serve_as_roles(pgkeel_settings, role_names.app.removesuffix("_app")))


@asynccontextmanager
async def open_api(settings: Any, monkeypatch: Any, *, admin: Settings | None = None,
                   **env: str) -> AsyncIterator[Api]:
    """The reference service in-process with TEST_ENV plus `env`, its lifespan running, as
    `settings` say (the `role_settings` fixture: as the app role); `api.db` connects with
    `admin` (default: `settings`)."""
    for name, value in {**TEST_ENV, **env}.items():
        monkeypatch.setenv(name, value)
    app = create_app(settings)
    async with (Database.from_settings(admin or settings, min_size=1) as admin_db,
                app.router.lifespan_context(app)):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(client, app, admin_db)


def through_pgbouncer(settings: Settings, bouncer: Any) -> Settings:
    """`settings` serving through PgBouncer in transaction mode (DB_TRANSACTION_POOLER: no
    session state); migrations stay direct."""
    assert settings.database_url is not None
    return settings.model_copy(update={"database_url": bouncer.url(settings.database_url),
                                       "db_transaction_pooler": True})


@pytest.fixture
async def api(pgkeel_settings, role_settings, monkeypatch,
              request: pytest.FixtureRequest) -> AsyncIterator[Api]:
    """The service as the app role; with PGKEEL_TEST_PGBOUNCER=1, through PgBouncer (the
    identity suite has its own: through PgBouncer wherever it is installed)."""
    settings = role_settings
    if os.environ.get("PGKEEL_TEST_PGBOUNCER") == "1":
        settings = through_pgbouncer(role_settings, request.getfixturevalue("pgkeel_pgbouncer"))
    async with open_api(settings, monkeypatch, admin=pgkeel_settings) as opened:
        yield opened


async def make_org(api: Api, *, admins: int = 1, others: int = 2) -> dict[str, Any]:
    """A fresh organization of this test's own: ADMIN, VIEWER and SUPER_ADMIN roles, `admins` admins
    (admin0@…), `others` plain users (user0@…), all with PASSWORD."""
    slug = f"t-{secrets.token_hex(4)}"
    org = uuid.uuid4()
    admin_role, viewer_role, super_role = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    people: dict[str, uuid.UUID] = {}
    async with api.db.transaction() as tx:
        await tx.execute("INSERT INTO identity.organizations (id, slug, name) "
                         "VALUES (%s, %s, %s)", (org, slug, slug))
        await tx.execute(
            "INSERT INTO identity.roles (id, organization_id, name, permissions) VALUES "
            "(%s, %s, 'ADMIN', '{USERS_READ,USERS_WRITE,AUDIT_READ}'), "
            "(%s, %s, 'VIEWER', '{USERS_READ}'), "
            "(%s, %s, 'SUPER_ADMIN', '{USERS_READ,USERS_WRITE,AUDIT_READ,ROLES_WRITE}')",
            (admin_role, org, viewer_role, org, super_role, org))
        for kind, count in (("admin", admins), ("user", others)):
            for i in range(count):
                person = uuid.uuid4()
                people[f"{kind}{i}"] = person
                await tx.execute(
                    "INSERT INTO identity.users (id, organization_id, email, display_name, "
                    "password_hash) VALUES (%s, %s, %s, %s, %s)",
                    (person, org, f"{kind}{i}@{slug}.example", f"{kind} {i}", _HASH))
                if kind == "admin":
                    await tx.execute(
                        "INSERT INTO identity.user_roles (organization_id, user_id, role_id) "
                        "VALUES (%s, %s, %s)", (org, person, admin_role))
    return {"slug": slug, "id": org, "admin_role": admin_role, "viewer_role": viewer_role,
            "super_role": super_role,
            **people}
