"""Logging in and resolving bearer tokens against identity.sessions."""

from __future__ import annotations

import datetime as dt
from typing import Any, LiteralString

from pgkeel.db import Database
from pgkeel.errors import Unauthorized
from pgkeel.security import Principal, issue_token, token_digest, verify_password

SESSION_TTL = dt.timedelta(hours=12)

# Tokens are secret and globally unique, so this lookup needs no tenant: it is what
# establishes the tenant for the rest of the request.
PRINCIPAL_FOR_SESSION: LiteralString = """
SELECT u.id, u.organization_id,
       COALESCE(array_agg(DISTINCT p.permission) FILTER (WHERE p.permission IS NOT NULL), '{}'),
       COALESCE(array_agg(DISTINCT r.name) FILTER (WHERE r.name IS NOT NULL), '{}')
FROM identity.sessions s
JOIN identity.users u ON u.organization_id = s.organization_id AND u.id = s.user_id
LEFT JOIN identity.user_roles ur
       ON ur.organization_id = u.organization_id AND ur.user_id = u.id AND ur.is_active
LEFT JOIN identity.roles r
       ON r.organization_id = ur.organization_id AND r.id = ur.role_id AND r.is_active
LEFT JOIN LATERAL unnest(r.permissions) AS p(permission) ON true
WHERE s.token_hash = %s AND s.expires_at > now()
  AND u.is_active AND u.status = 'active' AND u.deleted_at IS NULL
GROUP BY u.id, u.organization_id
"""

LOGIN_USER: LiteralString = """
SELECT u.id, u.organization_id, u.password_hash,
       (u.is_active AND u.status = 'active' AND u.deleted_at IS NULL) AS can_log_in
FROM identity.organizations o
JOIN identity.users u ON u.organization_id = o.id
WHERE o.slug = %s AND u.email = %s
"""

CREATE_SESSION: LiteralString = """
INSERT INTO identity.sessions (token_hash, organization_id, user_id, expires_at)
VALUES (%s, %s, %s, %s)
"""

UPGRADE_HASH: LiteralString = (
    "UPDATE identity.users SET password_hash = %s WHERE organization_id = %s AND id = %s")


class SessionAuthenticator:
    """`pgkeel.security.Authenticator` over the sessions table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def authenticate(self, token: str) -> Principal | None:
        row = await self.db.fetch_one(PRINCIPAL_FOR_SESSION, (token_digest(token),),
                                      readonly=True, row_factory=_tuple_row)
        if row is None:
            return None
        return Principal(user_id=row[0], org_id=row[1], permissions=frozenset(row[2]),
                         roles=frozenset(row[3]))

    async def login(self, organization: str, email: str, password: str) -> dict[str, Any]:
        """A new session (token, expiry, and who it is for), or Unauthorized -- the same
        answer for every failure."""
        row = await self.db.fetch_one(LOGIN_USER, (organization, email.strip().lower()),
                                      readonly=True)
        check = verify_password(password, row["password_hash"] if row else None)
        if row is None or not check.ok or not row["can_log_in"]:
            raise Unauthorized("Wrong organization, email or password.")
        token, digest = issue_token()
        expires = dt.datetime.now(dt.UTC) + SESSION_TTL
        async with self.db.transaction() as tx:
            await tx.execute(CREATE_SESSION, (digest, row["organization_id"], row["id"],
                                              expires))
            if check.new_hash:
                await tx.execute(UPGRADE_HASH, (check.new_hash, row["organization_id"],
                                                row["id"]))
        return {"token": token, "tokenType": "Bearer", "expiresAt": expires,
                "userId": row["id"], "organizationId": row["organization_id"]}


def _tuple_row(cursor: Any) -> Any:
    return tuple
