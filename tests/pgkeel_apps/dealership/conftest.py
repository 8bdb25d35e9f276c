"""Helpers for the dealership tests: a fresh dealer (organization) and cars made through the
staff API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pgkeel_apps.conftest import Api, make_org

ADMIN = "/v1/dealership"


class Dealer:
    """One organization of the test's own, with an admin's headers."""

    def __init__(self, api: Api, org: dict[str, Any], headers: dict[str, str]) -> None:
        self.api = api
        self.org = org
        self.slug: str = org["slug"]
        self.headers = headers
        self.public = f"/v1/dealers/{self.slug}"

    async def car(self, brand: str, model: str, year: int = 2020, **fields: Any
                  ) -> dict[str, Any]:
        body = {"brand": brand, "model": model, "year": year, "priceEur": "10000.00", **fields}
        response = await self.api.client.post(f"{ADMIN}/cars", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        car: dict[str, Any] = response.json()
        return car

    async def patch(self, car_id: str, **fields: Any) -> dict[str, Any]:
        response = await self.api.client.patch(f"{ADMIN}/cars/{car_id}", json=fields,
                                               headers=self.headers)
        assert response.status_code == 200, response.text
        car: dict[str, Any] = response.json()
        return car

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.api.client.get(f"{self.public}{path}", params=params)
        assert response.status_code == 200, response.text
        return response.json()


async def new_dealer(api: Api) -> Dealer:
    org = await make_org(api, admins=1, others=1)
    return Dealer(api, org, await api.as_(org["slug"], "admin0"))


@pytest.fixture
async def dealer(api: Api) -> Dealer:
    return await new_dealer(api)
