"""A cart as the scripts store it (a Redis hash), read into typed values."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

CENT = Decimal("0.01")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _time(ms: int | str | None) -> dt.datetime | None:
    return None if ms is None else dt.datetime.fromtimestamp(int(ms) / 1000, dt.UTC)


def money(cents: int) -> Decimal:
    """Exact dollars from integer cents (the scripts count in cents, never in floats)."""
    return (Decimal(cents) * CENT).quantize(CENT)


def cents(amount: Decimal) -> int:
    """Integer cents of an exact amount with at most two decimals."""
    return int((amount / CENT).to_integral_exact())


@dataclass(frozen=True, slots=True)
class CartItem:
    product_id: str
    name: str
    unit_price_cents: int
    quantity: int
    added_at: dt.datetime | None
    updated_at: dt.datetime | None

    @property
    def unit_price(self) -> Decimal:
        return money(self.unit_price_cents)

    @property
    def line_total(self) -> Decimal:
        return money(self.unit_price_cents * self.quantity)

    def to_api(self) -> dict[str, Any]:
        return {"productId": self.product_id, "name": self.name,
                "unitPrice": str(self.unit_price), "quantity": self.quantity,
                "lineTotal": str(self.line_total),
                "addedAt": self.added_at.isoformat() if self.added_at else None}


@dataclass(frozen=True, slots=True)
class Cart:
    """One user's cart; empty when it has no items (an empty cart is not stored)."""

    user_id: str
    items: tuple[CartItem, ...]
    item_count: int
    subtotal_cents: int
    created_at: dt.datetime | None
    updated_at: dt.datetime | None

    @property
    def subtotal(self) -> Decimal:
        return money(self.subtotal_cents)

    def quantity_of(self, product_id: object) -> int:
        """Units of `product_id` in the cart (0 when absent)."""
        wanted = str(product_id)
        return next((i.quantity for i in self.items if i.product_id == wanted), 0)

    def to_api(self) -> dict[str, Any]:
        return {"userId": self.user_id, "items": [i.to_api() for i in self.items],
                "itemCount": self.item_count, "uniqueItems": len(self.items),
                "subtotal": str(self.subtotal),
                "createdAt": self.created_at.isoformat() if self.created_at else None,
                "updatedAt": self.updated_at.isoformat() if self.updated_at else None}

    @classmethod
    def from_hash(cls, user_id: str, flat: Sequence[bytes | str] | dict[Any, Any]) -> Cart:
        """From HGETALL's reply (a flat list from a script, a dict from the client)."""
        if isinstance(flat, dict):
            fields = {_text(k): _text(v) for k, v in flat.items()}
        else:
            fields = {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}
        items = []
        for name, value in fields.items():
            if name.startswith("item:"):
                raw = json.loads(value)
                items.append(CartItem(
                    product_id=str(raw["productId"]), name=str(raw["name"]),
                    unit_price_cents=int(raw["unitPriceCents"]), quantity=int(raw["quantity"]),
                    added_at=_time(raw.get("addedAt")), updated_at=_time(raw.get("updatedAt"))))
        items.sort(key=lambda i: (i.added_at or dt.datetime.min.replace(tzinfo=dt.UTC),
                                  i.product_id))
        return cls(user_id=user_id, items=tuple(items),
                   item_count=int(fields.get("itemCount", 0)),
                   subtotal_cents=int(fields.get("subtotalCents", 0)),
                   created_at=_time(fields.get("createdAt")),
                   updated_at=_time(fields.get("updatedAt")))
