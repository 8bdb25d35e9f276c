"""Test set-up for the commerce apps: an organization with customers and a commerce
administrator (sessions opened directly: no password hashing per customer), and products with
stock."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pgkeel.security import issue_token
from tests.pgkeel_apps.conftest import Api, make_org

COMMERCE_ADMIN = ["USERS_READ", "ORDERS_READ", "INVENTORY_READ", "INVENTORY_WRITE",
                  "PAYMENTS_WRITE"]


@dataclass
class Shop:
    org: dict[str, Any]
    admin: dict[str, str]
    customers: list[uuid.UUID] = field(default_factory=list)
    headers: dict[uuid.UUID, dict[str, str]] = field(default_factory=dict)

    @property
    def id(self) -> uuid.UUID:
        return uuid.UUID(str(self.org["id"]))

    def customer(self, n: int = 0) -> dict[str, str]:
        return self.headers[self.customers[n]]


async def open_shop(api: Api, customers: int = 2) -> Shop:
    """A fresh organization: `admin` holds the commerce permissions, `customers` hold none."""
    org = await make_org(api, admins=1, others=0)
    role, admin = uuid.uuid4(), org["admin0"]
    people = [uuid.uuid4() for _ in range(customers + 1)]
    async with api.db.transaction() as tx:
        await tx.execute("INSERT INTO identity.roles (id, organization_id, name, permissions) "
                         "VALUES (%s, %s, 'COMMERCE_ADMIN', %s)", (role, org["id"], COMMERCE_ADMIN))
        await tx.execute("INSERT INTO identity.user_roles (organization_id, user_id, role_id) "
                         "VALUES (%s, %s, %s)", (org["id"], admin, role))
        await tx.execute(
            "INSERT INTO identity.users (id, organization_id, email, display_name) "
            "SELECT u, %s, 'c-' || u || '@example.com', 'Customer' FROM unnest(%s::uuid[]) u",
            (org["id"], people[1:]))
    people[0] = admin
    tokens = await sessions(api, org["id"], people)
    shop = Shop(org, tokens[admin], people[1:], tokens)
    return shop


async def sessions(api: Api, org: Any, users: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, str]]:
    """Bearer headers for `users`, their sessions written directly."""
    issued = {user: issue_token() for user in users}
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    async with api.db.transaction() as tx:
        await tx.execute_many(
            "INSERT INTO identity.sessions (token_hash, organization_id, user_id, expires_at) "
            "VALUES (%s, %s, %s, %s)",
            [(digest, org, user, expires) for user, (_, digest) in issued.items()])
    return {user: {"Authorization": f"Bearer {token}"} for user, (token, _) in issued.items()}


async def product(api: Api, shop: Shop, *, price: str = "12.50", units: int = 100,
                  reorder_point: int = 10, catalog: bool = True) -> uuid.UUID:
    """An active product with `units` in stock (`catalog=False`: only its stock)."""
    product_id = uuid.uuid4()
    async with api.db.transaction() as tx:
        if catalog:
            await tx.execute(
                "INSERT INTO product.products (organization_id, id, sku, name, price, "
                "stock_quantity) VALUES (%s, %s, %s, %s, %s, %s)",
                (shop.id, product_id, f"SKU-{secrets.token_hex(4)}", "Test product",
                 Decimal(price), units))
        await tx.execute(
            "INSERT INTO inventory.inventory (organization_id, product_id, available_quantity, "
            "reorder_point) VALUES (%s, %s, %s, %s)", (shop.id, product_id, units, reorder_point))
    return product_id


async def stock(api: Api, shop: Shop, product_id: uuid.UUID) -> dict[str, Any]:
    row = await api.db.fetch_one(
        "SELECT available_quantity, reserved_quantity, total_quantity FROM inventory.inventory "
        "WHERE organization_id = %s AND product_id = %s", (shop.id, product_id))
    assert row is not None
    return row


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}
