"""The identity schema as pgkeel declarations: what requests may filter, sort and search."""

from __future__ import annotations

from typing import Final

from pgkeel.repo import CountMode, CustomFilter, Field, FieldType, Op, Search, Table

SCHEMA: Final = "identity"

STATUSES: Final = ("active", "suspended", "invited")

USERS = Table(SCHEMA, "users", [
    Field("id", FieldType.UUID, filter=(Op.EQ, Op.IN), nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("email", FieldType.TEXT, filter=(Op.EQ, Op.IN, Op.ILIKE), sort=True,
          search=Search.ILIKE, nullable=False),
    Field("display_name", FieldType.TEXT, filter=(Op.EQ, Op.ILIKE), sort=True,
          search=Search.ILIKE, nullable=False),
    Field("password_hash", FieldType.TEXT, sensitive=True),
    Field("status", FieldType.TEXT, filter=(Op.EQ, Op.NE, Op.IN), nullable=False),
    Field("is_active", FieldType.BOOL, filter=(Op.EQ,), nullable=False),
    Field("deleted_at", FieldType.TIMESTAMPTZ, writable=False),
    Field("created_at", FieldType.TIMESTAMPTZ, filter=(Op.GTE, Op.LTE, Op.GT, Op.LT),
          sort=True, nullable=False, writable=False),
    Field("updated_at", FieldType.TIMESTAMPTZ, filter=(Op.GTE, Op.LTE), sort=True,
          nullable=False, writable=False),
    Field("version", FieldType.INT, nullable=False, writable=False),
    Field("last_login_at", FieldType.TIMESTAMPTZ, writable=False),
    Field("email_verified_at", FieldType.TIMESTAMPTZ, writable=False),
], tenant="organization_id", soft_delete="deleted_at", version="version",
    updated_at="updated_at", default_sort=("-created_at",), page_size=20, max_page_size=100,
    count=CountMode.ESTIMATED, count_threshold=10_000,
    custom_filters=[CustomFilter("roleId", FieldType.UUID, (
        "EXISTS (SELECT 1 FROM identity.user_roles ur WHERE ur.organization_id = "
        "t.organization_id AND ur.user_id = t.id AND ur.role_id = %s AND ur.is_active)"))])

ROLES = Table(SCHEMA, "roles", [
    Field("id", FieldType.UUID, filter=(Op.EQ, Op.IN), nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("name", FieldType.TEXT, filter=(Op.EQ, Op.ILIKE), sort=True, nullable=False),
    Field("description", FieldType.TEXT),
    Field("permissions", FieldType.TEXT_ARRAY, nullable=False),
    Field("is_system", FieldType.BOOL, filter=(Op.EQ,), nullable=False),
    Field("is_active", FieldType.BOOL, filter=(Op.EQ,), nullable=False),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", default_sort=("name",), page_size=50, max_page_size=100)

USER_ROLES = Table(SCHEMA, "user_roles", [
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("user_id", FieldType.UUID, nullable=False),
    Field("role_id", FieldType.UUID, nullable=False),
    Field("is_active", FieldType.BOOL, nullable=False),
    Field("assigned_by", FieldType.UUID),
    Field("assigned_at", FieldType.TIMESTAMPTZ, nullable=False),
], primary_key=("organization_id", "user_id", "role_id"), tenant="organization_id")

ACCOUNTS = Table(SCHEMA, "accounts", [
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("id", FieldType.UUID, nullable=False, writable=False),
    Field("user_id", FieldType.UUID, filter=(Op.EQ,), nullable=False),
    Field("type", FieldType.TEXT, nullable=False),
    Field("provider", FieldType.TEXT, filter=(Op.EQ,), nullable=False),
    Field("provider_account_id", FieldType.TEXT, nullable=False),
    Field("refresh_token", FieldType.TEXT, sensitive=True),
    Field("access_token", FieldType.TEXT, sensitive=True),
    Field("expires_at", FieldType.TIMESTAMPTZ),
    Field("token_type", FieldType.TEXT),
    Field("scope", FieldType.TEXT),
    Field("id_token", FieldType.TEXT, sensitive=True),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", default_sort=("created_at",))
"""OAuth provider links (NextAuth's `accounts`): `Repository(db, ACCOUNTS)`; provider
tokens are sensitive (never selected unless named)."""

TABLES = (USERS, ROLES, USER_ROLES, ACCOUNTS)
