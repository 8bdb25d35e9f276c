"""`/api/admin/customers/{id}/tags` and `/api/admin/tags`: the customer-tags API."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from pgkeel.repo import ListQuery
from pgkeel.web import ApiModel, DirectRoute, Name, OrjsonResponse, Text, list_query
from pgkeel_apps.permissions import Reader, Writer
from pgkeel_apps.tags.service import TagService
from pgkeel_apps.tags.tables import ASSIGNMENTS, TAGS

router = APIRouter(tags=["tags"], route_class=DirectRoute)

HEX_COLOR = r"^#[0-9A-Fa-f]{6}$"


class AssignTag(ApiModel):
    tagId: UUID


class TagCreate(ApiModel):
    name: Name = Field(min_length=1, max_length=50)
    color: str = Field(pattern=HEX_COLOR, max_length=7, examples=["#1E90FF"])
    description: Text | None = Field(None, max_length=500)


class TagUpdate(ApiModel):
    name: Name | None = Field(None, min_length=1, max_length=50)
    color: str | None = Field(None, pattern=HEX_COLOR, max_length=7, examples=["#1E90FF"])
    description: Text | None = Field(None, max_length=500)
    isActive: bool | None = None


async def tag_service(request: Request) -> TagService:
    service: TagService = request.app.state.tags
    return service


Service = Annotated[TagService, Depends(tag_service)]


@router.get("/api/admin/customers/{customer_id}/tags",
            summary="A customer's tags (cached as customer:{customerId}:tags for 5 min)")
async def customer_tags(customer_id: UUID, _: Reader, service: Service) -> Response:
    return OrjsonResponse(await service.customer_tags(customer_id))


@router.post("/api/admin/customers/{customer_id}/tags", status_code=201,
             summary="Assign a tag (409 when already assigned; audited)")
async def assign_tag(customer_id: UUID, body: AssignTag, _: Writer,
                     service: Service) -> Response:
    row = await service.assign(customer_id, body.tagId)
    assignment: dict[str, Any] = ASSIGNMENTS.to_api(row)
    assignment["tag"] = TAGS.to_api(row["tag"])
    return OrjsonResponse(assignment, status_code=201)


@router.delete("/api/admin/customers/{customer_id}/tags/{tag_id}", status_code=204,
               summary="Remove a tag from a customer (audited)")
async def remove_tag(customer_id: UUID, tag_id: UUID, _: Writer,
                     service: Service) -> Response:
    await service.remove(customer_id, tag_id)
    return Response(status_code=204)


@router.get("/api/admin/tags", summary="List tags")
async def list_tags(_: Reader, service: Service,
                    query: Annotated[ListQuery, Depends(list_query(TAGS))]) -> Response:
    page = await service.list_tags(query)
    return OrjsonResponse(page.envelope([TAGS.to_api(r) for r in page.items]))


@router.post("/api/admin/tags", status_code=201, summary="Create a tag")
async def create_tag(body: TagCreate, _: Writer, service: Service) -> Response:
    row = await service.create_tag({"name": body.name, "color": body.color,
                                    "description": body.description})
    return OrjsonResponse(TAGS.to_api(row), status_code=201,
                          headers={"Location": f"/api/admin/tags/{row['id']}"})


@router.get("/api/admin/tags/{tag_id}", summary="One tag")
async def get_tag(tag_id: UUID, _: Reader, service: Service) -> Response:
    return OrjsonResponse(TAGS.to_api(await service.get_tag(tag_id)))


@router.patch("/api/admin/tags/{tag_id}", summary="Change a tag")
async def update_tag(tag_id: UUID, body: TagUpdate, _: Writer, service: Service) -> Response:
    changes = {column: value for column, value in (
        ("name", body.name), ("color", body.color), ("description", body.description),
        ("is_active", body.isActive)) if value is not None}
    return OrjsonResponse(TAGS.to_api(await service.update_tag(tag_id, changes)))


@router.delete("/api/admin/tags/{tag_id}", status_code=204,
               summary="Retire a tag (soft delete: isActive=false)")
async def delete_tag(tag_id: UUID, _: Writer, service: Service) -> Response:
    await service.update_tag(tag_id, {"is_active": False})
    return Response(status_code=204)
