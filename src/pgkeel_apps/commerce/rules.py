"""The commerce rules the database enforces, and how a broken one reaches the client: a 422
`rule_violation` whose `details.rule` names it (never the database's own message)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from pgkeel.errors import Conflict, ReferenceNotFound, RuleViolation, ValidationFailed
from pgkeel.repo import Table

RULES: Final[dict[str, tuple[str, str]]] = {
    # rule (the constraint the database raises) -> (message, hint)
    "order_min_amount": ("An order totals at least 10.00.", "Add items to the order."),
    "order_max_amount": ("An order totals at most 10000.00.", "Split the order."),
    "order_max_items": ("An order holds at most 50 items.", "Split the order."),
    "order_max_pending": ("A customer has at most 5 pending orders.",
                          "Pay for or cancel a pending order first."),
    "order_timeout": ("An order expires 30 minutes after it is placed.", "Place it again."),
    "order_status_transition": ("The order cannot change to that status now.",
                                "Read the order's status first."),
    "cart_empty": ("The cart is empty: there is nothing to order.",
                   "Add products to the cart, or send the order's items."),
    "insufficient_stock": ("Not enough stock for a product of the order.",
                           "Order fewer units, or try again later."),
    "inventory_product_key": ("That product has no stock record.",
                              "An administrator creates its inventory first."),
    "reservation_limit": ("At most 5 active reservations per customer per product.",
                          "Wait for one to expire or be used."),
    "inventory_available_nonnegative": ("Stock cannot go below zero.",
                                        "Adjust by at most the available quantity."),
    "payment_status_transition": ("The payment cannot make that change in its current status.",
                                  "Read the payment's status first."),
    "payment_capture_within_authorized": ("A capture is for at most the authorized amount.",
                                          "Capture less."),
    "refund_exceeds_captured": ("Refunds cannot exceed the captured amount.",
                                "Refund at most what is left."),
    "dispute_exceeds_captured": ("A dispute is for at most the captured amount less refunds.",
                                 "Dispute less."),
    "payment_method_token": ("That payment token is not known to the payment provider.",
                             "Tokenize the card with the provider first."),
    "payments_one_live_per_order": ("The order already has a payment in progress.",
                                    "Use the existing payment, or wait for it to fail."),
    "payment_disputes_open_key": ("The payment already has an open dispute.",
                                  "Resolve the open dispute first."),
}


def violation(rule: str, **details: object) -> RuleViolation:
    """The 422 for `rule` (one of RULES)."""
    message, hint = RULES[rule]
    return RuleViolation(message, details={"rule": rule, **details}, hint=hint)


@contextmanager
def named_rules() -> Iterator[None]:
    """Turn a database error raised for one of RULES into its `RuleViolation`; anything
    else passes through unchanged."""
    try:
        yield
    except (ValidationFailed, ReferenceNotFound, Conflict) as exc:
        rule = exc.details.get("constraint")
        if isinstance(rule, str) and rule in RULES:
            raise violation(rule) from exc
        raise


def with_related(table: Table, row: Mapping[str, Any],
                 related: Mapping[str, Table]) -> dict[str, Any]:
    """`row` in API form, with each related list present in it (items, history, ...) in its
    own table's API form."""
    body = table.to_api(row)
    for name, of in related.items():
        if name in row:
            body[name] = [of.to_api(r) for r in row[name]]
    return body
