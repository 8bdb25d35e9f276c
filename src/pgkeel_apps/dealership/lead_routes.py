"""The contact form (public) and the staff's lead inbox."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field
from redis.asyncio import Redis

from pgkeel.repo import ListQuery
from pgkeel.web import (
    ApiModel,
    DirectRoute,
    Email,
    Name,
    OrjsonResponse,
    SlidingWindowLimiter,
    Text,
    client_ip,
    error_responses,
    list_query,
)
from pgkeel_apps.dealership.dealers import Dealer, canonical_params
from pgkeel_apps.dealership.leads import LeadService, lead_json
from pgkeel_apps.dealership.settings import ContactSettings
from pgkeel_apps.dealership.tables import CONTACTS
from pgkeel_apps.permissions import Reader, Writer

router = APIRouter(tags=["dealership"], route_class=DirectRoute)

PUBLIC = "/v1/dealers/{dealer}"
ADMIN = "/v1/dealership"

LeadStatus = Literal["NEW", "CONTACTED", "QUALIFIED", "PROPOSAL", "NEGOTIATION", "WON", "LOST",
                     "SPAM"]
Source = Literal["WEBSITE", "PHONE", "EMAIL", "WALK_IN", "REFERRAL", "SOCIAL"]
ActivityType = Literal["EMAIL", "CALL", "MEETING", "TEST_DRIVE", "NOTE"]


class ContactLimits:
    """The contact form's two sliding windows: per client IP and per email address."""

    def __init__(self, redis: Redis | None, settings: ContactSettings, *, prefix: str) -> None:
        common: dict[str, Any] = {"limit": settings.contact_limit,
                                  "window_s": settings.contact_window_s, "prefix": prefix}
        self.per_ip = SlidingWindowLimiter(redis, name="contact-ip", **common)
        self.per_email = SlidingWindowLimiter(redis, name="contact-email", **common)


class ContactForm(ApiModel):
    name: Name = Field(min_length=1, max_length=200)
    email: Email = Field(max_length=254)
    phone: str | None = Field(None, pattern=r"^\+?[0-9 ()-]{6,30}$", max_length=30,
                              examples=["+1 555 0100"])
    message: Text = Field(min_length=1, max_length=5000)
    carSlug: str | None = Field(None, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=120,
                                examples=["toyota-corolla-2020"])
    source: Source = "WEBSITE"
    website: str | None = Field(None, max_length=200,
                                description="Leave empty: a field people never see, which "
                                            "bots fill in (a honeypot).")


class StatusChange(ApiModel):
    status: LeadStatus


class Assignment(ApiModel):
    userId: UUID | None


class NoteIn(ApiModel):
    body: Text = Field(min_length=1, max_length=5000)


class ActivityIn(ApiModel):
    type: ActivityType
    description: Text | None = Field(None, max_length=2000)
    metadata: dict[str, str | int | float | bool | None] = Field(default_factory=dict,
                                                                  max_length=50)


async def lead_service(request: Request) -> LeadService:
    service: LeadService = request.app.state.dealership_leads
    return service


Leads = Annotated[LeadService, Depends(lead_service)]


@router.post(f"{PUBLIC}/contact", status_code=202, responses=error_responses(404, 429, 503),
             summary="The contact form: a lead, scored on arrival (rate limited)")
async def contact(org: Dealer, body: ContactForm, request: Request, service: Leads) -> Response:
    """At most CONTACT_LIMIT submissions per CONTACT_WINDOW_S per client IP and per email
    (429 with Retry-After). A filled-in honeypot is answered like any submission and dropped."""
    limits: ContactLimits = request.app.state.dealership_contact_limits
    ip = client_ip(request)
    await limits.per_ip.check(ip, org=org)
    await limits.per_email.check(body.email, org=org)
    if body.website:
        return OrjsonResponse({"received": True}, status_code=202)
    await service.submit({
        "name": body.name, "email": body.email, "phone": body.phone, "message": body.message,
        "source": body.source, "ip_address": ip if ip != "unknown" else None,
        "user_agent": (request.headers.get("user-agent") or "")[:500] or None},
        body.carSlug)
    return OrjsonResponse({"received": True}, status_code=202)


@router.get(f"{ADMIN}/leads", summary="The lead inbox (offset paging; cached 1 min)")
async def inbox(_: Reader, request: Request, service: Leads,
                query: Annotated[ListQuery, Depends(list_query(CONTACTS))]) -> Response:
    """Filters on status, leadScore (ranges), source, assignedTo, carId; newest and best
    leads first by default (`sort=-leadScore,-createdAt`)."""
    return OrjsonResponse(await service.inbox(query, canonical_params(request)))


@router.get(f"{ADMIN}/leads/{{lead_id}}", summary="A lead with notes and activities")
async def lead(lead_id: UUID, _: Reader, service: Leads) -> Response:
    return OrjsonResponse(await service.get(lead_id))


@router.patch(f"{ADMIN}/leads/{{lead_id}}/status",
              summary="Move a lead along the workflow (illegal moves: 422)")
async def lead_status(lead_id: UUID, body: StatusChange, _: Writer, service: Leads) -> Response:
    return OrjsonResponse(lead_json(await service.set_status(lead_id, body.status)))


@router.patch(f"{ADMIN}/leads/{{lead_id}}/assignee", summary="Assign a lead to a staff member")
async def lead_assignee(lead_id: UUID, body: Assignment, _: Writer, service: Leads) -> Response:
    return OrjsonResponse(lead_json(await service.assign(lead_id, body.userId)))


@router.post(f"{ADMIN}/leads/{{lead_id}}/notes", status_code=201, summary="Add a note")
async def lead_note(lead_id: UUID, body: NoteIn, _: Writer, service: Leads) -> Response:
    return OrjsonResponse(await service.add_note(lead_id, body.body), status_code=201)


@router.post(f"{ADMIN}/leads/{{lead_id}}/activities", status_code=201,
             summary="Record a call, email, meeting or test drive")
async def lead_activity(lead_id: UUID, body: ActivityIn, _: Writer, service: Leads) -> Response:
    return OrjsonResponse(await service.add_activity(lead_id, body.type, body.description,
                                                     body.metadata), status_code=201)
