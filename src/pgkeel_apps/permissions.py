"""The permissions the reference service's endpoints require, as FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Depends

from pgkeel.security import Principal
from pgkeel.web import requires

USERS_READ: Final = "USERS_READ"
USERS_WRITE: Final = "USERS_WRITE"
AUDIT_READ: Final = "AUDIT_READ"
CATALOG_WRITE: Final = "CATALOG_WRITE"
"""Manage the product catalog: products, categories, images, review moderation."""
ORDERS_READ: Final = "ORDERS_READ"
"""See every customer's orders and internal order notes (customers see their own)."""
INVENTORY_READ: Final = "INVENTORY_READ"
"""Read stock levels, movements and alerts."""
INVENTORY_WRITE: Final = "INVENTORY_WRITE"
"""Adjust stock."""
PAYMENTS_WRITE: Final = "PAYMENTS_WRITE"
"""Capture, settle and refund payments, record disputes, and see every payment."""

PUBLIC_WRITE_ROUTES: Final = frozenset({
    ("POST", "/v1/auth/login"),   # exchanges a password for a token: no token exists yet
    ("POST", "/v1/auth/logout"),  # any caller may end its own session
    ("POST", "/v1/auth/password"),  # ... and change its own password
    # Email verification and password reset: the caller holds a token, or asks for a link.
    ("POST", "/v1/auth/verify-email/request"),
    ("POST", "/v1/auth/verify-email"),
    ("POST", "/v1/auth/password-reset/request"),
    ("POST", "/v1/auth/password-reset"),
    # A customer's own cart (keyed by the caller's user id: no other cart is reachable) ...
    ("POST", "/v1/cart/items"),
    ("PATCH", "/v1/cart/items/{product_id}"),
    ("DELETE", "/v1/cart/items/{product_id}"),
    ("DELETE", "/v1/cart"),
    # ... and the caller's own review of a product (written as the caller, shown once a
    # CATALOG_WRITE holder approves it).
    ("POST", "/v1/products/{product_id}/reviews"),
    ("POST", "/v1/dealers/{dealer}/contact"),  # a dealer's public contact form (rate limited)
    # ... and its pages' analytics beacons (queued, never read back by the caller).
    ("POST", "/v1/dealers/{dealer}/beacons/car-view"),
    ("POST", "/v1/dealers/{dealer}/beacons/page-view"),
    ("POST", "/v1/dealers/{dealer}/beacons/web-vitals"),
    ("POST", "/v1/dealers/{dealer}/newsletter"),  # double opt-in, token links
    ("POST", "/v1/dealers/{dealer}/newsletter/confirm"),
    ("POST", "/v1/dealers/{dealer}/newsletter/unsubscribe"),
    # A customer's own orders: placed, cancelled, annotated and paid for as the caller (no
    # one else's order is reachable without ORDERS_READ).
    ("POST", "/v1/orders"),
    ("POST", "/v1/orders/{order_id}/cancel"),
    ("POST", "/v1/orders/{order_id}/notes"),
    ("POST", "/v1/payments"),
    # The /ops page's form: it takes an administrator's token (and refuses any other) to set
    # the page's cookie, and logging out clears it; neither changes data.
    ("POST", "/ops/login"),
    ("POST", "/ops/logout"),
})
"""The (method, path) write routes that need no write permission: they take no bearer token,
or act only on the caller's own session and password. Every other POST, PUT, PATCH and DELETE
route requires a write permission, and the tests check each one, from the route table, with a
read-only caller and with a caller holding no permission."""

Authenticated = Annotated[Principal, Depends(requires())]
"""Any logged-in user, with no particular permission."""
Reader = Annotated[Principal, Depends(requires(USERS_READ))]
Writer = Annotated[Principal, Depends(requires(USERS_WRITE))]
Auditor = Annotated[Principal, Depends(requires(AUDIT_READ))]
CatalogAdmin = Annotated[Principal, Depends(requires(CATALOG_WRITE))]
InventoryReader = Annotated[Principal, Depends(requires(INVENTORY_READ))]
InventoryWriter = Annotated[Principal, Depends(requires(INVENTORY_WRITE))]
PaymentsWriter = Annotated[Principal, Depends(requires(PAYMENTS_WRITE))]
