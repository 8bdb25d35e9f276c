"""The dashboards on a real streaming replica (`pgkeel_streaming_replica`: a `pg_basebackup`
hot standby of the test server, or of a private primary where the server refuses
replication): reads go to the replica, writes to the primary; a replica whose replay is
paused falls behind `DB_REPLICA_MAX_LAG_S` and reads move to the primary until it catches
up; a killed replica is skipped without a failed request; a write in a replica-routed
transaction is refused with its own error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import pytest

from pgkeel.config import Settings
from pgkeel.db import Database, use_context
from pgkeel.errors import ReadOnlyTransaction
from pgkeel.security import role_url
from pgkeel.testing import StreamingReplica
from pgkeel_apps.roles import serve_as_roles
from tests.pgkeel_apps.conftest import Api, open_api

from .conftest import make_school

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def served(pgkeel_streaming_replica: StreamingReplica, pgkeel_settings: Settings,
           request: pytest.FixtureRequest) -> tuple[Settings, Settings]:
    """(admin, app-role) settings of the service on the pair, set up once per module. On
    the test server's own standby: the session's roles and migrations, replica reads on the
    standby as the app role. On a private primary: its own roles and migrations."""
    pair = pgkeel_streaming_replica
    if pair.of_server:
        roles: Settings = request.getfixturevalue("role_settings")
        assert roles.database_url is not None
        user = psycopg.conninfo.conninfo_to_dict(roles.database_url)
        password = user.get("password")
        replica = role_url(pair.standby_url, str(user["user"]),
                           None if password is None else str(password))
        return pgkeel_settings, roles.model_copy(update={"database_replica_urls": (replica,)})
    admin = pgkeel_settings.model_copy(update={
        "database_url": pair.primary_url, "migration_database_url": None,
        "database_replica_urls": (pair.standby_url,)})
    return admin, asyncio.run(serve_as_roles(admin, "pgkeel_replica"))


@asynccontextmanager
async def replica_api(served: tuple[Settings, Settings], monkeypatch: Any, *,
                      max_lag_s: float) -> AsyncIterator[Api]:
    """The reference service on the pair: requests as its app role on the primary, replica
    reads on the standby."""
    admin, roles = served
    roles = roles.model_copy(update={"db_replica_max_lag_s": max_lag_s})
    async with open_api(roles, monkeypatch, admin=admin) as api:
        yield api


async def _refresh(api: Api, school: dict[str, Any]) -> str:
    response = await api.client.post("/v1/school/metrics/refresh", headers=school["headers"])
    assert response.status_code == 200, response.text
    return str(response.json()["refreshedAt"])


async def _shown(api: Api, school: dict[str, Any]) -> str:
    response = await api.client.get("/v1/school/dashboard/overview", headers=school["headers"])
    assert response.status_code == 200, response.text
    return str(response.json()["metricsRefreshedAt"])


async def _until(condition: Any, what: str, timeout_s: float = 30.0) -> None:
    """Poll `condition()` (async) until it is true; fail after `timeout_s`."""
    async def wait() -> None:
        while not await condition():
            await asyncio.sleep(0.1)
    try:
        await asyncio.wait_for(wait(), timeout_s)
    except TimeoutError:
        pytest.fail(f"gave up waiting for {what}")


async def test_dashboards_read_the_replica_and_writes_go_to_the_primary(
        pgkeel_streaming_replica, served, monkeypatch):
    pair = pgkeel_streaming_replica
    async with replica_api(served, monkeypatch, max_lag_s=3600) as api:
        school = await make_school(api, students=2)
        first = await _refresh(api, school)
        pair.wait_caught_up()
        assert await _shown(api, school) == first
        pair.pause_replay()
        try:
            second = await _refresh(api, school)          # a write: on the primary
            # The standby stopped applying WAL before the second refresh: a dashboard that
            # shows the first one was served by the standby.
            assert await _shown(api, school) == first
            last = await api.client.get("/v1/school/metrics/refresh", headers=school["headers"])
            assert last.json()["refreshedAt"] == second      # a primary read
        finally:
            pair.resume_replay()
        pair.wait_caught_up()
        assert await _shown(api, school) == second


async def test_a_lagging_replica_is_skipped_until_it_catches_up(
        pgkeel_streaming_replica, served, monkeypatch):
    pair = pgkeel_streaming_replica
    async with replica_api(served, monkeypatch, max_lag_s=1.0) as api:
        school = await make_school(api, students=2)
        db = api.app_db
        pair.wait_caught_up()
        pair.pause_replay()
        try:
            second = await _refresh(api, school)

            async def on_the_primary() -> bool:
                return await _shown(api, school) == second
            await _until(on_the_primary, "reads to move to the primary")
            assert db.replica_status()[0]["lag_s"] > 1.0
        finally:
            pair.resume_replay()
        pair.wait_caught_up()

        async def back_on_the_replica() -> bool:
            with use_context(org_id=school["id"]):
                async with db.transaction(replica=True) as tx:
                    return tx.pool_name == "replica1"
        await _until(back_on_the_replica, "reads to return to the replica")
        assert db.replica_status()[0]["lag_s"] <= 1.0
        assert await _shown(api, school) == second


async def test_a_killed_replica_is_skipped_without_a_failed_request(
        pgkeel_streaming_replica, served, monkeypatch):
    pair = pgkeel_streaming_replica
    async with replica_api(served, monkeypatch, max_lag_s=3600) as api:
        school = await make_school(api, students=2)
        shown = await _refresh(api, school)
        pair.wait_caught_up()
        assert await _shown(api, school) == shown
        pair.stop_standby()
        try:
            for _ in range(5):
                assert await _shown(api, school) == shown    # 200 each time, from the primary
            assert api.app_db.replica_status()[0]["down"] is True
        finally:
            pair.start_standby()


async def test_a_write_in_a_replica_routed_transaction_is_refused(
        pgkeel_streaming_replica, served, monkeypatch):
    pair = pgkeel_streaming_replica
    async with replica_api(served, monkeypatch, max_lag_s=3600) as api:
        school = await make_school(api, students=1)
        pair.wait_caught_up()
        db: Database = api.app_db
        with use_context(org_id=school["id"]), pytest.raises(ReadOnlyTransaction) as refused:
            async with db.transaction(replica=True) as tx:
                assert tx.pool_name == "replica1"
                await tx.execute("UPDATE school.courses SET name = 'renamed'")
        assert refused.value.code == "read_only_transaction"
        assert "replica=True" in (refused.value.hint or "")
        assert await api.db.fetch_val("SELECT count(*) FROM school.courses "
                                      "WHERE name = 'renamed'") == 0
