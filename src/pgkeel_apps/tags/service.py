"""Customer tags: assign, remove, list (cached), and tag CRUD -- audited, tenant-scoped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, LiteralString
from uuid import UUID

from pgkeel import audit, outbox
from pgkeel.cache import TTL, Cache, CacheKey
from pgkeel.db import Database, Transaction, current_context
from pgkeel.errors import Conflict, NotFound
from pgkeel.repo import CursorCodec, ListQuery, Page, Repository
from pgkeel_apps.identity.tables import USERS
from pgkeel_apps.tags.tables import ASSIGNMENTS, TAGS

CUSTOMER_TAGS: LiteralString = """
SELECT a.id AS assignment_id, t.id, t.name, t.color, t.description, t.is_active,
       a.assigned_by, a.assigned_at
FROM tags.customer_tag_assignments a
JOIN tags.customer_tags t ON t.organization_id = a.organization_id AND t.id = a.tag_id
WHERE a.organization_id = %s AND a.customer_id = %s
ORDER BY t.name, t.id
"""

UNASSIGN: LiteralString = """
DELETE FROM tags.customer_tag_assignments
WHERE organization_id = %s AND customer_id = %s AND tag_id = %s
RETURNING id
"""

TAG_ENTITY = "CustomerTag"

ALL_CUSTOMER_LISTS = "customer-tags"
"""Cache tag on every customer's tag list: renaming or retiring a tag invalidates them all
in one generation bump."""


def _json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A cacheable, API-shaped assigned tag (JSON-native values)."""
    return {"assignmentId": str(row["assignment_id"]), "id": str(row["id"]),
            "name": row["name"], "color": row["color"], "description": row["description"],
            "isActive": row["is_active"], "assignedBy": str(row["assigned_by"]),
            "assignedAt": row["assigned_at"].isoformat()}


class TagService:
    """The organization's tags and their assignment to customers (identity users)."""

    def __init__(self, db: Database, cache: Cache, *,
                 cursor_codec: CursorCodec | None = None) -> None:
        self.db = db
        self.cache = cache
        self.customers: Repository[dict[str, Any]] = Repository(db, USERS, name="customer",
                                                                cursor_codec=cursor_codec)
        self.tags: Repository[dict[str, Any]] = Repository(db, TAGS, name="tag",
                                                           cursor_codec=cursor_codec)
        self.assignments: Repository[dict[str, Any]] = Repository(
            db, ASSIGNMENTS, name="tag assignment", cursor_codec=cursor_codec)

    def customer_key(self, customer_id: UUID) -> CacheKey:
        """`customer:{customerId}:tags`, within the organization."""
        return self.cache.key("customer", customer_id, "tags")

    async def customer_tags(self, customer_id: UUID) -> list[dict[str, Any]]:
        """A customer's tags, cached for 5 minutes (404 for another organization's)."""
        async def load() -> list[dict[str, Any]]:
            # A cache fill reads the primary: a lagging replica's row would be cached.
            async with self.db.transaction(readonly=True) as tx:
                customer = await self.customers.get(customer_id, tx=tx)
                rows = await tx.fetch_all(CUSTOMER_TAGS, (customer["organization_id"],
                                                          customer_id))
            return [_json(r) for r in rows]
        result: list[dict[str, Any]] = await self.cache.get_or_set(
            self.customer_key(customer_id), load, ttl=TTL.MEDIUM, tags=[ALL_CUSTOMER_LISTS])
        return result

    async def assign(self, customer_id: UUID, tag_id: UUID) -> dict[str, Any]:
        """Assign an active tag; 409 (constraint customerId_tagId) when already assigned."""
        admin = current_context().actor_id

        async def work(tx: Transaction) -> dict[str, Any]:
            await self.customers.get(customer_id, tx=tx)
            tag = await self.tags.get(tag_id, tx=tx)
            if not tag["is_active"]:
                raise NotFound("No tag with that id.", details={"resource": "tag",
                                                                "id": str(tag_id)})
            try:
                row = await self.assignments.create(
                    {"customer_id": customer_id, "tag_id": tag_id, "assigned_by": admin}, tx=tx)
            except Conflict as exc:  # the report's 409 names its API constraint, not the table
                raise Conflict("That tag is already assigned to this customer.",
                               details={"constraint": "customerId_tagId",
                                        "fields": ["customerId", "tagId"]}) from exc
            await audit.record(
                tx, action="CUSTOMER_TAG_ASSIGNED", entity_type="CustomerTagAssignment",
                entity_id=row["id"], new={"customerId": str(customer_id),
                                          "tagId": str(tag_id), "tagName": tag["name"]},
                metadata={"adminId": str(admin), "customerId": str(customer_id),
                          "tagId": str(tag_id), "tagName": tag["name"],
                          "assignmentId": str(row["id"]),
                          "timestamp": row["assigned_at"].isoformat()})
            await outbox.add(tx, outbox.OutboxEvent(
                "customer_tag.assigned", "customer", customer_id, payload={
                    "customerId": str(customer_id), "tagId": str(tag_id),
                    "tagName": tag["name"], "assignmentId": str(row["id"]),
                    "adminId": str(admin)}))
            self.cache.invalidate_on_commit(tx, self.customer_key(customer_id))
            return {**row, "tag": tag}
        return await self.db.run_in_tx(work)

    async def remove(self, customer_id: UUID, tag_id: UUID) -> None:
        admin = current_context().actor_id

        async def work(tx: Transaction) -> None:
            customer = await self.customers.get(customer_id, tx=tx)
            tag = await self.tags.get(tag_id, tx=tx)
            removed = await tx.fetch_val(UNASSIGN, (customer["organization_id"], customer_id,
                                                    tag_id))
            if removed is None:
                raise NotFound("That tag is not assigned to this customer.",
                               details={"resource": "tag assignment"})
            await audit.record(
                tx, action="CUSTOMER_TAG_REMOVED", entity_type="CustomerTagAssignment",
                entity_id=removed, old={"customerId": str(customer_id), "tagId": str(tag_id),
                                        "tagName": tag["name"]},
                metadata={"adminId": str(admin), "customerId": str(customer_id),
                          "tagId": str(tag_id), "tagName": tag["name"],
                          "assignmentId": str(removed)})
            await outbox.add(tx, outbox.OutboxEvent(
                "customer_tag.removed", "customer", customer_id, payload={
                    "customerId": str(customer_id), "tagId": str(tag_id),
                    "tagName": tag["name"], "assignmentId": str(removed),
                    "adminId": str(admin)}))
            self.cache.invalidate_on_commit(tx, self.customer_key(customer_id))
        await self.db.run_in_tx(work)

    # -- tag CRUD ----------------------------------------------------------------------------

    async def list_tags(self, query: ListQuery
                        ) -> Page[dict[str, Any]]:
        return await self.tags.list(query, replica=True)

    async def get_tag(self, tag_id: UUID) -> dict[str, Any]:
        return await self.tags.get(tag_id)

    async def create_tag(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Create a tag, audited (TAG_CREATED)."""
        async def work(tx: Transaction) -> dict[str, Any]:
            row = await self.tags.create(values, tx=tx)
            await audit.record(tx, action="TAG_CREATED", entity_type=TAG_ENTITY,
                               entity_id=row["id"], new=_tag_fields(row))
            return row
        return await self.db.run_in_tx(work)

    async def update_tag(self, tag_id: UUID, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change a tag; every cached customer tag list of the organization is invalidated
        after commit (one generation bump). Each kind of change is audited: TAG_RENAMED,
        TAG_RETIRED, TAG_REACTIVATED, TAG_UPDATED (color, description). A retired tag may be
        renamed and reactivated: both are ordinary, audited changes."""
        async def work(tx: Transaction) -> dict[str, Any]:
            old = await self.tags.get(tag_id, tx=tx)
            row = await self.tags.update(tag_id, changes, tx=tx)
            for action in _tag_actions(old, row):
                await audit.record(tx, action=action, entity_type=TAG_ENTITY, entity_id=tag_id,
                                   old=_tag_fields(old), new=_tag_fields(row))
            self.cache.invalidate_on_commit(tx, ALL_CUSTOMER_LISTS)
            return row
        return await self.db.run_in_tx(work)


def _tag_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("name", "color", "description", "is_active")}


def _tag_actions(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The audit actions for a tag change (none when nothing changed)."""
    actions = []
    if old["name"] != new["name"]:
        actions.append("TAG_RENAMED")
    if old["is_active"] != new["is_active"]:
        actions.append("TAG_REACTIVATED" if new["is_active"] else "TAG_RETIRED")
    if any(old[k] != new[k] for k in ("color", "description")):
        actions.append("TAG_UPDATED")
    return actions
