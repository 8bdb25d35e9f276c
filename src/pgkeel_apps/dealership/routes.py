"""The dealership API: the public catalogue under `/v1/dealers/{dealer}/...` (anonymous, the
dealer named by its slug) and the staff's `/v1/dealership/...` (bearer token: VIEWER reads,
ADMIN and SUPER_ADMIN write)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response

from pgkeel.repo import ListQuery
from pgkeel.web import DirectRoute, OrjsonResponse, error_responses, list_query
from pgkeel_apps.dealership import analytics_routes, config, lead_routes, newsletter
from pgkeel_apps.dealership.cars import CarService, car_json
from pgkeel_apps.dealership.dealers import Dealer, canonical_params
from pgkeel_apps.dealership.models import CarCreate, CarUpdate
from pgkeel_apps.dealership.tables import CARS
from pgkeel_apps.permissions import Reader, Writer

router = APIRouter(tags=["dealership"], route_class=DirectRoute)

PUBLIC = "/v1/dealers/{dealer}"
ADMIN = "/v1/dealership"


async def car_service(request: Request) -> CarService:
    service: CarService = request.app.state.dealership_cars
    return service


Cars = Annotated[CarService, Depends(car_service)]
CarList = Annotated[ListQuery, Depends(list_query(CARS))]

# -- public ---------------------------------------------------------------------------------


@router.get(f"{PUBLIC}/cars", summary="The dealer's cars (list grammar; cached 5 min)")
async def public_cars(_: Dealer, request: Request, service: Cars, query: CarList) -> Response:
    """Filters on brand, category, priceEur, year, fuel, status...; `cursor` + `limit` for
    keyset paging. Drafts, sold and deleted cars are never listed."""
    return OrjsonResponse(await service.public_list(query, canonical_params(request)))


@router.get(f"{PUBLIC}/cars/search", summary="Search cars; forgives typos (exact > prefix > fuzzy)",
            responses=error_responses(400))
async def search_cars(_: Dealer, service: Cars,
                      q: Annotated[str, Query(min_length=1, max_length=200)],
                      limit: Annotated[int, Query(ge=1, le=50)] = 20) -> Response:
    return OrjsonResponse(await service.search(q, limit))


@router.get(f"{PUBLIC}/cars/featured", summary="Featured cars (cached 5 min)")
async def featured_cars(_: Dealer, service: Cars) -> Response:
    return OrjsonResponse({"items": await service.featured()})


@router.get(f"{PUBLIC}/cars/{{slug}}", summary="A car's page by slug (cached 1 hour)")
async def car_by_slug(_: Dealer, slug: str,
                      service: Cars) -> Response:
    return OrjsonResponse(await service.by_slug(slug))


@router.get(f"{PUBLIC}/cars/{{slug}}/related", summary="Cars like this one (cached 5 min)")
async def related_cars(_: Dealer, slug: str, service: Cars) -> Response:
    return OrjsonResponse({"items": await service.related(slug)})


# -- staff ----------------------------------------------------------------------------------


@router.get(f"{ADMIN}/cars", summary="Every car of the organization (list grammar)")
async def admin_cars(_: Reader, service: Cars, query: CarList) -> Response:
    page = await service.admin_list(query)
    return OrjsonResponse(page.envelope([car_json(r, public=False) for r in page.items]))


@router.post(f"{ADMIN}/cars", status_code=201,
             summary="Create a car (slug from brand, model, year)")
async def create_car(body: CarCreate, _: Writer, service: Cars) -> Response:
    row = await service.create(body.values(), body.children())
    return OrjsonResponse(await service.admin_get(row["id"]), status_code=201,
                          headers={"Location": f"{ADMIN}/cars/{row['id']}"})


@router.get(f"{ADMIN}/cars/{{car_id}}", summary="One car with images, features, specs")
async def admin_car(car_id: UUID, _: Reader, service: Cars) -> Response:
    return OrjsonResponse(await service.admin_get(car_id))


@router.patch(f"{ADMIN}/cars/{{car_id}}", summary="Change a car (images, features and "
                                                  "specifications given replace the old)")
async def update_car(car_id: UUID, body: CarUpdate, _: Writer, service: Cars) -> Response:
    await service.update(car_id, body.changes(), body.children(), body.version)
    return OrjsonResponse(await service.admin_get(car_id))


@router.delete(f"{ADMIN}/cars/{{car_id}}", status_code=204, summary="Soft-delete a car")
async def delete_car(car_id: UUID, _: Writer, service: Cars) -> Response:
    await service.delete(car_id)
    return Response(status_code=204)


router.include_router(lead_routes.router)
router.include_router(analytics_routes.router)
router.include_router(config.router)
router.include_router(newsletter.router)
