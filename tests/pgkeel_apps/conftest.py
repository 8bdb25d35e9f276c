"""The reference service in-process (its real lifespan: migrations, sample data) + helpers."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from pgkeel.security import hash_password
from pgkeel_apps.main import create_app

PASSWORD = "pgkeel-demo"
DEMO_ENV = {"DEMO_ORGS": "3", "DEMO_USERS": "60", "DEMO_PASSWORD": PASSWORD}
_HASH = hash_password(PASSWORD)


class Api:
    """An httpx client bound to the app, with login helpers."""

    def __init__(self, client: httpx.AsyncClient, app: Any) -> None:
        self.client = client
        self.app = app

    async def token(self, org: str, who: str = "admin") -> str:
        response = await self.client.post("/v1/auth/login", json={
            "organization": org, "email": f"{who}@{org}.example", "password": PASSWORD})
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    async def as_(self, org: str, who: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(org, who)}"}

    @property
    def db(self) -> Any:
        return self.app.state.pgkeel.db


@pytest.fixture
async def api(pgkeel_settings, monkeypatch) -> AsyncIterator[Api]:
    for name, value in DEMO_ENV.items():
        monkeypatch.setenv(name, value)
    app = create_app(pgkeel_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(client, app)


async def make_org(api: Api, *, admins: int = 1, others: int = 2) -> dict[str, Any]:
    """A fresh organization of this test's own: ADMIN and VIEWER roles, `admins` admins
    (admin0@…), `others` plain users (user0@…), all with PASSWORD."""
    slug = f"t-{secrets.token_hex(4)}"
    org = uuid.uuid4()
    admin_role, viewer_role = uuid.uuid4(), uuid.uuid4()
    people: dict[str, uuid.UUID] = {}
    async with api.db.transaction() as tx:
        await tx.execute("INSERT INTO identity.organizations (id, slug, name) "
                         "VALUES (%s, %s, %s)", (org, slug, slug))
        await tx.execute(
            "INSERT INTO identity.roles (id, organization_id, name, permissions) VALUES "
            "(%s, %s, 'ADMIN', '{USERS_READ,USERS_WRITE,AUDIT_READ}'), "
            "(%s, %s, 'VIEWER', '{USERS_READ}')",
            (admin_role, org, viewer_role, org))
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
            **people}
