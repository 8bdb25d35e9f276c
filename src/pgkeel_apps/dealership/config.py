"""`system_config`: the organization's key -> JSON settings, cached for a week (`config:{key}`)
and invalidated when written."""

from __future__ import annotations

from typing import Annotated, Any, LiteralString

import orjson
from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import Field

from pgkeel import audit
from pgkeel.cache import Cache
from pgkeel.db import Database, Transaction, current_context
from pgkeel.errors import NotFound
from pgkeel.web import ApiModel, DirectRoute, OrjsonResponse
from pgkeel_apps.dealership import cache_keys as keys
from pgkeel_apps.permissions import Reader, Writer

GET: LiteralString = (
    "SELECT value FROM dealership.system_config WHERE organization_id = %s AND key = %s")
ALL: LiteralString = """
SELECT key, value, updated_at FROM dealership.system_config WHERE organization_id = %s
ORDER BY key LIMIT 1000
"""
PUT: LiteralString = """
INSERT INTO dealership.system_config (organization_id, key, value, updated_by)
VALUES (%s, %s, %s::jsonb, %s)
ON CONFLICT (organization_id, key)
DO UPDATE SET value = EXCLUDED.value, updated_by = EXCLUDED.updated_by, updated_at = now()
RETURNING key, value, updated_at
"""
KEY = r"^[a-z][a-z0-9_.-]{0,99}$"
Key = Annotated[str, Path(pattern=KEY, max_length=100, examples=["site.name"])]


class ConfigService:
    def __init__(self, db: Database, cache: Cache) -> None:
        self.db = db
        self.cache = cache

    async def get(self, key: str) -> Any:
        """The value (cached for 7 days; "not set" for 5 minutes); 404 when not set."""
        async def load() -> dict[str, Any] | None:
            row = await self.db.fetch_one(GET, (current_context().org_id, key), readonly=True)
            return None if row is None else {"value": row["value"]}
        found = await self.cache.get_or_set(keys.config(self.cache, key), load,
                                            ttl=keys.CONFIG_TTL, negative_ttl=keys.LIST_TTL)
        if found is None:
            raise NotFound("No configuration with that key.",
                           details={"resource": "config", "key": key})
        return found["value"]

    async def all(self) -> list[dict[str, Any]]:
        rows = await self.db.fetch_all(ALL, (current_context().org_id,), readonly=True)
        return [{"key": r["key"], "value": r["value"], "updatedAt": r["updated_at"]}
                for r in rows]

    async def put(self, key: str, value: Any) -> dict[str, Any]:
        """Set a value (audited `config.update`); the cached one is dropped after commit."""
        async def work(tx: Transaction) -> dict[str, Any]:
            old = await tx.fetch_one(GET, (tx.context.org_id, key))
            row = await tx.fetch_one(PUT, (tx.context.org_id, key,
                                           orjson.dumps(value).decode(), tx.context.actor_id))
            assert row is not None
            await audit.record(tx, action="config.update", entity_type="SystemConfig",
                               entity_id=key, old=old, new={"value": value})
            self.cache.invalidate_on_commit(tx, keys.config(self.cache, key))
            return {"key": row["key"], "value": row["value"], "updatedAt": row["updated_at"]}
        return await self.db.run_in_tx(work)


class ConfigIn(ApiModel):
    value: dict[str, Any] | list[Any] | str | int | float | bool = Field(
        description="Any JSON value.")


router = APIRouter(tags=["dealership"], route_class=DirectRoute)
PATH = "/v1/dealership/config"


async def config_service(request: Request) -> ConfigService:
    service: ConfigService = request.app.state.dealership_config
    return service


Service = Annotated[ConfigService, Depends(config_service)]


@router.get(PATH, summary="Every configuration key of the organization")
async def list_config(_: Reader, service: Service) -> Response:
    return OrjsonResponse({"items": await service.all()})


@router.get(f"{PATH}/{{key}}", summary="One configuration value (cached 7 days)")
async def get_config(key: Key, _: Reader,
                     service: Service) -> Response:
    return OrjsonResponse({"key": key, "value": await service.get(key)})


@router.put(f"{PATH}/{{key}}", summary="Set a configuration value (audited)")
async def put_config(key: Key, body: ConfigIn, _: Writer,
                     service: Service) -> Response:
    return OrjsonResponse(await service.put(key, body.value))
