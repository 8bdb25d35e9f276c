"""Login: rate limits per IP and per account (429 + Retry-After), lockouts with backoff that
are audited, logout, expiring tokens, and Argon2 off the event loop."""

from __future__ import annotations

import asyncio
import secrets
from contextlib import asynccontextmanager

import httpx
from argon2 import PasswordHasher

from pgkeel.security import checks_in_flight
from tests.pgkeel_apps.conftest import PASSWORD, Api, make_org, open_api


@asynccontextmanager
async def from_ip(api: Api):
    """A client of the same app that comes from an address of its own."""
    ip = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False, client=(ip, 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def creds(org, who: str = "admin0", password: str = PASSWORD) -> dict[str, str]:
    return {"organization": org["slug"], "email": f"{who}@{org['slug']}.example",
            "password": password}


async def test_login_is_limited_per_ip_and_per_account(pgkeel_settings, identity_settings,
                                                       monkeypatch):
    async with open_api(identity_settings, monkeypatch, admin=pgkeel_settings,
                        LOGIN_IP_LIMIT="4",
                        LOGIN_ACCOUNT_LIMIT="2") as api:
        org = await make_org(api, admins=1, others=3)
        async with from_ip(api) as client:
            codes = [(await client.post("/v1/auth/login", json=creds(org))).status_code
                     for _ in range(3)]
            assert codes == [200, 200, 429], "per organization + email"
            other = await client.post("/v1/auth/login", json=creds(org, "user0"))
            assert other.status_code == 200
            refused = await client.post("/v1/auth/login", json=creds(org, "user1"))
        assert refused.status_code == 429, "per IP: 4 attempts counted, the 5th refused"
        assert refused.json()["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        async with from_ip(api) as elsewhere:
            assert (await elsewhere.post("/v1/auth/login", json=creds(org, "user1"))
                    ).status_code == 200


async def test_failures_lock_out_with_backoff_and_are_audited(pgkeel_settings, identity_settings,
                                                              monkeypatch):
    async with open_api(identity_settings, monkeypatch, admin=pgkeel_settings,
                        LOGIN_LOCKOUT_THRESHOLD="3",
                        LOGIN_LOCKOUT_BASE_S="30") as api:
        org = await make_org(api)
        wrong = creds(org, password="not-the-password")
        codes = [(await api.client.post("/v1/auth/login", json=wrong)).status_code
                 for _ in range(3)]
        assert codes == [401, 401, 401]
        locked = await api.client.post("/v1/auth/login", json=creds(org))
        assert locked.status_code == 429, "even the right password waits out the lockout"
        assert 25 <= int(locked.headers["retry-after"]) <= 30
        # an account that does not exist locks out the same way: a 429 reveals nothing
        ghost = creds(org, "nobody-here")
        ghost_codes = [(await api.client.post("/v1/auth/login", json=ghost)).status_code
                       for _ in range(4)]
        assert ghost_codes == [401, 401, 401, 429]

        await api.app.state.audit_appender.flush()
        events = await api.db.fetch_all(
            "SELECT action, actor_id, entity_id, metadata FROM audit.audit_log "
            "WHERE organization_id = %s ORDER BY id", (str(org["id"]),))
    actions = [e["action"] for e in events]
    assert actions.count("users.login_failed") == 6
    assert actions.count("users.locked_out") == 2
    mine = [e for e in events if e["entity_id"] == str(org["admin0"])]
    lock = next(e for e in mine if e["action"] == "users.locked_out")
    assert lock["metadata"]["seconds"] == 30 and lock["metadata"]["failures"] == 3
    assert all(e["actor_id"] is None for e in events)


async def test_logout_revokes_the_session_and_tokens_expire(pgkeel_settings, identity_settings,
                                                            monkeypatch):
    async with open_api(identity_settings, monkeypatch, admin=pgkeel_settings,
                        SESSION_TTL_S="120") as api:
        org = await make_org(api)
        login = await api.client.post("/v1/auth/login", json=creds(org))
        body = login.json()
        assert login.headers["cache-control"] == "no-store"
        headers = {"Authorization": f"Bearer {body['token']}"}
        assert (await api.client.get("/v1/users", headers=headers)).status_code == 200
        expiry = await api.db.fetch_val(
            "SELECT expires_at - created_at FROM identity.sessions WHERE user_id = %s",
            (org["admin0"],))
        assert 110 <= expiry.total_seconds() <= 121
        assert (await api.client.post("/v1/auth/logout", headers=headers)).status_code == 204
        assert (await api.client.get("/v1/users", headers=headers)).status_code == 401
        assert (await api.client.post("/v1/auth/logout", headers=headers)).status_code == 401
        # an expired session is refused
        again = {"Authorization": f"Bearer {await api.token(org['slug'], 'admin0')}"}
        await api.db.execute("UPDATE identity.sessions SET expires_at = now() - interval '1 s'"
                             " WHERE user_id = %s", (org["admin0"],))
        assert (await api.client.get("/v1/users", headers=again)).status_code == 401


async def test_a_login_burst_does_not_stall_health(api: Api):
    """Argon2 runs off the event loop: with several slow verifications in flight, /health
    still answers, and answers before any of those logins finishes."""
    org = await make_org(api)
    slow = PasswordHasher(time_cost=12).hash(PASSWORD)  # 4x the default cost
    await api.db.execute("UPDATE identity.users SET password_hash = %s WHERE id = %s",
                         (slow, org["admin0"]))
    burst = 4
    logins = [asyncio.create_task(api.client.post("/v1/auth/login", json=creds(org)))
              for _ in range(burst)]
    while checks_in_flight() < burst and not all(t.done() for t in logins):
        await asyncio.sleep(0.005)
    assert checks_in_flight() == burst, "the verifications were not running concurrently"
    health = await api.client.get("/health")
    assert health.status_code == 200
    assert not any(t.done() for t in logins), "/health waited for the logins"
    assert [r.status_code for r in await asyncio.gather(*logins)] == [200] * burst
