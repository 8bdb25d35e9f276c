"""The product schema as pgkeel declarations: what catalog requests may filter, sort and search."""

from __future__ import annotations

from typing import Final

from pgkeel.repo import CountMode, CustomFilter, Field, FieldType, Op, Search, Table

SCHEMA: Final = "product"

RANGE: Final = (Op.EQ, Op.NE, Op.LT, Op.LTE, Op.GT, Op.GTE, Op.BETWEEN)
"""Comparisons and ranges for amounts and counts (lists of prices are not a catalog query)."""

CATEGORY_SUBTREE: Final = (
    "t.category_id IN (SELECT d.id FROM product.category_descendants(%s) d)")
"""`category=<id>`: the category and every subcategory below it (a recursive walk, once)."""

PRODUCTS = Table(SCHEMA, "products", [
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("id", FieldType.UUID, filter=(Op.EQ, Op.IN), nullable=False, writable=False),
    Field("sku", FieldType.TEXT, filter=(Op.EQ, Op.IN), sort=True, nullable=False),
    Field("name", FieldType.TEXT, filter=(Op.EQ, Op.ILIKE), sort=True, search=Search.ILIKE,
          nullable=False),
    Field("description", FieldType.TEXT),
    Field("category_id", FieldType.UUID, filter=(Op.EQ, Op.IN, Op.IS)),
    Field("price", FieldType.NUMERIC, filter=RANGE, sort=True, nullable=False),
    Field("stock_quantity", FieldType.INT, filter=RANGE, sort=True, nullable=False),
    Field("low_stock_threshold", FieldType.INT, nullable=False),
    Field("is_active", FieldType.BOOL, filter=(Op.EQ,), nullable=False),
    Field("metadata", FieldType.JSONB, nullable=False),
    Field("tags", FieldType.TEXT_ARRAY, nullable=False),
    Field("average_rating", FieldType.NUMERIC, filter=(Op.GTE, Op.LTE, Op.IS), sort=True,
          writable=False),
    Field("review_count", FieldType.INT, nullable=False, writable=False),
    Field("search_vector", FieldType.TSVECTOR, search=Search.FTS, writable=False),
    Field("created_at", FieldType.TIMESTAMPTZ, filter=(Op.GTE, Op.LTE, Op.GT, Op.LT),
          sort=True, nullable=False, writable=False),
    Field("updated_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
    Field("version", FieldType.INT, nullable=False, writable=False),
], tenant="organization_id", version="version",
    updated_at="updated_at", default_sort=("name",), page_size=20, max_page_size=100,
    count=CountMode.ESTIMATED, count_threshold=10_000, search_config="english",
    custom_filters=[
        CustomFilter("category", FieldType.UUID, CATEGORY_SUBTREE),
        CustomFilter("tag", FieldType.TEXT, "t.tags @> ARRAY[%s]::text[]"),
        CustomFilter("tagsAll", FieldType.TEXT, "t.tags @> string_to_array(%s, ',')"),
        CustomFilter("tagsAny", FieldType.TEXT, "t.tags && string_to_array(%s, ',')"),
        CustomFilter("inStock", FieldType.BOOL, "(t.stock_quantity > 0) = %s"),
        CustomFilter("lowStock", FieldType.BOOL,
                     "(t.is_active AND t.stock_quantity <= t.low_stock_threshold) = %s"),
    ])

CATEGORIES = Table(SCHEMA, "categories", [
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("id", FieldType.UUID, filter=(Op.EQ, Op.IN), nullable=False, writable=False),
    Field("parent_id", FieldType.UUID, filter=(Op.EQ, Op.IS)),
    Field("name", FieldType.TEXT, filter=(Op.EQ, Op.ILIKE), search=Search.ILIKE,
          nullable=False),
    Field("slug", FieldType.TEXT, filter=(Op.EQ,), nullable=False),
    Field("description", FieldType.TEXT),
    Field("sort_order", FieldType.INT, nullable=False),
    Field("is_active", FieldType.BOOL, filter=(Op.EQ,), nullable=False),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
    Field("updated_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", updated_at="updated_at",
    default_sort=("sort_order", "name"), page_size=50, max_page_size=200)

REVIEWS = Table(SCHEMA, "product_reviews", [
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("id", FieldType.UUID, nullable=False, writable=False),
    Field("product_id", FieldType.UUID, filter=(Op.EQ,), nullable=False),
    Field("user_id", FieldType.UUID, filter=(Op.EQ,), nullable=False),
    Field("rating", FieldType.SMALLINT, filter=RANGE, nullable=False),
    Field("title", FieldType.TEXT),
    Field("body", FieldType.TEXT),
    Field("is_verified", FieldType.BOOL, filter=(Op.EQ,), nullable=False),
    Field("is_approved", FieldType.BOOL, filter=(Op.EQ,), nullable=False),
    Field("created_at", FieldType.TIMESTAMPTZ, sort=True, nullable=False, writable=False),
    Field("updated_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", updated_at="updated_at",
    default_sort=("-created_at",), page_size=20, max_page_size=100)

IMAGES = Table(SCHEMA, "product_images", [
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("id", FieldType.UUID, nullable=False, writable=False),
    Field("product_id", FieldType.UUID, filter=(Op.EQ,), nullable=False),
    Field("url", FieldType.TEXT, nullable=False),
    Field("alt_text", FieldType.TEXT),
    Field("sort_order", FieldType.INT, nullable=False),
    Field("is_primary", FieldType.BOOL, filter=(Op.EQ,), nullable=False),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id",
    default_sort=("sort_order",), page_size=50, max_page_size=100)

TABLES = (CATEGORIES, PRODUCTS, REVIEWS, IMAGES)
