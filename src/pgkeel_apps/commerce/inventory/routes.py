"""`/v1/inventory`: stock levels, adjustments, movements and alerts (administrators)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from pgkeel.repo import ListQuery
from pgkeel.web import ApiModel, DirectRoute, OrjsonResponse, Text, list_query
from pgkeel_apps.commerce.inventory.service import InventoryService
from pgkeel_apps.commerce.inventory.tables import ALERTS, INVENTORY, MOVEMENTS
from pgkeel_apps.permissions import InventoryReader, InventoryWriter

router = APIRouter(tags=["inventory"], route_class=DirectRoute)


class Adjustment(ApiModel):
    change: int = Field(ge=-1_000_000, le=1_000_000, examples=[25])
    """Units added to (positive) or taken from (negative) the available stock."""
    reason: Text = Field(min_length=1, max_length=500)
    type: Literal["adjust", "restock"] = "adjust"


async def inventory_service(request: Request) -> InventoryService:
    service: InventoryService = request.app.state.inventory
    return service


Service = Annotated[InventoryService, Depends(inventory_service)]


@router.get("/v1/inventory", summary="Stock levels (list grammar)")
async def list_inventory(_: InventoryReader, service: Service,
                         query: Annotated[ListQuery, Depends(list_query(INVENTORY))]
                         ) -> Response:
    page = await service.list(query)
    return OrjsonResponse(page.envelope([INVENTORY.to_api(r) for r in page.items]))


@router.get("/v1/inventory/movements",
            summary="Stock movements, one per change (list grammar; newest first)")
async def list_movements(_: InventoryReader, service: Service,
                         query: Annotated[ListQuery, Depends(list_query(MOVEMENTS))]
                         ) -> Response:
    page = await service.list_movements(query)
    return OrjsonResponse(page.envelope([MOVEMENTS.to_api(r) for r in page.items]))


@router.get("/v1/inventory/alerts", summary="Low-stock alerts (list grammar)")
async def list_alerts(_: InventoryReader, service: Service,
                      query: Annotated[ListQuery, Depends(list_query(ALERTS))]) -> Response:
    page = await service.list_alerts(query)
    return OrjsonResponse(page.envelope([ALERTS.to_api(r) for r in page.items]))


@router.get("/v1/inventory/{product_id}", summary="One product's stock")
async def get_inventory(product_id: UUID, _: InventoryReader, service: Service) -> Response:
    return OrjsonResponse(INVENTORY.to_api(await service.get(product_id)))


@router.post("/v1/inventory/{product_id}/adjustments",
             summary="Adjust a product's available stock (audited; 422 below zero)")
async def adjust_inventory(product_id: UUID, body: Adjustment, _: InventoryWriter,
                           service: Service) -> Response:
    row = await service.adjust(product_id, body.change, body.reason, body.type)
    return OrjsonResponse(INVENTORY.to_api(row))
