"""The cart's settings: its TTLs and limits (CART_*)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CartSettings(BaseSettings):
    """The Redis cart: how long carts, locks and metrics live, and how big a cart may be."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True,
                                      use_attribute_docstrings=True)

    cart_ttl_s: int = Field(30 * 86_400, ge=60, le=365 * 86_400)
    """`cart:{userId}` lives this long after its last change (30 days)."""
    cart_lock_ttl_s: int = Field(30, ge=1, le=600)
    """`cart:lock:{userId}`, held by a checkout, expires after this many seconds (30)."""
    cart_metrics_ttl_s: int = Field(90 * 86_400, ge=86_400, le=365 * 86_400)
    """`cart:metrics:{userId}:{date}` is kept this long (90 days)."""
    cart_max_quantity: int = Field(999, ge=1, le=999)
    """Most units of one product in a cart (an order of more than 50 units is refused when
    it is placed: `order_max_items`)."""
    cart_max_items: int = Field(50, ge=1, le=100)
    """Most different products in a cart (an order takes at most 50 items)."""
