"""The dealer of a public page: an organization named by its slug in the URL.

Public pages are anonymous, so the organization comes from the path (`/v1/dealers/org-1/...`)
and is resolved through `dealership.dealer_id(slug)`, a narrow SECURITY DEFINER function (row
level security shows nothing before an organization is chosen). The request then runs inside
that organization's context, so repositories, row-level security and cache keys are scoped to
it exactly as for a logged-in caller.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated, Any, Final, LiteralString
from uuid import UUID

from fastapi import Depends, Request

from pgkeel.db import Database, use_context
from pgkeel.errors import NotFound
from pgkeel.web import declares_errors

DEALER_ID: LiteralString = "SELECT dealership.dealer_id(%s)"
SLUG: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_REMEMBERED: Final = 10_000


class Dealers:
    """Slug -> organization id, remembered in-process (organizations are never re-keyed)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._ids: dict[str, UUID] = {}

    async def resolve(self, slug: str) -> UUID:
        found = self._ids.get(slug)
        if found is not None:
            return found
        org: UUID | None = await self.db.fetch_val(DEALER_ID, (slug,), readonly=True) \
            if SLUG.match(slug) else None
        if org is None:
            raise NotFound("No dealer with that name.", details={"resource": "dealer"})
        if len(self._ids) >= MAX_REMEMBERED:
            self._ids.clear()
        self._ids[slug] = org
        return org


@declares_errors(404)
async def dealer_context(request: Request, dealer: str) -> AsyncIterator[UUID]:
    """Runs the request in the organization `dealer` names (404 when there is none)."""
    directory: Dealers = request.app.state.dealers
    org = await directory.resolve(dealer)
    with use_context(org_id=org):
        yield org


Dealer = Annotated[UUID, Depends(dealer_context)]


def canonical_params(request: Request, *, skip: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    """The query string, sorted: one cache key per distinct request."""
    return sorted((k, v) for k, v in request.query_params.multi_items() if k not in skip)
