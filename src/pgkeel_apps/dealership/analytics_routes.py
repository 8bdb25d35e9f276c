"""Beacons (public, 204) and the analytics dashboards (staff)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field, StrictFloat, StrictInt

from pgkeel.web import ApiModel, DirectRoute, OrjsonResponse, client_ip
from pgkeel_apps.dealership.analytics import Analytics
from pgkeel_apps.dealership.dealers import Dealer
from pgkeel_apps.permissions import Reader

router = APIRouter(tags=["dealership"], route_class=DirectRoute)

PUBLIC = "/v1/dealers/{dealer}/beacons"
ADMIN = "/v1/dealership/analytics"
PATH = r"^/[^\s]*$"


class CarViewBeacon(ApiModel):
    carId: UUID
    sessionId: str | None = Field(None, max_length=100, pattern=r"^[A-Za-z0-9_-]+$",
                                examples=["s-1f3a"])
    referrer: str | None = Field(None, max_length=2000, pattern=r"^https?://[^\s]+$",
                               examples=["https://www.example.com/"])


class PageViewBeacon(ApiModel):
    path: str = Field(min_length=1, max_length=500, pattern=PATH, examples=["/cars"])
    sessionId: str | None = Field(None, max_length=100, pattern=r"^[A-Za-z0-9_-]+$",
                                examples=["s-1f3a"])
    referrer: str | None = Field(None, max_length=2000, pattern=r"^https?://[^\s]+$",
                               examples=["https://www.example.com/"])
    loadTimeMs: StrictInt | None = Field(None, ge=0, le=600_000)


class WebVitalBeacon(ApiModel):
    name: Literal["LCP", "INP", "CLS", "FCP", "TTFB"]
    value: StrictFloat = Field(ge=0, lt=1e7)
    path: str = Field(min_length=1, max_length=500, pattern=PATH, examples=["/cars"])
    rating: Literal["good", "needs-improvement", "poor"] | None = None


async def analytics(request: Request) -> Analytics:
    service: Analytics = request.app.state.dealership_analytics
    return service


Service = Annotated[Analytics, Depends(analytics)]
Days = Annotated[int, Query(ge=1, le=365)]


@router.post(f"{PUBLIC}/car-view", status_code=204,
             summary="A car page was viewed (queued, counted; never waits for the database)")
async def car_view(_: Dealer, body: CarViewBeacon, request: Request,
                   service: Service) -> Response:
    await service.car_view(body.carId, body.sessionId, client_ip(request),
                           (request.headers.get("user-agent") or "")[:500] or None,
                           body.referrer)
    return Response(status_code=204)


@router.post(f"{PUBLIC}/page-view", status_code=204, summary="A page was viewed (queued)")
async def page_view(_: Dealer, body: PageViewBeacon, service: Service) -> Response:
    service.page_view(body.path, body.sessionId, body.referrer, body.loadTimeMs)
    return Response(status_code=204)


@router.post(f"{PUBLIC}/web-vitals", status_code=204,
             summary="A Core Web Vitals measurement (queued)")
async def web_vital(_: Dealer, body: WebVitalBeacon, service: Service) -> Response:
    service.web_vital(body.name, body.value, body.path, body.rating)
    return Response(status_code=204)


@router.get(f"{ADMIN}/views", summary="Views per car per day (the daily aggregates)")
async def views_per_day(_: Reader, service: Service, days: Days = 30) -> Response:
    return OrjsonResponse({"items": await service.views_per_day(days)})


@router.get(f"{ADMIN}/top-cars", summary="The most viewed cars")
async def top_cars(_: Reader, service: Service, days: Days = 30,
                   limit: Annotated[int, Query(ge=1, le=100)] = 10) -> Response:
    return OrjsonResponse({"items": await service.top_cars(days, limit)})


@router.get(f"{ADMIN}/web-vitals", summary="p75 of LCP, INP and CLS per path")
async def web_vitals(_: Reader, service: Service, days: Days = 7) -> Response:
    return OrjsonResponse({"items": await service.web_vitals(days)})
