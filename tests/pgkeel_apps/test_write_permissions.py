"""Every write route of every app, taken from the service's route table, refuses a caller who
may only read and a caller with no permission (403), and lets a caller holding every
permission past the check. A route added later is covered without touching this file; the only
exceptions are `PUBLIC_WRITE_ROUTES`, and each of those must still exist."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute

from pgkeel_apps import permissions
from pgkeel_apps.main import create_app

from .conftest import Api, make_org

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
ALL_PERMISSIONS = sorted(v for k, v in vars(permissions).items()
                         if k.isupper() and isinstance(v, str))
READ_PERMISSIONS = [p for p in ALL_PERMISSIONS if not p.endswith("_WRITE")]


def _walk(routes: list[Any]) -> Iterator[tuple[set[str], str]]:
    """(methods, path) of every route, through included routers of any FastAPI version."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route.methods, route.path
        elif hasattr(route, "effective_route_contexts"):   # FastAPI >= 0.16x: included routers
            for context in route.effective_route_contexts():
                yield set(context.methods or ()), context.path


def write_routes() -> list[tuple[str, str]]:
    """Every write route: the route table, and the OpenAPI paths (the same, stated publicly)."""
    app = create_app()
    routes = {(method, path) for methods, path in _walk(app.routes)
              for method in methods & WRITE_METHODS}
    routes |= {(method.upper(), path) for path, operations in app.openapi()["paths"].items()
               for method in operations if method.upper() in WRITE_METHODS}
    return sorted(routes)


def test_the_route_table_has_write_routes_and_the_exemptions_exist():
    routes = write_routes()
    assert len(routes) >= 10
    assert set(routes) >= permissions.PUBLIC_WRITE_ROUTES, "a stale exemption"
    assert any(p.endswith("_WRITE") for p in ALL_PERMISSIONS)


def _url(path: str) -> str:
    """The path with every {parameter} filled with a fresh id."""
    parts = path.split("/")
    return "/".join(str(uuid.uuid4()) if p.startswith("{") else p for p in parts)


@pytest.fixture
async def callers(api: Api) -> dict[str, dict[str, str]]:
    """Tokens of one organization: `reader` holds every read permission, `nobody` none,
    `everything` every permission there is."""
    org = await make_org(api, admins=1, others=2)
    reader_role, all_role = uuid.uuid4(), uuid.uuid4()
    async with api.db.transaction() as tx:
        await tx.execute(
            "INSERT INTO identity.roles (id, organization_id, name, permissions) VALUES "
            "(%s, %s, 'READ_ALL', %s), (%s, %s, 'EVERYTHING', %s)",
            (reader_role, org["id"], READ_PERMISSIONS, all_role, org["id"], ALL_PERMISSIONS))
        await tx.execute(
            "INSERT INTO identity.user_roles (organization_id, user_id, role_id) VALUES "
            "(%s, %s, %s), (%s, %s, %s)",
            (org["id"], org["user1"], reader_role, org["id"], org["admin0"], all_role))
    return {"reader": await api.as_(org["slug"], "user1"),
            "nobody": await api.as_(org["slug"], "user0"),
            "everything": await api.as_(org["slug"], "admin0")}


async def test_every_write_route_needs_a_write_permission(api: Api, callers: dict[str, Any]):
    """One service for all routes (starting it is the slow part); every failure is listed."""
    checked, failures = 0, []
    for method, path in write_routes():
        if (method, path) in permissions.PUBLIC_WRITE_ROUTES:
            continue
        url = _url(path)
        for who in ("reader", "nobody"):
            response = await api.client.request(method, url, headers=callers[who], json={})
            if response.status_code != 403 or response.json()["code"] != "forbidden":
                failures.append(f"{method} {path} as {who}: {response.status_code}")
        allowed = await api.client.request(method, url, headers=callers["everything"],
                                           json={})
        if allowed.status_code in (401, 403):
            failures.append(f"{method} {path} with every permission: {allowed.status_code}")
        checked += 1
    assert failures == []
    assert checked == len(write_routes()) - len(permissions.PUBLIC_WRITE_ROUTES)
