"""system_config: cached for a week, never stale after a write, tenant-scoped."""

from __future__ import annotations

from tests.pgkeel_apps.conftest import Api

from .conftest import ADMIN, Dealer, new_dealer


async def test_config_is_cached_and_never_stale_after_a_write(api: Api, dealer: Dealer):
    url = f"{ADMIN}/config/opening.hours"
    missing = await api.client.get(url, headers=dealer.headers)
    assert missing.status_code == 404
    put = await api.client.put(url, json={"value": {"mon": "9-17"}}, headers=dealer.headers)
    assert put.status_code == 200, put.text
    for _ in range(2):   # a fill, then a hit
        got = await api.client.get(url, headers=dealer.headers)
        assert got.json()["value"] == {"mon": "9-17"}
    await api.client.put(url, json={"value": {"mon": "8-18"}}, headers=dealer.headers)
    assert (await api.client.get(url, headers=dealer.headers)).json()["value"] == {"mon": "8-18"}
    listed = (await api.client.get(f"{ADMIN}/config", headers=dealer.headers)).json()
    assert [i["key"] for i in listed["items"]] == ["opening.hours"]
    other = await new_dealer(api)
    assert (await api.client.get(url, headers=other.headers)).status_code == 404
    bad = await api.client.put(f"{ADMIN}/config/Bad Key", json={"value": 1},
                               headers=dealer.headers)
    assert bad.status_code == 422
