"""The dealership schema as pgkeel declarations: what requests may filter, sort and search."""

from __future__ import annotations

from typing import Final

from pgkeel.repo import COMPARABLE, CustomFilter, Field, FieldType, Op, Search, Table

SCHEMA: Final = "dealership"

CAR_STATUSES: Final = ("DRAFT", "AVAILABLE", "RESERVED", "SOLD", "COMING_SOON")
PUBLIC_STATUSES: Final = ("AVAILABLE", "RESERVED", "COMING_SOON")
"""What public lists and search show: never drafts, sold cars or deleted ones."""
FUELS: Final = ("PETROL", "DIESEL", "HYBRID", "ELECTRIC", "LPG")
TRANSMISSIONS: Final = ("MANUAL", "AUTOMATIC")
CATEGORIES: Final = ("SEDAN", "HATCHBACK", "SUV", "WAGON", "COUPE", "CONVERTIBLE", "VAN",
                     "PICKUP")

_ENUM = (Op.EQ, Op.IN)
_RANGE = (Op.EQ, Op.GTE, Op.LTE, Op.GT, Op.LT, Op.BETWEEN)

MATCH: Final = "match"
"""The typo-forgiving filter the public list's `q` becomes (dealership.car_matches)."""

CARS = Table(SCHEMA, "cars", [
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("id", FieldType.UUID, filter=_ENUM, nullable=False, writable=False),
    Field("slug", FieldType.TEXT, filter=(Op.EQ,), nullable=False),
    Field("brand", FieldType.TEXT, filter=(Op.EQ, Op.IN, Op.ILIKE), sort=True,
          search=Search.ILIKE, nullable=False),
    Field("model", FieldType.TEXT, filter=(Op.EQ, Op.ILIKE), search=Search.ILIKE,
          nullable=False),
    Field("year", FieldType.INT, filter=COMPARABLE, sort=True, nullable=False),
    Field("price_eur", FieldType.NUMERIC, filter=_RANGE, sort=True, nullable=False),
    Field("mileage_km", FieldType.INT, filter=_RANGE, nullable=False),
    Field("fuel", FieldType.TEXT, filter=_ENUM, nullable=False),
    Field("transmission", FieldType.TEXT, filter=_ENUM, nullable=False),
    Field("category", FieldType.TEXT, filter=_ENUM, nullable=False),
    Field("color", FieldType.TEXT, filter=(Op.EQ,)),
    Field("description", FieldType.TEXT),
    Field("status", FieldType.TEXT, filter=(Op.EQ, Op.IN, Op.NE), nullable=False),
    Field("is_featured", FieldType.BOOL, filter=(Op.EQ,), nullable=False),
    Field("meta_title", FieldType.TEXT),
    Field("meta_description", FieldType.TEXT),
    Field("view_count", FieldType.BIGINT, nullable=False, writable=False),
    Field("deleted_at", FieldType.TIMESTAMPTZ, writable=False),
    Field("created_at", FieldType.TIMESTAMPTZ, filter=(Op.GTE, Op.LTE, Op.GT, Op.LT),
          sort=True, nullable=False, writable=False),
    Field("updated_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
    Field("version", FieldType.INT, nullable=False, writable=False),
], tenant="organization_id", soft_delete="deleted_at",
    version="version", updated_at="updated_at", default_sort=("-created_at",), page_size=20,
    max_page_size=100, custom_filters=[
        # `match`: search's exact/prefix/fuzzy rule as a list filter (the public list's q).
        CustomFilter(MATCH, FieldType.TEXT,
                     "dealership.car_matches(t.search_vector, t.brand, t.model, %s)")])

CAR_IMAGES = Table(SCHEMA, "car_images", [
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("id", FieldType.UUID, nullable=False, writable=False),
    Field("car_id", FieldType.UUID, nullable=False),
    Field("url", FieldType.TEXT, nullable=False),
    Field("alt_text", FieldType.TEXT),
    Field("sort_order", FieldType.INT, nullable=False),
    Field("is_primary", FieldType.BOOL, nullable=False),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id",
    default_sort=("sort_order",))

CAR_FEATURES = Table(SCHEMA, "car_features", [
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("id", FieldType.UUID, nullable=False, writable=False),
    Field("car_id", FieldType.UUID, nullable=False),
    Field("feature", FieldType.TEXT, nullable=False),
    Field("sort_order", FieldType.INT, nullable=False),
], tenant="organization_id",
    default_sort=("sort_order",))

CAR_SPECIFICATIONS = Table(SCHEMA, "car_specifications", [
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("id", FieldType.UUID, nullable=False, writable=False),
    Field("car_id", FieldType.UUID, nullable=False),
    Field("label", FieldType.TEXT, nullable=False),
    Field("value", FieldType.TEXT, nullable=False),
    Field("sort_order", FieldType.INT, nullable=False),
], tenant="organization_id",
    default_sort=("sort_order",))

LEAD_STATUSES: Final = ("NEW", "CONTACTED", "QUALIFIED", "PROPOSAL", "NEGOTIATION", "WON",
                        "LOST", "SPAM")
LEAD_SOURCES: Final = ("WEBSITE", "PHONE", "EMAIL", "WALK_IN", "REFERRAL", "SOCIAL")

CONTACTS = Table(SCHEMA, "contact_submissions", [
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("id", FieldType.UUID, filter=_ENUM, nullable=False, writable=False),
    Field("car_id", FieldType.UUID, filter=(Op.EQ, Op.IS)),
    Field("name", FieldType.TEXT, search=Search.ILIKE, nullable=False),
    Field("email", FieldType.TEXT, filter=(Op.EQ,), search=Search.ILIKE, nullable=False),
    Field("phone", FieldType.TEXT),
    Field("message", FieldType.TEXT, nullable=False),
    Field("source", FieldType.TEXT, filter=_ENUM, nullable=False),
    Field("lead_score", FieldType.INT, filter=_RANGE, sort=True, nullable=False,
          writable=False),
    Field("status", FieldType.TEXT, filter=(Op.EQ, Op.IN, Op.NE), nullable=False),
    Field("assigned_to", FieldType.UUID, filter=(Op.EQ, Op.IS)),
    Field("ip_address", FieldType.TEXT, writable=False, api_name="ipAddress"),
    Field("user_agent", FieldType.TEXT),
    Field("created_at", FieldType.TIMESTAMPTZ, filter=(Op.GTE, Op.LTE, Op.GT, Op.LT),
          sort=True, nullable=False, writable=False),
    Field("updated_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
    Field("version", FieldType.INT, nullable=False, writable=False),
], tenant="organization_id", version="version", updated_at="updated_at",
    default_sort=("-lead_score", "-created_at"), page_size=25, max_page_size=100)

CONTACT_NOTES = Table(SCHEMA, "contact_notes", [
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("id", FieldType.UUID, nullable=False, writable=False),
    Field("contact_id", FieldType.UUID, nullable=False),
    Field("author_id", FieldType.UUID, nullable=False),
    Field("body", FieldType.TEXT, nullable=False),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", default_sort=("created_at",))

CONTACT_ACTIVITIES = Table(SCHEMA, "contact_activities", [
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("id", FieldType.UUID, nullable=False, writable=False),
    Field("contact_id", FieldType.UUID, nullable=False),
    Field("type", FieldType.TEXT, nullable=False),
    Field("actor_id", FieldType.UUID),
    Field("description", FieldType.TEXT),
    Field("metadata", FieldType.JSONB, nullable=False),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", default_sort=("created_at",))

TABLES = (CARS, CAR_IMAGES, CAR_FEATURES, CAR_SPECIFICATIONS, CONTACTS, CONTACT_NOTES,
          CONTACT_ACTIVITIES)
