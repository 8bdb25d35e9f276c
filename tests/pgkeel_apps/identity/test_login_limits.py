"""Login: rate limits per IP and per account (429 + Retry-After), lockouts with backoff that
are audited, logout, expiring tokens, and Argon2 off the event loop."""

from __future__ import annotations

import asyncio
import contextvars
import re
import secrets
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
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


# -- every kind of failed login does the same work ------------------------------------------

_RECORDING: contextvars.ContextVar[list[tuple[Any, ...]] | None] = contextvars.ContextVar(
    "login_side_effects", default=None)


def _statement(query: Any) -> str:
    """What a statement does and to what: `INSERT audit.audit_log`, `SELECT
    identity.login_lookup` (a platform audit row's INSERT names its event id and returns
    nothing: row-level security would refuse to return it; otherwise they are alike)."""
    text = " ".join((query if isinstance(query, str) else repr(query)).split())
    verb = text.split(" ", 1)[0].upper()
    target = re.search(r"\b(?:INTO|FROM|UPDATE)\s+([a-z_]+\.[a-z_]+)", text, re.IGNORECASE)
    return f"{verb} {target.group(1) if target else text}"


class _RecordingRedis:
    """The guard's Redis client, noting each script it runs (keys without their subject)."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def eval(self, script: str, numkeys: int, *args: Any) -> Any:
        calls = _RECORDING.get()
        if calls is not None:
            keys = [re.sub(r"\{.*\}", "{subject}", str(key)) for key in args[:numkeys]]
            calls.append(("redis", script, keys, len(args) - numkeys))
        return await self.redis.eval(script, numkeys, *args)


def _record_side_effects(api: Api, monkeypatch: Any) -> None:
    """Note every statement the service sends and every Redis script the login guard runs,
    from the request being recorded only (background work has its own context)."""
    observer = api.app_db.observer
    record = observer.record

    def noting(query: Any, params: Any, *args: Any, **kwargs: Any) -> None:
        calls = _RECORDING.get()
        if calls is not None:
            calls.append(("sql", _statement(query)))
        record(query, params, *args, **kwargs)

    monkeypatch.setattr(observer, "record", noting)
    guard = api.app.state.login_guard
    for limiter in (guard.per_ip, guard.per_account, guard.lockout):
        monkeypatch.setattr(limiter, "redis", _RecordingRedis(limiter.redis))


async def _failed_login(api: Api, body: dict[str, str]) -> tuple[dict[str, Any], list[Any]]:
    calls: list[tuple[Any, ...]] = []
    token = _RECORDING.set(calls)
    try:
        response = await api.client.post("/v1/auth/login", json=body)
    finally:
        _RECORDING.reset(token)
    assert response.status_code == 401, response.text
    answer = response.json()
    answer["details"].pop("request_id")
    return answer, calls


async def test_every_kind_of_failed_login_does_the_same_work(pgkeel_settings, role_settings,
                                                             monkeypatch):
    """Wrong password, unknown email, account without a password, unknown organization: the
    same 401 body, the same statements in the same order, the same Redis scripts on the
    same kinds of keys."""
    async with open_api(role_settings, monkeypatch, admin=pgkeel_settings) as api:
        org = await make_org(api)
        await api.db.execute("UPDATE identity.users SET password_hash = NULL WHERE id = %s",
                             (org["user0"],))
        _record_side_effects(api, monkeypatch)
        wrong = "not-the-password"
        kinds = {
            "wrong_password": creds(org, password=wrong),
            "unknown_email": creds(org, "nobody-here", password=wrong),
            "no_password": creds(org, "user0", password=wrong),
            "unknown_org": {**creds(org, password=wrong), "organization": "t-no-such-org"},
        }
        seen = {kind: await _failed_login(api, body) for kind, body in kinds.items()}
    bodies = {orjson.dumps(answer, option=orjson.OPT_SORT_KEYS) for answer, _ in seen.values()}
    assert len(bodies) == 1
    reference = seen["wrong_password"][1]
    assert [c[0] for c in reference].count("redis") == 4, "3 checks before, 1 count after"
    assert ("sql", "INSERT audit.audit_log") in reference
    for kind, (_, calls) in seen.items():
        assert calls == reference, kind


async def test_unknown_accounts_and_organizations_are_counted_locked_and_audited(
        pgkeel_settings, role_settings, monkeypatch):
    """A slug that does not exist locks out after the same number of failures as a real
    account, and its failures and lockout are platform audit rows (no organization), under
    the same kind of subject digest as an organization's rows."""
    async with open_api(role_settings, monkeypatch, admin=pgkeel_settings,
                        LOGIN_LOCKOUT_THRESHOLD="3", LOGIN_LOCKOUT_BASE_S="30") as api:
        org = await make_org(api)
        ghost_org = f"t-missing-{secrets.token_hex(4)}"
        sequences = {}
        for name, body in (("real", creds(org, password="wrong-one")),
                           ("no such email", creds(org, "nobody-here", password="wrong-one")),
                           ("no such org", {**creds(org), "organization": ghost_org})):
            responses = [await api.client.post("/v1/auth/login", json=body) for _ in range(4)]
            sequences[name] = [r.status_code for r in responses]
            assert 25 <= int(responses[-1].headers["retry-after"]) <= 30, name
        assert set(map(tuple, sequences.values())) == {(401, 401, 401, 429)}, sequences
        platform = await api.db.fetch_all(
            "SELECT action, entity_id, metadata FROM audit.audit_log "
            "WHERE organization_id = audit.platform_org() AND metadata->>'organization' = %s"
            " ORDER BY id",
            (ghost_org,))
        tenant = await api.db.fetch_all(
            "SELECT action, entity_id, metadata FROM audit.audit_log "
            "WHERE organization_id = %s ORDER BY id", (str(org["id"]),))
    assert [e["action"] for e in platform] == ["users.login_failed"] * 3 + ["users.locked_out"]
    assert all(e["entity_id"] is None for e in platform)
    subjects = {e["metadata"]["subject"] for e in platform}
    assert len(subjects) == 1 and re.fullmatch(r"[0-9a-f]{32}", subjects.pop())
    ghost = [e for e in tenant if e["entity_id"] is None]
    assert [e["action"] for e in ghost] == ["users.login_failed"] * 3 + ["users.locked_out"]
    real = [e for e in tenant if e["entity_id"] == str(org["admin0"])]
    assert [e["action"] for e in real] == ["users.login_failed"] * 3 + ["users.locked_out"]
    assert len({e["metadata"]["subject"] for e in ghost + real}) == 2
    assert not any("nobody-here" in orjson.dumps(e["metadata"]).decode()
                   for e in platform + tenant), "the typed email is never stored"
