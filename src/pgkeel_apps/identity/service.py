"""The identity service's use cases, each one transaction with its audit record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, LiteralString
from uuid import UUID

import orjson

from pgkeel import audit, outbox
from pgkeel.audit import AUDIT_LOG, AuditLog
from pgkeel.cache import TTL, Cache, CacheKey
from pgkeel.db import Database, Transaction, current_context
from pgkeel.errors import Forbidden, NotFound, ReferenceNotFound, RuleViolation
from pgkeel.repo import CursorCodec, ListQuery, Page, Repository
from pgkeel.security import (
    MIN_PASSWORD_CHARS,
    check_email_local_part,
    check_password,
    hash_password_async,
    verify_password_async,
)
from pgkeel_apps.identity.auth import revoke_sessions
from pgkeel_apps.identity.tables import ROLES, USERS

ADMIN_ROLES = ["ADMIN", "SUPER_ADMIN"]
ROLE_LEVELS = {"SUPER_ADMIN": 3, "ADMIN": 2}
"""A caller grants, removes and acts on roles at or below its own level; other roles: 1."""
ENTITY = "User"

# Every change that can shrink an organization's set of active admins (deactivating a user,
# removing an admin role) first takes this per-organization lock, then counts the admins
# afresh: under READ COMMITTED that count sees whatever the previous holder committed, so two
# concurrent removals can never both pass the "someone else is still an admin" check. (Row
# locks on users alone do not do it: removing a role changes user_roles, not users.)
ADMIN_SET_LOCK: LiteralString = (
    "SELECT pg_advisory_xact_lock(hashtextextended('pgkeel_apps.identity.admins:' || %s, 0))")

ACTIVE_ADMINS: LiteralString = """
SELECT u.id, array_agg(r.id) AS admin_role_ids
FROM identity.users u
JOIN identity.user_roles ur
  ON ur.organization_id = u.organization_id AND ur.user_id = u.id AND ur.is_active
JOIN identity.roles r
  ON r.organization_id = ur.organization_id AND r.id = ur.role_id AND r.is_active
     AND r.name = ANY(%(names)s)
WHERE u.organization_id = %(org)s AND u.is_active AND u.status = 'active'
  AND u.deleted_at IS NULL
GROUP BY u.id
"""

ASSIGN_ROLE: LiteralString = """
INSERT INTO identity.user_roles AS ur (organization_id, user_id, role_id, is_active,
                                       assigned_by, assigned_at)
VALUES (%s, %s, %s, true, %s, now())
ON CONFLICT (organization_id, user_id, role_id)
DO UPDATE SET is_active = true, assigned_by = EXCLUDED.assigned_by, assigned_at = now()
WHERE NOT ur.is_active
RETURNING ur.role_id
"""

UNASSIGN_ROLE: LiteralString = """
UPDATE identity.user_roles SET is_active = false
WHERE organization_id = %s AND user_id = %s AND role_id = %s AND is_active
RETURNING role_id
"""

USER_ROLES: LiteralString = """
SELECT r.id, r.name FROM identity.user_roles ur
JOIN identity.roles r ON r.organization_id = ur.organization_id AND r.id = ur.role_id
WHERE ur.organization_id = %s AND ur.user_id = %s AND ur.is_active
ORDER BY r.name
"""

CURRENT_CREDENTIALS: LiteralString = """
SELECT email, password_hash FROM identity.users
WHERE organization_id = %s AND id = %s AND deleted_at IS NULL
"""

UPDATE_CREDENTIALS: LiteralString = """
UPDATE identity.users SET password_hash = %s, updated_at = now(), version = version + 1
WHERE organization_id = %s AND id = %s
"""

PUBLIC_FIELDS = ("email", "display_name", "status", "is_active")


def _public(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in PUBLIC_FIELDS if k in row}


class IdentityService:
    """Users, roles and memberships of the caller's organization."""

    def __init__(self, db: Database, cache: Cache, *, cursor_codec: CursorCodec | None = None,
                 password_min_chars: int = MIN_PASSWORD_CHARS, cache_users: bool = True) -> None:
        self.db = db
        self.cache = cache
        self.cache_users = cache_users
        self.password_min_chars = password_min_chars
        self.users: Repository[dict[str, Any]] = Repository(db, USERS,
                                                            cursor_codec=cursor_codec)
        self.roles: Repository[dict[str, Any]] = Repository(db, ROLES,
                                                            cursor_codec=cursor_codec)
        self.audit_events: Repository[dict[str, Any]] = Repository(
            db, AUDIT_LOG, name="audit event", cursor_codec=cursor_codec)
        self.audit = AuditLog(db)

    # -- reads -----------------------------------------------------------------------------

    async def list_users(self, query: ListQuery
                         ) -> Page[dict[str, Any]]:
        return await self.users.list(query, replica=True)

    def user_key(self, user_id: UUID) -> CacheKey:
        return self.cache.key("user", user_id)

    async def get_user(self, user_id: UUID) -> dict[str, Any]:
        """One user with roles, API-shaped; cached 5 min, invalidated by every write (unless
        the service was started with its user cache off)."""
        async def load() -> dict[str, Any]:
            # Two one-shot reads on the primary (a cache fill never reads a replica: a lagging
            # one's row would be cached), with no BEGIN/COMMIT: the user and its roles need no
            # common snapshot, and a fill that raced a write is rejected by the cache anyway.
            user = USERS.to_api(await self.users.get(user_id))
            # With the context only where row-level security reads it (as repositories do).
            context = (await self.db.reads_context("identity.user_roles")
                       or await self.db.reads_context("identity.roles"))
            user["roles"] = await self.db.fetch_all(USER_ROLES, (user["organizationId"],
                                                                 user_id), readonly=True,
                                                    context=context)
            return dict(orjson.loads(orjson.dumps(user)))  # JSON-native: as a hit returns it
        if not self.cache_users:
            return await load()
        result: dict[str, Any] = await self.cache.get_or_set(self.user_key(user_id), load,
                                                             ttl=TTL.MEDIUM)
        return result

    async def list_audit_events(self, query: ListQuery
                                ) -> Page[dict[str, Any]]:
        """The organization's audit trail, through the standard list grammar."""
        return await self.audit_events.list(query, replica=True)

    async def audit_summary(self, days: int) -> dict[str, Any]:
        """Per-action totals and per-day counts of the organization's last `days` days."""
        daily = await self.audit.daily_stats(current_context().org_id, days=days)
        totals: dict[str, int] = {}
        for row in daily:
            totals[row.action] = totals.get(row.action, 0) + row.count
        return {"days": days, "total": sum(totals.values()),
                "byAction": [{"action": a, "count": c} for a, c in
                             sorted(totals.items(), key=lambda item: (-item[1], item[0]))],
                "daily": [{"day": r.day, "action": r.action, "count": r.count}
                          for r in daily]}

    async def user_activity(self, user_id: UUID, days: int) -> dict[str, Any]:
        """What a user of this organization did in the last `days` days."""
        user = await self.users.get(user_id, replica=True)
        summary = await self.audit.user_activity(user_id, days=days,
                                                 org_id=user["organization_id"])
        return {"userId": user_id, "days": summary.days, "total": summary.total,
                "firstAt": summary.first_at, "lastAt": summary.last_at,
                "actions": [{"action": a.action, "entityType": a.entity_type,
                             "count": a.count, "firstAt": a.first_at, "lastAt": a.last_at}
                            for a in summary.actions]}

    async def list_roles(self) -> list[dict[str, Any]]:
        page = await self.roles.list(ListQuery(page_size=100), replica=True)
        return page.items

    # -- writes ----------------------------------------------------------------------------

    async def create_user(self, values: Mapping[str, Any], password: str | None,
                          role_ids: list[UUID], *, tx: Transaction | None = None
                          ) -> dict[str, Any]:
        """Create a user with roles and its audit record; in `tx` when given (the request's
        idempotency transaction), else in a transaction of its own, retried on conflicts."""
        row = {**values, "email": str(values["email"]).strip().lower()}
        check_email_local_part(row["email"])
        if password is not None:
            check_password(password, min_chars=self.password_min_chars,
                           context=[row["email"].partition("@")[0]])
            row["password_hash"] = await hash_password_async(password)

        async def work(tx: Transaction) -> dict[str, Any]:
            user = await self.users.create(row, tx=tx)
            for role_id in role_ids:
                role = await self._role_in_body(tx, role_id, "roleIds")
                await self._at_or_below_caller(tx, user["organization_id"],
                                               role_names=[role["name"]])
                await tx.execute(ASSIGN_ROLE, (user["organization_id"], user["id"], role_id,
                                               current_context().actor_id))
            await audit.record(tx, action="users.create", entity_type=ENTITY,
                               entity_id=user["id"], new=_public(user),
                               metadata={"role_ids": [str(r) for r in role_ids]})
            await outbox.add(tx, outbox.OutboxEvent(
                "user.created", "user", user["id"],
                payload={**_public(user), "role_ids": [str(r) for r in role_ids]}))
            return user
        return await work(tx) if tx is not None else await self.db.run_in_tx(work)

    async def update_user(self, user_id: UUID, changes: Mapping[str, Any],
                          expected_version: int | None) -> dict[str, Any]:
        changes = dict(changes)
        if "email" in changes:
            changes["email"] = str(changes["email"]).strip().lower()
            check_email_local_part(changes["email"])

        async def work(tx: Transaction) -> dict[str, Any]:
            old = await self.users.get(user_id, tx=tx)
            await self._at_or_below_caller(tx, old["organization_id"], user_id=user_id)
            new = await self.users.update(user_id, changes, expected_version=expected_version,
                                          tx=tx)
            await audit.record(tx, action="users.update", entity_type=ENTITY, entity_id=user_id,
                               old=_public(old), new=_public(new))
            self.cache.invalidate_on_commit(tx, self.user_key(user_id))
            return new
        return await self.db.run_in_tx(work)

    async def set_status(self, user_id: UUID, status: str) -> dict[str, Any]:
        """Change a user's status; nobody deactivates themself or the last active admin."""
        active = status == "active"
        actor = current_context().actor_id

        async def work(tx: Transaction) -> dict[str, Any]:
            old = await self.users.get(user_id, tx=tx)
            await self._at_or_below_caller(tx, old["organization_id"], user_id=user_id)
            if not active and old["is_active"]:
                if str(user_id) == str(actor):
                    raise RuleViolation("You cannot deactivate yourself.",
                                        details={"rule": "not_self"})
                await self._keep_an_admin(tx, old["organization_id"], user_id, None)
            new = await self.users.update(user_id, {"status": status, "is_active": active},
                                          tx=tx)
            if not active:
                await revoke_sessions(tx, old["organization_id"], user_id)
            await audit.record(tx, action="users.status_changed", entity_type=ENTITY,
                               entity_id=user_id, old=_public(old), new=_public(new))
            self.cache.invalidate_on_commit(tx, self.user_key(user_id))
            return new
        return await self.db.run_in_tx(work)

    async def add_role(self, user_id: UUID, role_id: UUID) -> bool:
        """Assign a role; True if it changed anything (assigning twice is a no-op)."""
        async def work(tx: Transaction) -> bool:
            user = await self.users.get(user_id, tx=tx)
            role = await self._role_in_body(tx, role_id, "roleId")
            await self._at_or_below_caller(tx, user["organization_id"], user_id=user_id,
                                           role_names=[role["name"]])
            if not role["is_active"]:
                raise RuleViolation("That role is disabled.", details={"rule": "role_active"})
            changed = await tx.fetch_val(ASSIGN_ROLE, (user["organization_id"], user_id, role_id,
                                                       current_context().actor_id))
            if changed is not None:
                await audit.record(tx, action="users.role_added", entity_type=ENTITY,
                                   entity_id=user_id, new={"role_id": str(role_id)},
                                   metadata={"role_name": role["name"]})
                self.cache.invalidate_on_commit(tx, self.user_key(user_id))
            return changed is not None
        return await self.db.run_in_tx(work)

    async def remove_role(self, user_id: UUID, role_id: UUID) -> bool:
        """Remove a role; True if it changed anything. The last active admin keeps theirs."""
        async def work(tx: Transaction) -> bool:
            user = await self.users.get(user_id, tx=tx)
            role = await self.roles.get(role_id, tx=tx)
            org = user["organization_id"]
            await self._at_or_below_caller(tx, org, user_id=user_id, role_names=[role["name"]])
            if role["name"] in ADMIN_ROLES:
                await self._keep_an_admin(tx, org, user_id, role_id)
            changed = await tx.fetch_val(UNASSIGN_ROLE, (org, user_id, role_id))
            if changed is not None:
                await revoke_sessions(tx, org, user_id)
                await audit.record(tx, action="users.role_removed", entity_type=ENTITY,
                                   entity_id=user_id, old={"role_id": str(role_id)},
                                   metadata={"role_name": role["name"]})
                self.cache.invalidate_on_commit(tx, self.user_key(user_id))
            return changed is not None
        return await self.db.run_in_tx(work)

    async def change_password(self, current: str, new: str) -> None:
        """The caller changes its own password: the current one must match, the new one pass
        the policy, and every session of the caller ends (it logs in again)."""
        context = current_context()
        org, me = context.org_id, context.actor_id
        row = await self.db.fetch_one(CURRENT_CREDENTIALS, (org, me))
        check = await verify_password_async(current, row["password_hash"] if row else None)
        if row is None or not check.ok:
            raise RuleViolation("The current password is not right.",
                                details={"rule": "current_password", "field": "currentPassword"})
        check_password(new, min_chars=self.password_min_chars,
                       context=[row["email"].partition("@")[0]])
        new_hash = await hash_password_async(new)

        async def work(tx: Transaction) -> None:
            await tx.execute(UPDATE_CREDENTIALS, (new_hash, org, me))
            ended = await revoke_sessions(tx, org, me)
            await audit.record(tx, action="users.password_changed", entity_type=ENTITY,
                               entity_id=me, metadata={"sessions_ended": ended})
            self.cache.invalidate_on_commit(tx, self.user_key(me))
        await self.db.run_in_tx(work)

    async def _role_in_body(self, tx: Transaction, role_id: UUID, field: str
                            ) -> dict[str, Any]:
        """A role named in a request body. One that does not exist is a 409
        `reference_not_found` naming the field: a 404 would say that the URL's own resource
        is missing."""
        try:
            return await self.roles.get(role_id, tx=tx)
        except NotFound:
            raise ReferenceNotFound("No role with that id in this organization.",
                                    details={"fields": [field]}) from None

    async def _keep_an_admin(self, tx: Transaction, org: Any, user_id: UUID,
                             role_id: UUID | None) -> None:
        """Refuse when `user_id` losing its status (or admin role `role_id`) would leave the
        organization without an active admin."""
        await tx.execute(ADMIN_SET_LOCK, (str(org),))
        admins = {row["id"]: row["admin_role_ids"]
                  for row in await tx.fetch_all(ACTIVE_ADMINS,
                                                {"org": org, "names": ADMIN_ROLES})}
        if user_id not in admins:
            return
        if role_id is not None and set(admins[user_id]) - {role_id}:
            return  # still an admin through another admin role
        if len(admins) == 1:
            raise RuleViolation("The organization must keep at least one active admin.",
                                details={"rule": "last_active_admin"})

    async def _at_or_below_caller(self, tx: Transaction, org: Any, *, user_id: Any = None,
                                  role_names: Sequence[str] = ()) -> None:
        """Refuse (403) when the target user, or a role being granted or removed, ranks above
        the caller: an ADMIN can neither make nor touch a SUPER_ADMIN."""
        caller = await self._level(tx, org, current_context().actor_id)
        levels = [ROLE_LEVELS.get(name, 1) for name in role_names]
        if user_id is not None:
            levels.append(await self._level(tx, org, user_id))
        if levels and max(levels) > caller:
            raise Forbidden("You cannot grant, remove or act on a role above your own.",
                            details={"rule": "role_level"})

    @staticmethod
    async def _level(tx: Transaction, org: Any, user_id: Any) -> int:
        if user_id is None:
            return 0
        rows = await tx.fetch_all(USER_ROLES, (org, user_id))
        return max((ROLE_LEVELS.get(r["name"], 1) for r in rows), default=0)
