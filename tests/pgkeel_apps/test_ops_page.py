"""The /ops page of the reference service: administrators only (bearer header, or the cookie
its login form sets), and the same check states in its HTML, in /ops/json and in
`pgkeel.ops.check_health` for checks made to fire for real."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgkeel import ops
from pgkeel.web.ops_page import COOKIE
from tests.ops.conftest import wait_until
from tests.pgkeel_apps.conftest import open_api

ROW = re.compile(r'<tr data-check="([a-z_]+)" data-state="([A-Z]+)">')


async def test_the_page_is_for_administrators_only_and_its_form_sets_a_strict_cookie(api):
    anonymous = await api.client.get("/ops")
    assert (anonymous.status_code, anonymous.headers["location"]) == (303, "/ops/login")
    assert (await api.client.get("/ops/json")).status_code == 401
    viewer = await api.as_("org-1", "viewer")
    denied = await api.client.get("/ops/json", headers=viewer)
    assert (denied.status_code, denied.json()["code"]) == (403, "forbidden")
    assert (await api.client.get("/ops", headers=viewer)).status_code == 403

    admin = await api.as_("org-1")
    page = await api.client.get("/ops", headers=admin)
    assert page.status_code == 200
    assert "script" not in page.headers["content-security-policy"]
    assert "<script" not in page.text
    assert set(re.findall(r'data-panel="([a-z_]+)"', page.text)) == {
        "health", "slow_queries", "cache", "pool", "outbox", "audit_queue"}

    # A browser logs in through the form: the token goes into a strict, HttpOnly cookie.
    token = await api.token("org-1")
    refused = await api.client.post("/ops/login", content="token=not-a-token",
                                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert refused.status_code == 401 and COOKIE not in refused.cookies
    foreign = await api.client.post("/ops/login", content=f"token={token}", headers={
        "content-type": "application/x-www-form-urlencoded", "origin": "https://evil.example"})
    assert foreign.status_code == 400
    viewer = await api.token("org-1", "viewer")
    assert (await api.client.post("/ops/login", content=f"token={viewer}", headers={
        "content-type": "application/x-www-form-urlencoded"})).status_code == 403

    login = await api.client.post("/ops/login", content=f"token={token}", headers={
        "content-type": "application/x-www-form-urlencoded", "origin": "http://test"})
    assert (login.status_code, login.headers["location"]) == (303, "/ops")
    cookie = login.headers["set-cookie"]
    assert all(part in cookie for part in ("HttpOnly", "SameSite=strict", "Path=/ops"))
    assert (await api.client.get("/ops")).status_code == 200  # the client keeps the cookie
    logout = await api.client.post("/ops/logout")
    assert logout.status_code == 303
    api.client.cookies.clear()
    assert (await api.client.get("/ops/json")).status_code == 401


async def test_fired_checks_show_the_same_state_on_the_page_and_in_json(
        role_settings, pgkeel_settings, monkeypatch):
    # Thresholds at zero: a session idle in a transaction is CRIT at once, its transaction
    # a long one, and a statement waiting for its lock a blocked one.
    settings = role_settings.model_copy(update={"ops_idle_in_transaction_warn_s": 0,
                                                "ops_idle_in_transaction_crit_s": 0,
                                                "ops_long_transaction_warn_s": 0,
                                                "ops_blocked_query_warn_s": 0})
    async with open_api(settings, monkeypatch, admin=pgkeel_settings) as api:
        idle = await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True)
        waiter = await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True)
        owner = await psycopg.AsyncConnection.connect(str(pgkeel_settings.database_url),
                                                      autocommit=True)
        blocked = None
        try:
            blocked = await _fire(idle, waiter, owner, api)
            headers = await api.as_("org-1")
            library = (await ops.check_health(api.app_db, settings)).by_name()
            as_json = {c["name"]: c["state"] for c in
                       (await api.client.get("/ops/json", headers=headers)).json()[
                           "health"]["checks"]}
            page = dict(ROW.findall((await api.client.get("/ops", headers=headers)).text))
            for name in ("idle_in_transaction", "long_transactions", "invalid_indexes",
                         "blocked_queries"):
                assert library[name].state.value != "OK", library[name]
                assert as_json[name] == page[name] == library[name].state.value, name
            assert as_json == page
        finally:
            await idle.execute("ROLLBACK")
            if blocked is not None:
                await blocked
            await owner.execute("DROP TABLE IF EXISTS public.ops_page_broken")
            for conn in (idle, waiter, owner):
                await conn.close()


async def _fire(idle: Any, waiter: Any, owner: Any, api: Any) -> asyncio.Task[Any]:
    """A session of the service's role idle in a transaction that holds a row lock, another
    one waiting for that lock (the task returned), and an index left invalid by a CREATE
    INDEX CONCURRENTLY that failed."""
    await owner.execute("DROP TABLE IF EXISTS public.ops_page_broken")
    await owner.execute("CREATE TABLE public.ops_page_broken (n int)")
    await owner.execute("INSERT INTO public.ops_page_broken VALUES (1), (1)")
    role = idle.info.user
    await owner.execute(sql.SQL("GRANT SELECT, UPDATE ON public.ops_page_broken TO {}").format(
        sql.Identifier(role)))
    with pytest.raises(psycopg.errors.UniqueViolation):
        await owner.execute("CREATE UNIQUE INDEX CONCURRENTLY ops_page_broken_n "
                            "ON public.ops_page_broken (n)")
    await idle.execute("BEGIN")
    await idle.execute("UPDATE public.ops_page_broken SET n = n")
    blocked = asyncio.create_task(waiter.execute("UPDATE public.ops_page_broken SET n = n"))
    pid, waiting = idle.info.backend_pid, waiter.info.backend_pid

    async def fired() -> bool:
        state = await api.db.fetch_val("SELECT state FROM pg_stat_activity WHERE pid = %s",
                                       (pid,))
        lock = await api.db.fetch_val("SELECT wait_event_type FROM pg_stat_activity"
                                      " WHERE pid = %s", (waiting,))
        return state == "idle in transaction" and lock == "Lock"
    await wait_until(fired, "one session idle in its transaction, another waiting for its lock")
    return blocked
