"""Leads: the public contact form (scored in SQL on insert) and the staff's inbox -- status
workflow, assignment, notes and an activity timeline, each change audited."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, LiteralString
from uuid import UUID

import orjson

from pgkeel import audit
from pgkeel.cache import Cache
from pgkeel.db import Database, Transaction, current_context
from pgkeel.errors import NotFound, RuleViolation, ValidationFailed
from pgkeel.repo import CursorCodec, ListQuery, Repository
from pgkeel_apps.dealership import cache_keys as keys
from pgkeel_apps.dealership.tables import CONTACT_ACTIVITIES, CONTACT_NOTES, CONTACTS

ENTITY: Final = "ContactSubmission"
TRANSITION_CONSTRAINT: Final = "contact_submissions_status_transition"

CAR_FOR_LEAD: LiteralString = """
SELECT id FROM dealership.cars
WHERE organization_id = %s AND slug = %s AND deleted_at IS NULL
"""
NEXT_STATUSES: LiteralString = "SELECT dealership.lead_next_statuses(%s)"
LOCK_LEAD: LiteralString = """
SELECT status, assigned_to FROM dealership.contact_submissions
WHERE organization_id = %s AND id = %s FOR UPDATE
"""
ACTIVITY: LiteralString = """
INSERT INTO dealership.contact_activities (organization_id, contact_id, type, actor_id,
                                           description, metadata)
VALUES (%s, %s, %s, %s, %s, %s::jsonb)
RETURNING id, type, actor_id, description, metadata, created_at
"""
NOTE: LiteralString = """
INSERT INTO dealership.contact_notes (organization_id, contact_id, author_id, body)
VALUES (%s, %s, %s, %s) RETURNING id, author_id, body, created_at
"""
NOTES: LiteralString = """
SELECT id, author_id, body, created_at FROM dealership.contact_notes
WHERE organization_id = %s AND contact_id = %s ORDER BY created_at, id
"""
ACTIVITIES: LiteralString = """
SELECT id, type, actor_id, description, metadata, created_at FROM dealership.contact_activities
WHERE organization_id = %s AND contact_id = %s ORDER BY created_at, id
"""
STAFF_MEMBER: LiteralString = """
SELECT 1 FROM identity.users
WHERE organization_id = %s AND id = %s AND deleted_at IS NULL AND is_active
"""


def lead_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return _jsonable(CONTACTS.to_api(row))


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, UUID):
            out[name] = str(value)
        elif hasattr(value, "isoformat"):
            out[name] = value.isoformat()
        else:
            out[name] = value
    return out


def _camel(row: Mapping[str, Any]) -> dict[str, Any]:
    parts = {k: "".join([k.split("_")[0], *(w.title() for w in k.split("_")[1:])])
             for k in row}
    return _jsonable({parts[k]: v for k, v in row.items()})


class LeadService:
    """The organization's leads (the organization comes from the request context)."""

    def __init__(self, db: Database, cache: Cache, *,
                 cursor_codec: CursorCodec | None = None) -> None:
        self.db = db
        self.cache = cache
        self.leads: Repository[dict[str, Any]] = Repository(db, CONTACTS, name="lead",
                                                            cursor_codec=cursor_codec)
        self.notes: Repository[dict[str, Any]] = Repository(db, CONTACT_NOTES, name="note")
        self.activities: Repository[dict[str, Any]] = Repository(
            db, CONTACT_ACTIVITIES, name="activity")

    async def submit(self, values: Mapping[str, Any], car_slug: str | None) -> dict[str, Any]:
        """Store a contact form submission (scored by `dealership.lead_score` on insert);
        every cached inbox list is dropped once it commits."""
        async def work(tx: Transaction) -> dict[str, Any]:
            org = tx.context.org_id
            car_id = None
            if car_slug is not None:
                car_id = await tx.fetch_val(CAR_FOR_LEAD, (org, car_slug))
                if car_id is None:
                    raise NotFound("No car with that slug.", details={"resource": "car",
                                                                       "field": "carSlug"})
            row = await self.leads.create({**values, "car_id": car_id}, tx=tx)
            await self._activity(tx, row["id"], "SUBMITTED", None,
                                 description="Contact form submitted.",
                                 metadata={"source": row["source"],
                                           "leadScore": row["lead_score"]})
            await audit.record(tx, action="leads.create", entity_type=ENTITY,
                               entity_id=row["id"], actor_id=None,
                               new={"leadScore": row["lead_score"], "source": row["source"],
                                    "carId": str(car_id) if car_id else None})
            self.cache.invalidate_on_commit(tx, keys.CONTACTS_TAG)
            return row
        return await self.db.run_in_tx(work)

    async def inbox(self, query: ListQuery, params: list[tuple[str, str]]) -> dict[str, Any]:
        """A page of the inbox (offset paging), cached for a minute as `contacts:{status}`
        (or under the whole query when it filters more than the status)."""
        async def load() -> dict[str, Any]:
            page = await self.leads.list(query)
            return page.envelope([lead_json(r) for r in page.items])
        only_status = [v for k, v in params if k == "status"] if all(
            k == "status" for k, _ in params) and len(params) <= 1 else None
        key = (keys.contacts(self.cache, only_status[0] if only_status else "all")
               if only_status is not None else keys.contacts_list(self.cache, params))
        result: dict[str, Any] = await self.cache.get_or_set(
            key, load, ttl=keys.CONTACTS_TTL, tags=[keys.CONTACTS_TAG])
        return result

    async def get(self, lead_id: UUID) -> dict[str, Any]:
        """A lead with its notes and activity timeline."""
        org = current_context().org_id
        async with self.db.transaction(readonly=True) as tx:
            lead = await self.leads.get(lead_id, tx=tx)
            notes = await tx.fetch_all(NOTES, (org, lead_id))
            activities = await tx.fetch_all(ACTIVITIES, (org, lead_id))
            allowed = await tx.fetch_val(NEXT_STATUSES, (lead["status"],))
        return {**lead_json(lead), "nextStatuses": allowed,
                "notes": [_camel(n) for n in notes],
                "activities": [_camel(a) for a in activities]}

    async def set_status(self, lead_id: UUID, status: str) -> dict[str, Any]:
        """Move a lead along the workflow; an illegal move is a 422 naming the statuses the
        lead may move to (the database's trigger is the rule, this only explains it)."""
        async def work(tx: Transaction) -> dict[str, Any]:
            old = await self._lock(tx, lead_id)
            try:
                row = await self.leads.update(lead_id, {"status": status}, tx=tx)
            except ValidationFailed as exc:
                if exc.details.get("constraint") != TRANSITION_CONSTRAINT:
                    raise
                allowed = await self.db.fetch_val(NEXT_STATUSES, (old["status"],),
                                                  readonly=True)
                raise RuleViolation(
                    f"A lead cannot move from {old['status']} to {status}.",
                    details={"rule": "lead_status_transition", "from": old["status"],
                             "to": status, "allowed": allowed},
                    hint=f"From {old['status']}: {', '.join(allowed) or 'no further status'}."
                ) from exc
            if old["status"] != status:
                await self._activity(tx, lead_id, "STATUS_CHANGE", current_context().actor_id,
                                     description=f"{old['status']} -> {status}",
                                     metadata={"from": old["status"], "to": status})
                await audit.record(tx, action="leads.status", entity_type=ENTITY,
                                   entity_id=lead_id, old={"status": old["status"]},
                                   new={"status": status})
            self.cache.invalidate_on_commit(tx, keys.CONTACTS_TAG)
            return row
        return await self.db.run_in_tx(work)

    async def assign(self, lead_id: UUID, user_id: UUID | None) -> dict[str, Any]:
        """Assign the lead to a staff member of the organization (None: unassign)."""
        async def work(tx: Transaction) -> dict[str, Any]:
            old = await self._lock(tx, lead_id)
            if user_id is not None and not await tx.fetch_val(
                    STAFF_MEMBER, (tx.context.org_id, user_id)):
                raise NotFound("No active user with that id.",
                               details={"resource": "user", "field": "userId"})
            row = await self.leads.update(lead_id, {"assigned_to": user_id}, tx=tx)
            before = str(old["assigned_to"]) if old["assigned_to"] else None
            after = str(user_id) if user_id else None
            await self._activity(tx, lead_id, "ASSIGNMENT", current_context().actor_id,
                                 description="Assigned." if after else "Unassigned.",
                                 metadata={"from": before, "to": after})
            await audit.record(tx, action="leads.assign", entity_type=ENTITY,
                               entity_id=lead_id, old={"assignedTo": before},
                               new={"assignedTo": after})
            self.cache.invalidate_on_commit(tx, keys.CONTACTS_TAG)
            return row
        return await self.db.run_in_tx(work)

    async def add_note(self, lead_id: UUID, body: str) -> dict[str, Any]:
        async def work(tx: Transaction) -> dict[str, Any]:
            await self._lock(tx, lead_id)
            note = await tx.fetch_one(NOTE, (tx.context.org_id, lead_id,
                                             current_context().actor_id, body))
            assert note is not None
            await audit.record(tx, action="leads.note", entity_type=ENTITY, entity_id=lead_id,
                               new={"noteId": str(note["id"])})
            return _camel(note)
        return await self.db.run_in_tx(work)

    async def add_activity(self, lead_id: UUID, kind: str, description: str | None,
                           metadata: Mapping[str, Any]) -> dict[str, Any]:
        async def work(tx: Transaction) -> dict[str, Any]:
            await self._lock(tx, lead_id)
            return await self._activity(tx, lead_id, kind, current_context().actor_id,
                                        description=description, metadata=metadata)
        return await self.db.run_in_tx(work)

    async def _lock(self, tx: Transaction, lead_id: UUID) -> dict[str, Any]:
        row = await tx.fetch_one(LOCK_LEAD, (tx.context.org_id, lead_id))
        if row is None:
            raise NotFound("No lead with that id.", details={"resource": "lead",
                                                             "id": str(lead_id)})
        return row

    @staticmethod
    async def _activity(tx: Transaction, lead_id: UUID, kind: str, actor: Any, *,
                        description: str | None, metadata: Mapping[str, Any]
                        ) -> dict[str, Any]:
        row = await tx.fetch_one(ACTIVITY, (tx.context.org_id, lead_id, kind, actor,
                                            description, orjson.dumps(dict(metadata)).decode()))
        assert row is not None
        return _camel(row)
