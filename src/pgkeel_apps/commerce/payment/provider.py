"""The payment provider interface, and the deterministic provider the service uses: there is
no real payment network here. A real adapter implements `PaymentProvider` the same way."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

Outcome = Literal["approved", "declined", "timeout"]


@dataclass(frozen=True, slots=True)
class Card:
    """What a token stands for: never a card number, only what may be shown."""

    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True, slots=True)
class ProviderResult:
    outcome: Outcome
    reference: str | None = None
    failure_code: str | None = None


class PaymentProvider(Protocol):
    """A payment network. Every call carries an idempotency key: the provider performs a
    repeated call once and answers it with the first result."""

    name: str

    def card(self, token: str) -> Card | None:
        """The card a token stands for (None: not a token of this provider)."""
        ...

    async def authorize(self, token: str, amount: Decimal, currency: str, *,
                        idempotency_key: str) -> ProviderResult: ...

    async def capture(self, reference: str, amount: Decimal, *,
                      idempotency_key: str) -> ProviderResult: ...

    async def refund(self, reference: str, amount: Decimal, *,
                     idempotency_key: str) -> ProviderResult: ...


TEST_CARDS: dict[str, Card] = {
    "tok_visa": Card("visa", "4242", 12, 2034),
    "tok_mastercard": Card("mastercard", "4444", 6, 2033),
    "tok_decline": Card("visa", "0002", 12, 2034),
    "tok_insufficient_funds": Card("visa", "9995", 12, 2034),
    "tok_timeout": Card("visa", "0119", 12, 2034),
}
"""The test provider's tokens: `tok_decline` and `tok_insufficient_funds` are declined,
`tok_timeout` never answers in time, the others are approved."""


class TestPaymentProvider:
    """Deterministic: the token decides the outcome, references derive from the idempotency
    key (the same call twice gives the same reference)."""

    __test__ = False  # not a pytest class
    name = "test"

    def card(self, token: str) -> Card | None:
        return TEST_CARDS.get(token)

    @staticmethod
    def _reference(kind: str, key: str) -> str:
        return f"{kind}_{hashlib.sha256(key.encode()).hexdigest()[:24]}"

    async def authorize(self, token: str, amount: Decimal, currency: str, *,
                        idempotency_key: str) -> ProviderResult:
        if token == "tok_timeout":  # noqa: S105 -- a test token, not a secret
            return ProviderResult("timeout", failure_code="provider_timeout")
        if token in ("tok_decline", "tok_insufficient_funds"):
            insufficient = token == "tok_insufficient_funds"  # noqa: S105 -- a test token
            code = "insufficient_funds" if insufficient else "card_declined"
            return ProviderResult("declined", self._reference("auth", idempotency_key), code)
        return ProviderResult("approved", self._reference("auth", idempotency_key))

    async def capture(self, reference: str, amount: Decimal, *,
                      idempotency_key: str) -> ProviderResult:
        return ProviderResult("approved", self._reference("cap", idempotency_key))

    async def refund(self, reference: str, amount: Decimal, *,
                     idempotency_key: str) -> ProviderResult:
        return ProviderResult("approved", self._reference("ref", idempotency_key))
