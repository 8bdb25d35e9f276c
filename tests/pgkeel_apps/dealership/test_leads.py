"""Leads: the lead-score formula, the status workflow, the contact form's rate limit and
honeypot, the inbox cache, and tenancy."""

from __future__ import annotations

from typing import Any

import pytest

from pgkeel.errors import ValidationFailed
from tests.pgkeel_apps.conftest import Api, open_api

from .conftest import ADMIN, Dealer, new_dealer


async def submit(dealer: Dealer, **fields: Any) -> Any:
    body = {"name": "Ada", "email": "ada@example.com", "message": "Hi", **fields}
    return await dealer.api.client.post(f"{dealer.public}/contact", json=body,
                                        headers={"User-Agent": "pytest-browser"})


async def leads(dealer: Dealer, **params: Any) -> list[dict[str, Any]]:
    response = await dealer.api.client.get(f"{ADMIN}/leads", params=params,
                                           headers=dealer.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.parametrize(("fields", "score"), [
    ({}, 10),                                                   # website only
    ({"phone": "+358 40 123 4567"}, 30),                        # + phone
    ({"message": "x" * 200}, 20),                               # + 10 for 200 characters
    ({"message": "x" * 1000, "source": "REFERRAL"}, 40),        # message capped at 20
    ({"source": "SOCIAL"}, 5),
    ({"carSlug": "toyota-corolla-2020", "phone": "0401234567", "message": "y" * 400,
      "source": "REFERRAL"}, 85),                               # 25 + 20 + 20 + 20
])
async def test_lead_score_formula(dealer: Dealer, fields: dict[str, Any], score: int):
    await dealer.car("Toyota", "Corolla")
    response = await submit(dealer, **fields)
    assert response.status_code == 202, response.text
    [lead] = await leads(dealer)
    assert lead["leadScore"] == score
    assert lead["userAgent"] == "pytest-browser" and lead["ipAddress"]


async def test_a_repeat_visitor_scores_15_more(dealer: Dealer):
    await submit(dealer)
    await submit(dealer, email="other@example.com")
    await submit(dealer)
    scores = sorted(lead["leadScore"] for lead in await leads(dealer))
    assert scores == [10, 10, 25]


async def test_the_status_workflow_refuses_illegal_moves(api: Api, dealer: Dealer):
    await submit(dealer)
    [lead] = await leads(dealer)
    url = f"{ADMIN}/leads/{lead['id']}/status"
    for status in ("CONTACTED", "QUALIFIED", "PROPOSAL"):
        response = await api.client.patch(url, json={"status": status}, headers=dealer.headers)
        assert response.status_code == 200, response.text
    illegal = await api.client.patch(url, json={"status": "NEW"}, headers=dealer.headers)
    assert illegal.status_code == 422
    body = illegal.json()
    assert body["details"]["rule"] == "lead_status_transition"
    assert body["details"]["allowed"] == ["NEGOTIATION", "WON", "LOST"]
    await api.client.patch(url, json={"status": "WON"}, headers=dealer.headers)
    final = await api.client.patch(url, json={"status": "LOST"}, headers=dealer.headers)
    assert final.status_code == 422 and final.json()["details"]["allowed"] == []
    # The rule is the database's: bulk SQL cannot skip it either.
    with pytest.raises(ValidationFailed) as refused:
        await api.db.execute("UPDATE dealership.contact_submissions SET status = 'NEW' "
                             "WHERE id = %s", (lead["id"],))
    assert refused.value.details["constraint"] == "contact_submissions_status_transition"
    detail = await api.client.get(f"{ADMIN}/leads/{lead['id']}", headers=dealer.headers)
    kinds = [a["type"] for a in detail.json()["activities"]]
    assert kinds == ["SUBMITTED"] + ["STATUS_CHANGE"] * 4


async def test_assignment_notes_and_activities(api: Api, dealer: Dealer):
    await submit(dealer)
    [lead] = await leads(dealer)
    base = f"{ADMIN}/leads/{lead['id']}"
    staff = str(dealer.org["admin0"])
    response = await api.client.patch(f"{base}/assignee", json={"userId": staff},
                                      headers=dealer.headers)
    assert response.status_code == 200 and response.json()["assignedTo"] == staff
    stranger = await new_dealer(api)
    foreign = await api.client.patch(f"{base}/assignee", headers=dealer.headers,
                                     json={"userId": str(stranger.org["admin0"])})
    assert foreign.status_code == 404
    note = await api.client.post(f"{base}/notes", json={"body": "Called, no answer."},
                                 headers=dealer.headers)
    assert note.status_code == 201 and note.json()["authorId"] == staff
    call = await api.client.post(f"{base}/activities", headers=dealer.headers, json={
        "type": "CALL", "description": "Booked a test drive", "metadata": {"minutes": 4}})
    assert call.status_code == 201 and call.json()["metadata"] == {"minutes": 4}
    detail = (await api.client.get(base, headers=dealer.headers)).json()
    assert [n["body"] for n in detail["notes"]] == ["Called, no answer."]
    assert [a["type"] for a in detail["activities"]] == ["SUBMITTED", "ASSIGNMENT", "CALL"]
    assert (await leads(dealer, assignedTo=staff))[0]["id"] == lead["id"]
    # Another organization sees none of it.
    assert await leads(stranger) == []
    hidden = await api.client.get(base, headers=stranger.headers)
    assert hidden.status_code == 404


async def test_a_new_contact_drops_every_cached_inbox(dealer: Dealer):
    await submit(dealer)
    assert len(await leads(dealer)) == 1
    assert len(await leads(dealer, status="NEW")) == 1
    assert len(await leads(dealer, **{"leadScore[gte]": "0"})) == 1
    await submit(dealer, email="b@example.com")
    assert len(await leads(dealer)) == 2
    assert len(await leads(dealer, status="NEW")) == 2
    assert len(await leads(dealer, **{"leadScore[gte]": "0"})) == 2
    [first] = await leads(dealer, email="ada@example.com")
    await dealer.api.client.patch(f"{ADMIN}/leads/{first['id']}/status",
                                  json={"status": "CONTACTED"}, headers=dealer.headers)
    assert len(await leads(dealer, status="NEW")) == 1


async def test_the_honeypot_stores_nothing_and_bad_input_is_refused(dealer: Dealer):
    response = await submit(dealer, website="http://spam.example")
    assert response.status_code == 202
    assert await leads(dealer) == []
    for bad in ({"email": "not-an-email"}, {"message": ""}, {"phone": "call me"},
                {"carSlug": "Not A Slug"}, {"extra": 1}):
        response = await submit(dealer, **bad)
        assert response.status_code == 422, (bad, response.text)
    missing = await submit(dealer, carSlug="no-such-car-2020")
    assert missing.status_code == 404


async def age_window(limiter: Any, identifier: str, org: Any, by_ms: int) -> int:
    """Move every hit of one sliding window `by_ms` into the past (as if that much time had
    passed, without waiting it out); returns the hits moved."""
    key = limiter.key(identifier, org=org)
    hits = await limiter.redis.zrange(key, 0, -1, withscores=True)
    if hits:
        await limiter.redis.zadd(key, {member: score - by_ms for member, score in hits})
    return len(hits)


async def test_the_11th_submission_in_the_window_gets_429_and_the_limit_resets(
        pgkeel_settings, role_settings, monkeypatch):
    async with open_api(role_settings, monkeypatch, admin=pgkeel_settings,
                        CONTACT_LIMIT="10", CONTACT_WINDOW_S="60") as api:
        dealer = await new_dealer(api)
        for i in range(10):
            response = await submit(dealer, email=f"p{i}@example.com")
            assert response.status_code == 202, (i, response.text)
        refused = await submit(dealer, email="p10@example.com")
        assert refused.status_code == 429
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= 61
        # The window passes (its hits are moved a window into the past rather than waited
        # for): the limit resets.
        limits = api.app.state.dealership_contact_limits
        assert await age_window(limits.per_ip, "127.0.0.1", dealer.org["id"], 60_000) == 10
        again = await submit(dealer, email="p11@example.com")
        assert again.status_code == 202, again.text
        assert len(await leads(dealer)) == 11
