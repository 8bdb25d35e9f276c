"""Staff account flows: email verification and password reset with single-use, hashed,
expiring tokens; last_login_at; the expired-token job."""

from __future__ import annotations

import hashlib
from typing import Any

from pgkeel_apps.identity.tokens import delete_expired_tokens
from tests.pgkeel_apps.conftest import PASSWORD, Api, make_org

NEW_PASSWORD = "a long and new passphrase 4 staff"
LATEST_TOKEN = """
SELECT payload FROM outbox.events
WHERE event_type = 'identity.verification_token' AND aggregate_id = %s
ORDER BY seq DESC LIMIT 1
"""


async def latest_token(api: Api, user_id: Any) -> dict[str, Any] | None:
    row = await api.db.fetch_one(LATEST_TOKEN, (str(user_id),))
    return None if row is None else dict(row["payload"])


async def test_a_password_reset_token_works_once(api: Api):
    org = await make_org(api, admins=1, others=0)
    slug, user = org["slug"], org["admin0"]
    old_session = await api.as_(slug, "admin0")
    asked = await api.client.post("/v1/auth/password-reset/request", json={
        "organization": slug, "email": f"admin0@{slug}.example"})
    assert asked.status_code == 202
    event = await latest_token(api, user)
    assert event is not None and event["purpose"] == "PASSWORD_RESET"
    token = event["token"]
    # Stored hashed: the plaintext is nowhere in the table.
    stored = await api.db.fetch_all(
        "SELECT token_hash FROM identity.verification_tokens WHERE user_id = %s", (user,))
    assert [r["token_hash"] for r in stored] == [hashlib.sha256(token.encode()).digest()]

    weak = await api.client.post("/v1/auth/password-reset",
                                 json={"token": token, "newPassword": "short"})
    assert weak.status_code == 422   # the policy applies, and the token is not spent
    done = await api.client.post("/v1/auth/password-reset",
                                 json={"token": token, "newPassword": NEW_PASSWORD})
    assert done.status_code == 204, done.text
    again = await api.client.post("/v1/auth/password-reset",
                                  json={"token": token, "newPassword": NEW_PASSWORD + "!"})
    assert again.status_code == 400 and again.json()["details"]["parameter"] == "token"
    assert (await api.client.get("/v1/users", headers=old_session)).status_code == 401
    login = await api.client.post("/v1/auth/login", json={
        "organization": slug, "email": f"admin0@{slug}.example", "password": NEW_PASSWORD})
    assert login.status_code == 200
    old = await api.client.post("/v1/auth/login", json={
        "organization": slug, "email": f"admin0@{slug}.example", "password": PASSWORD})
    assert old.status_code == 401


async def test_expired_forged_and_wrong_purpose_tokens_are_refused(api: Api):
    org = await make_org(api, admins=1, others=0)
    slug, user = org["slug"], org["admin0"]
    headers = await api.as_(slug, "admin0")
    forged = "pgk_" + "A" * 43
    for path, body in (("/v1/auth/verify-email", {"token": forged}),
                       ("/v1/auth/password-reset", {"token": forged,
                                                    "newPassword": NEW_PASSWORD})):
        response = await api.client.post(path, json=body)
        assert response.status_code == 400, response.text
    assert (await api.client.post("/v1/auth/verify-email/request",
                                  headers=headers)).status_code == 202
    verification = await latest_token(api, user)
    assert verification is not None
    # A verification token does not reset a password.
    wrong = await api.client.post("/v1/auth/password-reset", json={
        "token": verification["token"], "newPassword": NEW_PASSWORD})
    assert wrong.status_code == 400
    await api.db.execute("UPDATE identity.verification_tokens SET expires_at = now() - "
                         "interval '1 second' WHERE user_id = %s", (user,))
    expired = await api.client.post("/v1/auth/verify-email",
                                    json={"token": verification["token"]})
    assert expired.status_code == 400
    assert await delete_expired_tokens(api.db, keep_s=0) >= 1
    left = await api.db.fetch_val(
        "SELECT count(*) FROM identity.verification_tokens WHERE user_id = %s", (user,))
    assert left == 0


async def test_email_verification_and_last_login(api: Api):
    org = await make_org(api, admins=1, others=0)
    slug, user = org["slug"], org["admin0"]
    headers = await api.as_(slug, "admin0")
    me = await api.client.get(f"/v1/users/{user}", headers=headers)
    assert me.json()["lastLoginAt"] is not None and me.json()["emailVerifiedAt"] is None
    first = await api.client.post("/v1/auth/verify-email/request", headers=headers)
    second = await api.client.post("/v1/auth/verify-email/request", headers=headers)
    assert first.status_code == second.status_code == 202
    newest = await latest_token(api, user)
    assert newest is not None
    tokens = await api.db.fetch_all(
        "SELECT used_at FROM identity.verification_tokens WHERE user_id = %s "
        "ORDER BY created_at", (user,))
    assert [r["used_at"] is None for r in tokens] == [False, True]  # the older one is void
    assert (await api.client.post("/v1/auth/verify-email",
                                  json={"token": newest["token"]})).status_code == 204
    verified = await api.db.fetch_val(
        "SELECT email_verified_at FROM identity.users WHERE id = %s", (user,))
    assert verified is not None
    reused = await api.client.post("/v1/auth/verify-email", json={"token": newest["token"]})
    assert reused.status_code == 400
    done = await api.client.post("/v1/auth/verify-email/request", headers=headers)
    assert done.json() == {"sent": False, "alreadyVerified": True}


async def test_a_reset_for_an_unknown_account_looks_the_same(api: Api):
    org = await make_org(api, admins=1, others=0)
    before = await api.db.fetch_val("SELECT count(*) FROM identity.verification_tokens")
    for body in ({"organization": org["slug"], "email": f"ghost@{org['slug']}.example"},
                 {"organization": "no-such-org", "email": "ghost@example.com"}):
        response = await api.client.post("/v1/auth/password-reset/request", json=body)
        assert response.status_code == 202 and response.json() == {"received": True}
    after = await api.db.fetch_val("SELECT count(*) FROM identity.verification_tokens")
    assert after == before
