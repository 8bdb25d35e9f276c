"""Newsletter: double opt-in and unsubscribe tokens, each usable once."""

from __future__ import annotations

from tests.pgkeel_apps.conftest import Api

from .conftest import Dealer

TOKENS = """
SELECT payload FROM outbox.events WHERE event_type = 'dealership.newsletter_tokens'
  AND payload->>'email' = %s ORDER BY seq DESC LIMIT 1
"""


async def test_double_opt_in_and_unsubscribe(api: Api, dealer: Dealer):
    url = f"{dealer.public}/newsletter"
    email = f"reader@{dealer.slug}.example"
    assert (await api.client.post(url, json={"email": email})).status_code == 202
    tokens = (await api.db.fetch_one(TOKENS, (email,)))["payload"]
    status = "SELECT status FROM dealership.newsletter_subscribers WHERE email = %s"
    assert await api.db.fetch_val(status, (email,)) == "PENDING"
    confirm = await api.client.post(f"{url}/confirm", json={"token": tokens["confirmToken"]})
    assert confirm.status_code == 204
    assert await api.db.fetch_val(status, (email,)) == "SUBSCRIBED"
    again = await api.client.post(f"{url}/confirm", json={"token": tokens["confirmToken"]})
    assert again.status_code == 400
    forged = await api.client.post(f"{url}/unsubscribe", json={"token": "pgk_" + "B" * 43})
    assert forged.status_code == 400
    leave = await api.client.post(f"{url}/unsubscribe",
                                  json={"token": tokens["unsubscribeToken"]})
    assert leave.status_code == 204
    assert await api.db.fetch_val(status, (email,)) == "UNSUBSCRIBED"
