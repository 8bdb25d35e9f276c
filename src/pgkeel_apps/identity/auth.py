"""Logging in and out, resolving bearer tokens against identity.sessions, revoking sessions."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Any, LiteralString

from redis.asyncio import Redis

from pgkeel.audit import AuditAppender
from pgkeel.db import Database, Transaction, use_context
from pgkeel.security import Principal, issue_token, token_digest, verify_password_async
from pgkeel.web import Lockout, LockoutResult, OnUnavailable, SlidingWindowLimiter
from pgkeel_apps.settings import AuthSettings

log = logging.getLogger("pgkeel_apps.identity")

# The pre-tenant path: both look-ups run before the organization is known, so they go
# through narrow SECURITY DEFINER functions (identity migration V11) instead of tables that
# row-level security keeps empty without an organization. Everything after them runs in
# that organization's context.
PRINCIPAL_FOR_SESSION: LiteralString = (
    "SELECT user_id, organization_id, permissions, roles"
    " FROM identity.session_principal(%s)")

# The organization (when the slug exists) and the user (when the email exists in it).
LOGIN_USER: LiteralString = (
    "SELECT organization_id, user_id AS id, password_hash, can_log_in"
    " FROM identity.login_lookup(%s, %s)")

CREATE_SESSION: LiteralString = """
INSERT INTO identity.sessions (token_hash, organization_id, user_id, expires_at)
VALUES (%s, %s, %s, %s)
"""

END_SESSION: LiteralString = """
DELETE FROM identity.sessions WHERE organization_id = %s AND token_hash = %s RETURNING user_id
"""

REVOKE_USER_SESSIONS: LiteralString = """
DELETE FROM identity.sessions WHERE organization_id = %s AND user_id = %s
"""

LAST_LOGIN: LiteralString = (
    "UPDATE identity.users SET last_login_at = now() WHERE organization_id = %s AND id = %s")

UPGRADE_HASH: LiteralString = (
    "UPDATE identity.users SET password_hash = %s WHERE organization_id = %s AND id = %s")


async def revoke_sessions(tx: Transaction, org_id: Any, user_id: Any) -> int:
    """End every session of a user, in `tx` (suspension, password change, role removal)."""
    return await tx.execute(REVOKE_USER_SESSIONS, (org_id, user_id))


@dataclass(frozen=True)
class LoginAttempt:
    """What a login attempt found: the session when it succeeded, and whichever of the
    organization and user exist (for the audit trail, never for the caller)."""

    org_id: Any
    user_id: Any
    session: dict[str, Any] | None


class LoginGuard:
    """Login rate limits (per client IP, per organization + email) and failure lockouts, and
    what a failed login records. `subject_key` keys the digest that names an organization +
    email in audit rows (random when None: digests then hold for this process only)."""

    def __init__(self, redis: Redis | None, settings: AuthSettings, *, prefix: str,
                 subject_key: bytes | None = None) -> None:
        self._subject_key = hmac.digest(subject_key or secrets.token_bytes(32),
                                        b"pgkeel login subject", hashlib.sha256)
        policy = (OnUnavailable.CLOSED if settings.login_limits_fail_closed
                  else OnUnavailable.OPEN)
        common: dict[str, Any] = {"prefix": prefix, "on_unavailable": policy}
        self.per_ip = SlidingWindowLimiter(redis, name="login-ip", limit=settings.login_ip_limit,
                                           window_s=settings.login_window_s, **common)
        self.per_account = SlidingWindowLimiter(
            redis, name="login-account", limit=settings.login_account_limit,
            window_s=settings.login_window_s, **common)
        self.lockout = Lockout(redis, name="login-lockout",
                               threshold=settings.login_lockout_threshold,
                               window_s=settings.login_lockout_window_s,
                               base_s=settings.login_lockout_base_s,
                               max_s=settings.login_lockout_max_s, **common)

    async def before(self, ip: str, organization: str, email: str) -> None:
        """Raise `RateLimited` (429) when this IP or account is over its limit or locked out.
        Unknown accounts are limited exactly like real ones, so a 429 reveals nothing."""
        await self.per_ip.check(ip)
        await self.per_account.check(email, org=organization)
        await self.lockout.check(email, org=organization)

    async def failed(self, organization: str, email: str) -> LockoutResult:
        return await self.lockout.failure(email, org=organization)

    def subject(self, organization: str, email: str) -> str:
        """A keyed digest of organization + email: failures against one subject can be told
        apart and counted in the audit log whether or not the account exists, without the
        typed email (sometimes a mistyped password) being stored or guessable offline."""
        message = organization.encode() + b"\0" + email.encode()
        return hmac.new(self._subject_key, message, hashlib.sha256).hexdigest()[:32]

    async def record_failure(self, appender: AuditAppender, attempt: LoginAttempt, *,
                             organization: str, email: str, ip: str) -> None:
        """Count a failed login towards the lockout and audit it; the same work whatever
        failed (wrong password, unknown email, account without password, unknown
        organization): one Redis script and one durable audit row -- a platform row, without
        organization, when the slug does not exist. A lockout it starts adds a second row
        alike for every kind: it depends on the count, never on the account."""
        lockout = await self.failed(organization, email)
        metadata = {"ip": ip, "organization": organization,
                    "subject": self.subject(organization, email)}
        await appender.append_durable(
            action="users.login_failed", entity_type="User", entity_id=attempt.user_id,
            org_id=attempt.org_id, actor_id=None, metadata=metadata)
        if lockout.locked:
            await appender.append_durable(
                action="users.locked_out", entity_type="User", entity_id=attempt.user_id,
                org_id=attempt.org_id, actor_id=None,
                metadata={**metadata, "seconds": lockout.lock_s, "level": lockout.level,
                          "failures": lockout.failures})

    async def succeeded(self, organization: str, email: str) -> None:
        await self.lockout.success(email, org=organization)


class SessionAuthenticator:
    """`pgkeel.security.Authenticator` over the sessions table."""

    token_hint = "get one from POST /v1/auth/login"  # noqa: S105 -- where, not a secret

    def __init__(self, db: Database, *, ttl: dt.timedelta = dt.timedelta(hours=12)) -> None:
        self.db = db
        self.ttl = ttl

    async def authenticate(self, token: str) -> Principal | None:
        # The function reads no request context (there is none yet): the SELECT goes alone.
        row = await self.db.fetch_one(PRINCIPAL_FOR_SESSION, (token_digest(token),),
                                      readonly=True, context=False, row_factory=_tuple_row)
        if row is None:
            return None
        return Principal(user_id=row[0], org_id=row[1], permissions=frozenset(row[2]),
                         roles=frozenset(row[3]))

    async def attempt(self, organization: str, email: str, password: str) -> LoginAttempt:
        """Check the credentials (Argon2 off the event loop) and open a session when they
        are right; every failure costs one hash verification, known account or not."""
        row = await self.db.fetch_one(LOGIN_USER, (organization, email), readonly=True)
        stored = row["password_hash"] if row else None
        check = await verify_password_async(password, stored)
        org_id, user_id = (row["organization_id"], row["id"]) if row else (None, None)
        if row is None or not check.ok or not row["can_log_in"]:
            return LoginAttempt(org_id, user_id, None)
        token, digest = issue_token()
        expires = dt.datetime.now(dt.UTC) + self.ttl
        with use_context(org_id=org_id, actor_id=user_id):
            async with self.db.transaction() as tx:
                await tx.execute(CREATE_SESSION, (digest, org_id, user_id, expires))
                await tx.execute(LAST_LOGIN, (org_id, user_id))
                if check.new_hash:
                    await tx.execute(UPGRADE_HASH, (check.new_hash, org_id, user_id))
        return LoginAttempt(org_id, user_id, {"token": token, "tokenType": "Bearer",
                                              "expiresAt": expires})

    async def logout(self, org_id: Any, token: str) -> bool:
        """End the session of `token`; False when it was not (or no longer) a session."""
        with use_context(org_id=org_id):
            async with self.db.transaction() as tx:
                row = await tx.fetch_one(END_SESSION, (org_id, token_digest(token)))
        return row is not None


def _tuple_row(cursor: Any) -> Any:
    return tuple
