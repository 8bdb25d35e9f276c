"""The identity API behind PgBouncer in transaction mode (Debian's pgbouncer; skipped where it
is not installed).

Every client of PgBouncer shares its few server connections, one transaction at a time. So
nothing a transaction sets may outlive it: the request context (`pgkeel.org_id`, actor,
request id) and the timeouts are transaction-local, and prepared statements are off. The
whole identity suite runs this way wherever pgbouncer is installed (see this directory's
conftest); these tests also check what the suite cannot see from outside.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import uuid
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from pgkeel.db import Database, use_context
from pgkeel.testing import PgBouncer
from pgkeel.testing.pgbouncer import find_pgbouncer
from tests.pgkeel_apps.conftest import make_org, open_api, through_pgbouncer

pytestmark = pytest.mark.skipif(find_pgbouncer() is None,
                                reason="pgbouncer is not installed (apt-get install pgbouncer)")

SEEN = ("SELECT current_setting('pgkeel.org_id', true) AS org,"
        " current_setting('pgkeel.actor_id', true) AS actor,"
        " current_setting('statement_timeout') AS timeout, pg_backend_pid() AS pid")


async def test_context_never_leaks_between_clients_sharing_one_server_connection(
        pgkeel_database_url: str):
    info = conninfo_to_dict(pgkeel_database_url)
    home = Path(tempfile.mkdtemp(prefix="pgkeel-pgbouncer-one-"))
    home.chmod(0o755)
    with PgBouncer(home, str(info["host"]), int(info["port"]), pool_size=1) as bouncer:
        url = bouncer.url(pgkeel_database_url)
        # Two services with different statement timeouts share one server connection.
        options = {"transaction_pooler": True, "min_size": 4, "max_size": 4}
        async with (Database(url, statement_timeout_ms=30_000, **options) as first,
                    Database(url, statement_timeout_ms=7_000, **options) as second):

            async def one(i: int) -> tuple[object, ...]:
                db = (first, second)[i % 2]
                org = str(uuid.uuid4()) if random.random() < 0.5 else None
                if org is None:
                    async with db.transaction() as tx:
                        row = await tx.fetch_one(SEEN)
                    return (None, None, ("30s", "7s")[i % 2]), row
                with use_context(org_id=org, actor_id=f"actor-{i}"):
                    async with db.transaction(timeout=1.5) as tx:
                        row = await tx.fetch_one(SEEN)
                return (org, f"actor-{i}", "1500ms"), row

            results = await asyncio.gather(*(one(i) for i in range(300)))
    assert len({row["pid"] for _, row in results}) == 1, "one server connection"
    for expected, row in results:
        assert (row["org"] or None, row["actor"] or None, row["timeout"]) == expected


async def test_the_identity_api_through_pgbouncer(pgkeel_settings, role_settings, monkeypatch,
                                                  pgkeel_pgbouncer):
    settings = through_pgbouncer(role_settings, pgkeel_pgbouncer)
    async with open_api(settings, monkeypatch, admin=pgkeel_settings) as api:
        assert api.app_db.url.endswith(f":{pgkeel_pgbouncer.listen_port}/"
                                       + str(conninfo_to_dict(settings.database_url)["dbname"]))
        one, two = await make_org(api), await make_org(api)
        headers = {org["slug"]: await api.as_(org["slug"], "admin0") for org in (one, two)}

        async def create(org: dict, i: int) -> dict:
            body = {"email": f"pgb-{i}-{uuid.uuid4().hex[:8]}@example.com",
                    "displayName": f"pgb {i}"}
            key = {"Idempotency-Key": str(uuid.uuid4())}
            first = await api.client.post("/v1/users", json=body,
                                          headers={**headers[org["slug"]], **key})
            retry = await api.client.post("/v1/users", json=body,
                                          headers={**headers[org["slug"]], **key})
            assert first.status_code == 201, first.text
            assert retry.headers["idempotent-replayed"] == "true"
            return first.json()

        made = await asyncio.gather(*(create((one, two)[i % 2], i) for i in range(40)))
        for org in (one, two):
            listed = await api.client.get("/v1/users?limit=100", headers=headers[org["slug"]])
            assert listed.status_code == 200
            ids = {u["id"] for u in listed.json()["items"]}
            mine = {u["id"] for u in made if u["organizationId"] == str(org["id"])}
            theirs = {u["id"] for u in made} - mine
            assert mine <= ids and not theirs & ids, "each organization sees only its own"
        user = made[0]
        changed = await api.client.patch(f"/v1/users/{user['id']}", headers=headers[one["slug"]],
                                         json={"displayName": "renamed", "version": 1})
        assert changed.status_code == 200, changed.text
        other = await api.client.get(f"/v1/users/{user['id']}", headers=headers[two["slug"]])
        assert other.status_code == 404
