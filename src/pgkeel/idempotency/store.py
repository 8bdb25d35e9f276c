"""Claiming a key, storing the response with the route's writes, replaying it later.

    store = IdempotencyStore.from_settings(db, settings)
    outcome = await store.claim(org, route, key, fp)      # Claim, or the StoredResponse
    if isinstance(outcome, StoredResponse):
        return outcome                                     # a replay
    async with db.transaction() as tx:
        ...                                                # the route's writes
        await store.complete(tx, outcome, response)        # same transaction, same COMMIT

The claim commits on its own (state `in_flight`, a lease of `lease_s`), so that concurrent
retries see it at once and are told 409 instead of queueing behind the first request. The
route's writes and the stored response commit together: once the key is `completed` the
writes are there, and a request that died before COMMIT left neither, so when its lease runs
out the same request may simply run again. Every statement names the organization.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString

from psycopg.types.json import Jsonb

from pgkeel.config import Settings
from pgkeel.db import Database, Transaction
from pgkeel.errors import (
    DatabaseError,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    IdempotencyNotInstalled,
)

__all__ = ["Claim", "IdempotencyStore", "KeyRecord", "StoredResponse"]

# Insert the key in flight; or take it over when it expired (a new request) or when the same
# request's lease ran out (its holder died: nothing it did was committed).
CLAIM: LiteralString = """
INSERT INTO idempotency.idempotency_keys AS k
    (organization_id, route, key, fingerprint, lock_token, locked_until, expires_at)
VALUES (%(org)s, %(route)s, %(key)s, %(fp)s, %(token)s,
        now() + make_interval(secs => %(lease)s), now() + make_interval(secs => %(ttl)s))
ON CONFLICT (organization_id, route, key) DO UPDATE
SET fingerprint = EXCLUDED.fingerprint, state = 'in_flight', lock_token = EXCLUDED.lock_token,
    locked_until = EXCLUDED.locked_until,
    attempts = CASE WHEN k.expires_at <= now() THEN 1 ELSE k.attempts + 1 END,
    created_at = CASE WHEN k.expires_at <= now() THEN now() ELSE k.created_at END,
    expires_at = CASE WHEN k.expires_at <= now() THEN EXCLUDED.expires_at ELSE k.expires_at END,
    response_status = NULL, response_headers = NULL, response_body = NULL, completed_at = NULL
WHERE k.expires_at <= now()
   OR (k.state = 'in_flight' AND k.locked_until <= now() AND k.fingerprint = EXCLUDED.fingerprint)
RETURNING k.attempts, k.locked_until
"""

GET: LiteralString = """
SELECT organization_id, route, key, fingerprint, state, attempts, locked_until,
       response_status, response_headers, response_body, created_at, completed_at, expires_at
FROM idempotency.idempotency_keys
WHERE organization_id = %s AND route = %s AND key = %s
"""

COMPLETE: LiteralString = """
UPDATE idempotency.idempotency_keys
SET state = 'completed', lock_token = NULL, locked_until = NULL, response_status = %s,
    response_headers = %s, response_body = %s, completed_at = now()
WHERE organization_id = %s AND route = %s AND key = %s AND lock_token = %s
  AND state = 'in_flight'
"""

RELEASE: LiteralString = """
DELETE FROM idempotency.idempotency_keys
WHERE organization_id = %s AND route = %s AND key = %s AND lock_token = %s
  AND state = 'in_flight'
"""

_UNDEFINED_TABLE = {"42P01", "3F000"}
_CLAIM_ATTEMPTS = 3


@dataclass(frozen=True)
class StoredResponse:
    """A response as stored: status, the selected headers, the body bytes."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Claim:
    """A key this request holds until `locked_until` (identified by its `token`)."""

    org: str
    route: str
    key: str
    token: uuid.UUID
    attempts: int
    """1 the first time; more when an earlier attempt died and this one took over."""
    locked_until: datetime


@dataclass(frozen=True)
class KeyRecord:
    """One stored key, as `IdempotencyStore.get` returns it."""

    org: str
    route: str
    key: str
    fingerprint: bytes
    state: str
    attempts: int
    locked_until: datetime | None
    response: StoredResponse | None
    created_at: datetime
    completed_at: datetime | None
    expires_at: datetime


class IdempotencyStore:
    """The `idempotency.idempotency_keys` table, used by one service."""

    def __init__(self, db: Database, *, ttl_s: float = 86_400.0, lease_s: float = 90.0
                 ) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self.lease_s = lease_s

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> IdempotencyStore:
        return cls(db, ttl_s=settings.idempotency_ttl_s,
                   lease_s=settings.idempotency_lock_lease_s)

    async def claim(self, org: str, route: str, key: str, fingerprint: bytes
                    ) -> Claim | StoredResponse:
        """Hold `key` for this request, or return the response stored for it.

        Raises `IdempotencyKeyReused` (422) when the key was first used for a request with
        another fingerprint, and `IdempotencyKeyInFlight` (409) while that request runs.
        """
        params = {"org": org, "route": route, "key": key, "fp": fingerprint,
                  "lease": self.lease_s, "ttl": self.ttl_s}
        for _ in range(_CLAIM_ATTEMPTS):
            token = uuid.uuid4()
            async with self._guard(), self.db.transaction() as tx:
                won = await tx.fetch_one(CLAIM, {**params, "token": token})
                existing = None if won else await tx.fetch_one(GET, (org, route, key))
            if won is not None:
                return Claim(org, route, key, token, int(won["attempts"]), won["locked_until"])
            if existing is None:
                continue  # reaped between the two statements: claim again
            if bytes(existing["fingerprint"]) != fingerprint:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was already used for a different request.",
                    details={"route": route},
                    hint="Use a new key for a new request; resend the same body to retry.")
            if existing["state"] == "completed":
                return _response(existing)
            raise IdempotencyKeyInFlight(
                "A request with this Idempotency-Key is still being processed.",
                details={"route": route, "reason": "in_flight"},
                hint="Retry the same request in a moment.")
        raise IdempotencyKeyInFlight(
            "The Idempotency-Key changed hands repeatedly; try again.",
            details={"route": route, "reason": "contended"}, hint="Retry in a moment.")

    async def complete(self, tx: Transaction, claim: Claim, response: StoredResponse) -> None:
        """Store `response` in `tx`, the route's own transaction, so that both commit at once.

        Raises `IdempotencyKeyInFlight` when this request ran past its lease and another one
        took the key over: roll `tx` back then, so the work is done only once.
        """
        count = await tx.execute(COMPLETE, _complete_params(claim, response))
        if count != 1:
            raise IdempotencyKeyInFlight(
                "The request outlived its idempotency lease and another request took over.",
                details={"route": claim.route, "reason": "lease_expired"},
                hint="Retry the same request to get the stored result.")

    async def save(self, claim: Claim, response: StoredResponse) -> bool:
        """Store `response` in a transaction of its own (for a route that failed and rolled
        back its work); False when the lease was lost to another request meanwhile."""
        async with self._guard(), self.db.transaction() as tx:
            count = await tx.execute(COMPLETE, _complete_params(claim, response))
        return count == 1

    async def release(self, claim: Claim) -> None:
        """Give the key up (nothing was done), so that a retry runs the request again."""
        async with self._guard(), self.db.transaction() as tx:
            await tx.execute(RELEASE, (claim.org, claim.route, claim.key, claim.token))

    async def get(self, org: str, route: str, key: str) -> KeyRecord | None:
        """The stored key, if any (expired or not)."""
        async with self._guard():
            row = await self.db.fetch_one(GET, (org, route, key))
        if row is None:
            return None
        return KeyRecord(
            org=row["organization_id"], route=row["route"], key=row["key"],
            fingerprint=bytes(row["fingerprint"]), state=row["state"],
            attempts=row["attempts"], locked_until=row["locked_until"],
            response=_response(row) if row["state"] == "completed" else None,
            created_at=row["created_at"], completed_at=row["completed_at"],
            expires_at=row["expires_at"])

    def _guard(self) -> _NotInstalledGuard:
        return _NotInstalledGuard()


class _NotInstalledGuard:
    """Turns "relation does not exist" into `IdempotencyNotInstalled` with the fix."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, DatabaseError) and exc.sqlstate in _UNDEFINED_TABLE:
            raise IdempotencyNotInstalled(
                hint="Run `pgkeel idempotency install`, or await "
                     "pgkeel.idempotency.install(db) at start-up.") from exc


def _complete_params(claim: Claim, response: StoredResponse) -> tuple[Any, ...]:
    return (response.status, Jsonb([list(pair) for pair in response.headers]), response.body,
            claim.org, claim.route, claim.key, claim.token)


def _response(row: dict[str, Any]) -> StoredResponse:
    headers = [(str(name), str(value)) for name, value in row["response_headers"] or []]
    return StoredResponse(int(row["response_status"]), headers, bytes(row["response_body"]))
