"""Newsletter with double opt-in: subscribe (PENDING, a confirmation link), confirm
(SUBSCRIBED), unsubscribe (any time, with the link in every mail). The tokens leave the
service once, in the outbox event `dealership.newsletter_tokens` a mailer sends."""

from __future__ import annotations

from typing import Annotated, LiteralString

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from pgkeel import outbox
from pgkeel.db import Database, Transaction
from pgkeel.errors import InvalidParameter
from pgkeel.security import issue_token, token_digest
from pgkeel.web import ApiModel, DirectRoute, Email, OrjsonResponse, client_ip, error_responses
from pgkeel_apps.dealership.dealers import Dealer
from pgkeel_apps.dealership.lead_routes import ContactLimits

SUBSCRIBE: LiteralString = """
INSERT INTO dealership.newsletter_subscribers AS s (organization_id, email, confirm_token_hash,
                                                   unsubscribe_token_hash)
VALUES (%s, %s, %s, %s)
ON CONFLICT (organization_id, email) DO UPDATE
SET status = 'PENDING', confirm_token_hash = EXCLUDED.confirm_token_hash,
    unsubscribe_token_hash = EXCLUDED.unsubscribe_token_hash, unsubscribed_at = NULL
WHERE s.status <> 'SUBSCRIBED'
RETURNING id
"""
CONFIRM: LiteralString = """
UPDATE dealership.newsletter_subscribers
SET status = 'SUBSCRIBED', confirmed_at = now(), confirm_token_hash = NULL
WHERE organization_id = %s AND confirm_token_hash = %s AND status = 'PENDING'
RETURNING id
"""
UNSUBSCRIBE: LiteralString = """
UPDATE dealership.newsletter_subscribers
SET status = 'UNSUBSCRIBED', unsubscribed_at = now(), confirm_token_hash = NULL
WHERE organization_id = %s AND unsubscribe_token_hash = %s AND status <> 'UNSUBSCRIBED'
RETURNING id
"""
TOKEN = r"^pgk_[A-Za-z0-9_-]{20,100}$"  # noqa: S105 -- a pattern, not a secret


def _bad_token() -> InvalidParameter:
    return InvalidParameter("The link is not valid: it may have been used already.",
                            details={"parameter": "token"})


class Newsletter:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def subscribe(self, email: str) -> None:
        """PENDING with a fresh confirmation link; nothing for a confirmed subscriber."""
        async def work(tx: Transaction) -> None:
            confirm, confirm_hash = issue_token()
            leave, leave_hash = issue_token()
            row = await tx.fetch_one(SUBSCRIBE, (tx.context.org_id, email, confirm_hash,
                                                 leave_hash))
            if row is not None:
                await outbox.add(tx, outbox.OutboxEvent(
                    "dealership.newsletter_tokens", "newsletter_subscriber", row["id"],
                    payload={"email": email, "confirmToken": confirm,
                             "unsubscribeToken": leave}))
        await self.db.run_in_tx(work)

    async def _use(self, statement: LiteralString, token: str) -> None:
        async def work(tx: Transaction) -> None:
            if await tx.fetch_one(statement, (tx.context.org_id, token_digest(token))) is None:
                raise _bad_token()
        await self.db.run_in_tx(work)

    async def confirm(self, token: str) -> None:
        await self._use(CONFIRM, token)

    async def unsubscribe(self, token: str) -> None:
        await self._use(UNSUBSCRIBE, token)


class SubscribeIn(ApiModel):
    email: Email = Field(max_length=254)


class TokenIn(ApiModel):
    token: str = Field(pattern=TOKEN, max_length=104, examples=["pgk_" + "x" * 43])


async def newsletter(request: Request) -> Newsletter:
    service: Newsletter = request.app.state.dealership_newsletter
    return service


Service = Annotated[Newsletter, Depends(newsletter)]
router = APIRouter(tags=["dealership"], route_class=DirectRoute)
PATH = "/v1/dealers/{dealer}/newsletter"


@router.post(PATH, status_code=202, responses=error_responses(429, 503),
             summary="Subscribe (double opt-in: a confirmation link is sent)")
async def subscribe(org: Dealer, body: SubscribeIn, request: Request,
                    service: Service) -> Response:
    limits: ContactLimits = request.app.state.dealership_contact_limits
    await limits.per_ip.check(client_ip(request), org=org)
    await service.subscribe(body.email)
    return OrjsonResponse({"received": True}, status_code=202)


@router.post(f"{PATH}/confirm", status_code=204, responses=error_responses(400),
             summary="Confirm a subscription with the link's token")
async def confirm(_: Dealer, body: TokenIn, service: Service) -> Response:
    await service.confirm(body.token)
    return Response(status_code=204)


@router.post(f"{PATH}/unsubscribe", status_code=204, responses=error_responses(400),
             summary="Unsubscribe with the token in every mail")
async def unsubscribe(_: Dealer, body: TokenIn, service: Service) -> Response:
    await service.unsubscribe(body.token)
    return Response(status_code=204)
