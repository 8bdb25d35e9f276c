"""Single-use verification tokens: email verification and password reset.

A token is random (`pgkeel.security.issue_token`), stored only as its SHA-256 digest, bound to
one user, one purpose and one email address, and expires (VERIFY_EMAIL_TTL_S,
PASSWORD_RESET_TTL_S). Using one is a single UPDATE that marks it used only if it is unused,
unexpired and of the right purpose, so a token works once even when two requests race. The
plaintext leaves the service once: in the outbox event (`identity.verification_token`) that a
mailer turns into a link. Issuing a new token of a purpose voids the user's older ones.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final, LiteralString

from pgkeel import audit, outbox
from pgkeel.db import Database, Transaction, use_context
from pgkeel.errors import InvalidParameter
from pgkeel.ops import JobContext, JobRegistry
from pgkeel.security import check_password, hash_password_async, issue_token, token_digest
from pgkeel_apps.identity.auth import LOGIN_USER, revoke_sessions
from pgkeel_apps.identity.service import UPDATE_CREDENTIALS

EMAIL_VERIFICATION: Final = "EMAIL_VERIFICATION"
PASSWORD_RESET: Final = "PASSWORD_RESET"  # noqa: S105 -- a purpose, not a secret

OWNER_OF: LiteralString = (
    "SELECT organization_id, user_id, purpose FROM identity.verification_token_owner(%s)")
VOID_OLDER: LiteralString = """
UPDATE identity.verification_tokens SET used_at = now()
WHERE organization_id = %s AND user_id = %s AND purpose = %s AND used_at IS NULL
"""
INSERT_VERIFICATION: LiteralString = """
INSERT INTO identity.verification_tokens (organization_id, token_hash, user_id, purpose, email,
                                          expires_at)
VALUES (%s, %s, %s, %s, %s, %s)
"""
REDEEM: LiteralString = """
UPDATE identity.verification_tokens AS t SET used_at = now()
FROM identity.users AS u
WHERE t.organization_id = %s AND t.token_hash = %s AND t.purpose = %s
  AND t.used_at IS NULL AND t.expires_at > now()
  AND u.organization_id = t.organization_id AND u.id = t.user_id AND u.email = t.email
  AND u.deleted_at IS NULL
RETURNING t.user_id, u.email
"""
USER_EMAIL: LiteralString = """
SELECT email, email_verified_at FROM identity.users
WHERE organization_id = %s AND id = %s AND deleted_at IS NULL
"""
MARK_VERIFIED: LiteralString = """
UPDATE identity.users SET email_verified_at = now(), updated_at = now(), version = version + 1
WHERE organization_id = %s AND id = %s
"""
DELETE_EXPIRED: LiteralString = """
DELETE FROM identity.verification_tokens
WHERE expires_at < now() - make_interval(secs => %s) OR used_at < now() - make_interval(secs => %s)
"""


def invalid_token() -> InvalidParameter:
    """Expired, used, forged and unknown tokens get the same answer."""
    return InvalidParameter("The token is not valid: it may have expired or been used.",
                            details={"parameter": "token"},
                            hint="Ask for a new link.")


class VerificationTokens:
    """Issue and redeem the two kinds of token."""

    def __init__(self, db: Database, *, verify_ttl_s: float, reset_ttl_s: float,
                 password_min_chars: int) -> None:
        self.db = db
        self.ttl = {EMAIL_VERIFICATION: dt.timedelta(seconds=verify_ttl_s),
                    PASSWORD_RESET: dt.timedelta(seconds=reset_ttl_s)}
        self.password_min_chars = password_min_chars

    async def _issue(self, tx: Transaction, org: Any, user_id: Any, email: str,
                     purpose: str) -> None:
        token, digest = issue_token()
        expires = dt.datetime.now(dt.UTC) + self.ttl[purpose]
        await tx.execute(VOID_OLDER, (org, user_id, purpose))
        await tx.execute(INSERT_VERIFICATION, (org, digest, user_id, purpose, email, expires))
        await outbox.add(tx, outbox.OutboxEvent(
            "identity.verification_token", "user", user_id, payload={
                "purpose": purpose, "email": email, "token": token,
                "expiresAt": expires.isoformat()}))
        await audit.record(tx, action=f"users.{purpose.lower()}_requested", entity_type="User",
                           entity_id=user_id)

    async def request_verification(self, org: Any, user_id: Any) -> bool:
        """Send the caller a verification link; False when the email is already verified."""
        async def work(tx: Transaction) -> bool:
            row = await tx.fetch_one(USER_EMAIL, (org, user_id))
            if row is None or row["email_verified_at"] is not None:
                return False
            await self._issue(tx, org, user_id, row["email"], EMAIL_VERIFICATION)
            return True
        return await self.db.run_in_tx(work)

    async def request_reset(self, organization: str, email: str) -> None:
        """Send a reset link when the account exists and may log in; silently nothing
        otherwise (the caller learns nothing about which accounts exist)."""
        row = await self.db.fetch_one(LOGIN_USER, (organization, email), readonly=True)
        if row is None or row["id"] is None or not row["can_log_in"]:
            return
        with use_context(org_id=row["organization_id"], actor_id=None):
            async with self.db.transaction() as tx:
                await self._issue(tx, row["organization_id"], row["id"], email, PASSWORD_RESET)

    async def _redeem(self, token: str, purpose: str) -> tuple[Any, Any]:
        digest = token_digest(token)
        owner = await self.db.fetch_one(OWNER_OF, (digest,), readonly=True)
        if owner is None or owner["purpose"] != purpose:
            raise invalid_token()
        return owner["organization_id"], digest

    async def verify_email(self, token: str) -> None:
        org, digest = await self._redeem(token, EMAIL_VERIFICATION)
        with use_context(org_id=org):
            async with self.db.transaction() as tx:
                used = await tx.fetch_one(REDEEM, (org, digest, EMAIL_VERIFICATION))
                if used is None:
                    raise invalid_token()
                await tx.execute(MARK_VERIFIED, (org, used["user_id"]))
                await audit.record(tx, action="users.email_verified", entity_type="User",
                                   entity_id=used["user_id"], actor_id=used["user_id"])

    async def reset_password(self, token: str, new_password: str) -> None:
        """Set a new password (the policy applies) and end every session of the user."""
        org, digest = await self._redeem(token, PASSWORD_RESET)
        with use_context(org_id=org):
            async with self.db.transaction() as tx:
                used = await tx.fetch_one(REDEEM, (org, digest, PASSWORD_RESET))
                if used is None:
                    raise invalid_token()
                check_password(new_password, min_chars=self.password_min_chars,
                               context=[used["email"].partition("@")[0]])
                new_hash = await hash_password_async(new_password)
                await tx.execute(UPDATE_CREDENTIALS, (new_hash, org, used["user_id"]))
                ended = await revoke_sessions(tx, org, used["user_id"])
                await audit.record(tx, action="users.password_reset", entity_type="User",
                                   entity_id=used["user_id"], actor_id=used["user_id"],
                                   metadata={"sessions_ended": ended})


async def delete_expired_tokens(db: Database, *, keep_s: float = 86_400) -> int:
    """Delete tokens expired or used more than `keep_s` ago, in every organization (as the
    schema owner: row-level security shows one organization at a time)."""
    return await db.execute(DELETE_EXPIRED, (keep_s, keep_s))


JOBS = JobRegistry()


@JOBS.job("identity.delete_expired_verification_tokens", every=dt.timedelta(hours=1))
async def delete_expired_verification_tokens(ctx: JobContext) -> Any:
    """Delete verification tokens expired or used more than a day ago."""
    return {"deleted": await delete_expired_tokens(ctx.db)}
