"""`/v1/products`, `/v1/categories` and their reviews and images: the catalog API. Any user of
the organization reads the catalog; CATALOG_WRITE manages it."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from pgkeel.errors import Conflict
from pgkeel.repo import Filter, ListQuery, Op
from pgkeel.web import (
    ApiModel,
    DirectRoute,
    Name,
    OrjsonResponse,
    Text,
    error_responses,
    list_query,
)
from pgkeel_apps.commerce.product.service import CatalogService
from pgkeel_apps.commerce.product.tables import CATEGORIES, IMAGES, PRODUCTS, REVIEWS
from pgkeel_apps.permissions import CATALOG_WRITE, Authenticated, CatalogAdmin

router = APIRouter(tags=["catalog"], route_class=DirectRoute)

SKU = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
SLUG = r"^[a-z0-9][a-z0-9-]{0,99}$"
PRICE = r"^(0\.(0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,9}(\.[0-9]{1,2})?)$"
"""An exact amount above zero with at most two decimals, as text (never a float)."""
Price = Annotated[str, Field(pattern=PRICE, max_length=13, examples=["19.99"])]
PriceFilter = Annotated[str | None, Query(pattern=r"^[0-9]{1,10}(\.[0-9]{1,2})?$",
                                          max_length=13)]
Tag = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[\w-]+$")]
METADATA_KEY = r"^[A-Za-z0-9_.-]{1,64}$"
MetadataKey = Annotated[str, Field(pattern=METADATA_KEY)]
KEYS_SCHEMA: dict[str, Any] = {"propertyNames": {"pattern": METADATA_KEY}}
"""The keys' rule, stated in the OpenAPI document too (pydantic does not emit it)."""
Metadata = dict[MetadataKey, Annotated[Text, Field(max_length=1000)] | int | float | bool | None]
"""Flat attributes (brand, weightGrams, color): named keys, scalar values."""


class ProductCreate(ApiModel):
    sku: str = Field(pattern=SKU, max_length=64)
    name: Name = Field(min_length=1, max_length=200)
    description: Text | None = Field(None, max_length=10_000)
    categoryId: UUID | None = None
    price: Price
    stockQuantity: int = Field(0, ge=0, le=2**31 - 1)
    lowStockThreshold: int = Field(10, ge=0, le=2**31 - 1)
    isActive: bool = True
    metadata: Metadata = Field(default_factory=dict, max_length=50,
                               json_schema_extra=KEYS_SCHEMA)
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class ProductUpdate(ApiModel):
    name: Name | None = Field(None, min_length=1, max_length=200)
    description: Text | None = Field(None, max_length=10_000)
    categoryId: UUID | None = None
    price: Price | None = None
    stockQuantity: int | None = Field(None, ge=0, le=2**31 - 1)
    lowStockThreshold: int | None = Field(None, ge=0, le=2**31 - 1)
    isActive: bool | None = None
    metadata: Metadata | None = Field(None, max_length=50, json_schema_extra=KEYS_SCHEMA)
    tags: list[Tag] | None = Field(None, max_length=20)
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="Expected version.")


class CategoryCreate(ApiModel):
    name: Name = Field(min_length=1, max_length=100)
    slug: str = Field(pattern=SLUG, max_length=100)
    parentId: UUID | None = None
    description: Text | None = Field(None, max_length=2000)
    sortOrder: int = Field(0, ge=-(2**31), le=2**31 - 1)


class CategoryUpdate(ApiModel):
    name: Name | None = Field(None, min_length=1, max_length=100)
    parentId: UUID | None = None
    description: Text | None = Field(None, max_length=2000)
    sortOrder: int | None = Field(None, ge=-(2**31), le=2**31 - 1)
    isActive: bool | None = None


class ReviewCreate(ApiModel):
    rating: int = Field(ge=1, le=5)
    title: Name | None = Field(None, max_length=200)
    body: Text | None = Field(None, max_length=5000)


class ReviewModeration(ApiModel):
    isApproved: bool | None = None
    isVerified: bool | None = None


class ImageCreate(ApiModel):
    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2000,
                     examples=["https://img.example.com/p/1.jpg"])
    altText: Name | None = Field(None, max_length=300)
    sortOrder: int = Field(0, ge=0, le=2**31 - 1)
    isPrimary: bool = False


class ImageUpdate(ApiModel):
    altText: Name | None = Field(None, max_length=300)
    sortOrder: int | None = Field(None, ge=0, le=2**31 - 1)
    isPrimary: bool | None = None


async def catalog(request: Request) -> CatalogService:
    service: CatalogService = request.app.state.catalog
    return service


Service = Annotated[CatalogService, Depends(catalog)]


def _changes(body: ApiModel, columns: dict[str, str],
             nullable: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The fields the client sent, by column: an explicit null clears a `nullable` column
    and means "unchanged" for the others."""
    sent = body.model_dump(exclude_unset=True)
    return {column: sent[name] for name, column in columns.items()
            if name in sent and (sent[name] is not None or column in nullable)}


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _product_out(row: dict[str, Any]) -> dict[str, Any]:
    out = PRODUCTS.to_api(row)
    out["price"] = str(row["price"])
    out["averageRating"] = None if row["average_rating"] is None else str(row["average_rating"])
    out["inStock"] = row["stock_quantity"] > 0
    return out


# -- products -----------------------------------------------------------------------------------

@router.get("/v1/products",
            summary="List products (filters: category incl. subcategories, price range, tags, "
                    "inStock; sorts; full-text q)")
async def list_products(_: Authenticated, service: Service,
                        query: Annotated[ListQuery, Depends(list_query(PRODUCTS))]) -> Response:
    page = await service.list_products(query)
    return OrjsonResponse(page.envelope([_product_out(r) for r in page.items]))


@router.get("/v1/search/products", summary="Ranked search (search_products()): full text, "
                                           "then trigram matches on the name")
async def search_products(
        *, _: Authenticated, service: Service,
        q: Annotated[str, Query(min_length=1, max_length=200, pattern=r"^[^\x00]+$")],
        category: UUID | None = None,
        minPrice: PriceFilter = None,
        maxPrice: PriceFilter = None,
        inStock: bool = False,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        offset: Annotated[int, Query(ge=0, le=10_000)] = 0) -> Response:
    rows = await service.search(q, category_id=category, min_price=_decimal(minPrice),
                                max_price=_decimal(maxPrice), in_stock=inStock, limit=limit,
                                offset=offset)
    items = [{"id": str(r["id"]), "sku": r["sku"], "name": r["name"], "price": str(r["price"]),
              "categoryId": None if r["category_id"] is None else str(r["category_id"]),
              "stockQuantity": r["stock_quantity"], "tags": r["tags"],
              "averageRating": None if r["average_rating"] is None
              else str(r["average_rating"]), "rank": r["rank"]} for r in rows]
    return OrjsonResponse({"items": items, "limit": limit, "offset": offset})


@router.get("/v1/products/{product_id}",
            summary="One product with its category path, images and reviews (cached)")
async def get_product(product_id: UUID, _: Authenticated, service: Service) -> Response:
    return OrjsonResponse(await service.product_details(product_id))


PRODUCT_COLUMNS = {"sku": "sku", "name": "name", "description": "description",
                   "categoryId": "category_id", "price": "price",
                   "stockQuantity": "stock_quantity", "lowStockThreshold": "low_stock_threshold",
                   "isActive": "is_active", "metadata": "metadata", "tags": "tags"}


@router.post("/v1/products", status_code=201, summary="Create a product (audited)")
async def create_product(body: ProductCreate, _: CatalogAdmin, service: Service) -> Response:
    values = {c: getattr(body, n) for n, c in PRODUCT_COLUMNS.items()}
    row = await service.create_product({**values, "price": Decimal(body.price)})
    return OrjsonResponse(_product_out(row), status_code=201,
                          headers={"Location": f"/v1/products/{row['id']}"})


@router.patch("/v1/products/{product_id}",
              summary="Change a product (audited; its cached detail is invalidated)")
async def update_product(product_id: UUID, body: ProductUpdate, _: CatalogAdmin,
                         service: Service) -> Response:
    changes = _changes(body, PRODUCT_COLUMNS, frozenset({"description", "category_id"}))
    if "price" in changes:
        changes["price"] = Decimal(changes["price"])
    row = await service.update_product(product_id, changes, expected_version=body.version)
    return OrjsonResponse(_product_out(row))


@router.delete("/v1/products/{product_id}", status_code=204,
               summary="Retire a product (isActive=false; audited)")
async def delete_product(product_id: UUID, _: CatalogAdmin, service: Service) -> Response:
    await service.delete_product(product_id)
    return Response(status_code=204)


# -- categories ---------------------------------------------------------------------------------

@router.get("/v1/categories", summary="The category tree")
async def category_tree(_: Authenticated, service: Service) -> Response:
    return OrjsonResponse({"items": await service.category_tree()})


@router.get("/v1/categories/{category_id}/ancestors",
            summary="A category and its ancestors up to the root (recursive)")
async def ancestors(category_id: UUID, _: Authenticated, service: Service) -> Response:
    return OrjsonResponse({"items": [CATEGORIES.to_api(r) | {"depth": r["depth"]}
                                     for r in await service.ancestors(category_id)]})


@router.get("/v1/categories/{category_id}/descendants",
            summary="A category and every subcategory (recursive)")
async def descendants(category_id: UUID, _: Authenticated, service: Service) -> Response:
    return OrjsonResponse({"items": [CATEGORIES.to_api(r) | {"depth": r["depth"]}
                                     for r in await service.descendants(category_id)]})


@router.post("/v1/categories", status_code=201, summary="Create a category (audited)")
async def create_category(body: CategoryCreate, _: CatalogAdmin, service: Service) -> Response:
    row = await service.create_category({
        "name": body.name, "slug": body.slug, "parent_id": body.parentId,
        "description": body.description, "sort_order": body.sortOrder})
    return OrjsonResponse(CATEGORIES.to_api(row), status_code=201)


@router.patch("/v1/categories/{category_id}",
              summary="Rename or move a category (never under its own descendant; audited)",
              responses=error_responses(404, 422))
async def update_category(category_id: UUID, body: CategoryUpdate, _: CatalogAdmin,
                          service: Service) -> Response:
    changes = _changes(body, {"name": "name", "parentId": "parent_id",
                              "description": "description", "sortOrder": "sort_order",
                              "isActive": "is_active"},
                       frozenset({"parent_id", "description"}))
    return OrjsonResponse(CATEGORIES.to_api(await service.update_category(category_id, changes)))


# -- reviews ------------------------------------------------------------------------------------

@router.get("/v1/products/{product_id}/reviews",
            summary="A product's reviews (approved ones; CATALOG_WRITE also sees pending)")
async def list_reviews(product_id: UUID, principal: Authenticated, service: Service,
                       query: Annotated[ListQuery, Depends(list_query(REVIEWS))]) -> Response:
    query.filters.append(Filter(REVIEWS.field("product_id"), Op.EQ, product_id))
    if CATALOG_WRITE not in principal.permissions:
        query.filters.append(Filter(REVIEWS.field("is_approved"), Op.EQ, True))
    page = await service.list_reviews(product_id, query)
    return OrjsonResponse(page.envelope([REVIEWS.to_api(r) for r in page.items]))


@router.post("/v1/products/{product_id}/reviews", status_code=201,
             summary="Review a product as yourself (one per product; shown once approved)")
async def create_review(product_id: UUID, body: ReviewCreate, _: Authenticated,
                        service: Service) -> Response:
    try:
        row = await service.create_review(product_id, {"rating": body.rating,
                                                       "title": body.title, "body": body.body})
    except Conflict as exc:
        raise Conflict("You have already reviewed this product.",
                       details={"constraint": "product_reviews_one_per_user",
                                "fields": ["productId", "userId"]}) from exc
    return OrjsonResponse(REVIEWS.to_api(row), status_code=201)


@router.patch("/v1/products/{product_id}/reviews/{review_id}",
              summary="Approve or verify a review (the product's rating follows)")
async def moderate_review(product_id: UUID, review_id: UUID, body: ReviewModeration,
                          _: CatalogAdmin, service: Service) -> Response:
    changes = {c: v for c, v in (("is_approved", body.isApproved),
                                 ("is_verified", body.isVerified)) if v is not None}
    row = await service.moderate_review(product_id, review_id, changes)
    return OrjsonResponse(REVIEWS.to_api(row))


@router.delete("/v1/products/{product_id}/reviews/{review_id}", status_code=204,
               summary="Delete a review (audited)")
async def delete_review(product_id: UUID, review_id: UUID, _: CatalogAdmin,
                        service: Service) -> Response:
    await service.delete_review(product_id, review_id)
    return Response(status_code=204)


# -- images -------------------------------------------------------------------------------------

@router.post("/v1/products/{product_id}/images", status_code=201,
             summary="Add an image (the first one, or isPrimary, becomes the primary image)")
async def add_image(product_id: UUID, body: ImageCreate, _: CatalogAdmin,
                    service: Service) -> Response:
    row = await service.add_image(product_id, {"url": body.url, "alt_text": body.altText,
                                               "sort_order": body.sortOrder,
                                               "is_primary": body.isPrimary})
    return OrjsonResponse(IMAGES.to_api(row), status_code=201)


@router.patch("/v1/products/{product_id}/images/{image_id}",
              summary="Reorder an image, change its text, or make it the primary one",
              responses=error_responses(404, 422))
async def update_image(product_id: UUID, image_id: UUID, body: ImageUpdate, _: CatalogAdmin,
                       service: Service) -> Response:
    changes = _changes(body, {"altText": "alt_text", "sortOrder": "sort_order",
                              "isPrimary": "is_primary"}, frozenset({"alt_text"}))
    return OrjsonResponse(IMAGES.to_api(await service.update_image(product_id, image_id,
                                                                   changes)))


@router.delete("/v1/products/{product_id}/images/{image_id}", status_code=204,
               summary="Delete an image (the next one becomes primary if it was)")
async def delete_image(product_id: UUID, image_id: UUID, _: CatalogAdmin,
                       service: Service) -> Response:
    await service.delete_image(product_id, image_id)
    return Response(status_code=204)
