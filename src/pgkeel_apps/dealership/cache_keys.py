"""The report's cache keys and TTL tiers, and what each write invalidates.

| report key               | pgkeel key (`pgkeel:{org}:resource:id:get`) | TTL         |
|--------------------------|---------------------------------------------|-------------|
| `car:{id}`               | `car:{id}`                                   | LONG, 1 h   |
| `car:slug:{slug}`        | `car.slug:{slug}`                            | LONG, 1 h   |
| `cars:list:{filters}`    | `cars.list:{canonical query string}`         | MEDIUM, 5 m |
| `cars:brand:{brand}`     | `cars.brand:{brand}`                         | MEDIUM, 5 m |
| `cars:category:{cat}`    | `cars.category:{category}`                   | MEDIUM, 5 m |
| `cars:related:{id}`      | `cars.related:{id}`                          | MEDIUM, 5 m |
| `cars:featured`          | `cars.featured:-`                            | MEDIUM, 5 m |
| `contacts:{status}`      | `contacts:{status}`                          | SHORT, 1 m  |
| `analytics:views:{carId}`| a Redis counter (`pgkeel.cache` counters)    | DAY, 24 h   |
| analytics dashboards     | `analytics.{views,top,vitals}:{params}`      | DAY, 24 h   |
| config                   | `config:{key}`                               | WEEK, 7 d   |

The report's pattern deletes (`cars:*`, `contacts:*`) are generation tags: every list key is
stored with the tag `cars` (or `contacts`), and invalidating the tag bumps one counter, so
every key stored under the old generation is dead at once -- O(1), where KEYS or SCAN would
walk the whole keyspace (and, on a cluster, every node) while the cache is serving.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlencode
from uuid import UUID

from pgkeel.cache import TTL, Cache, CacheKey

CARS_TAG: Final = "cars"
"""On every car list (list, brand, category, related, featured): a car write drops them all."""
CONTACTS_TAG: Final = "contacts"
"""On every lead inbox list: a new contact drops them all."""
ANALYTICS_TAG: Final = "analytics"
"""On every analytics dashboard: the aggregate job drops them all when it has run."""

CAR_TTL: Final = TTL.LONG
LIST_TTL: Final = TTL.MEDIUM
CONTACTS_TTL: Final = TTL.SHORT
VIEWS_TTL: Final = TTL.DAY
ANALYTICS_TTL: Final = TTL.DAY
CONFIG_TTL: Final = TTL.WEEK


def car(cache: Cache, car_id: UUID | str) -> CacheKey:
    return cache.key("car", car_id)


def car_slug(cache: Cache, slug: str) -> CacheKey:
    return cache.key("car.slug", slug)


def car_list(cache: Cache, params: list[tuple[str, str]]) -> CacheKey:
    """`cars:brand:{brand}` or `cars:category:{category}` when the request is exactly that
    one filter, else `cars:list:{filters}` (the sorted query string: the same request in any
    parameter order is one key)."""
    if len(params) == 1 and params[0][0] in ("brand", "category"):
        name, value = params[0]
        return cache.key(f"cars.{name}", value)
    return cache.key("cars.list", urlencode(params))


def related(cache: Cache, car_id: UUID | str) -> CacheKey:
    return cache.key("cars.related", car_id)


def featured(cache: Cache) -> CacheKey:
    return cache.key("cars.featured", None)


def contacts(cache: Cache, status: str) -> CacheKey:
    return cache.key("contacts", status)


def contacts_list(cache: Cache, params: list[tuple[str, str]]) -> CacheKey:
    """An inbox page filtered by more than the status (same tag and TTL as `contacts:*`)."""
    return cache.key("contacts.list", urlencode(params))


def config(cache: Cache, name: str) -> CacheKey:
    return cache.key("config", name)


def analytics(cache: Cache, dashboard: str, *params: int) -> CacheKey:
    """One analytics dashboard (`views`, `top`, `vitals`) for its parameters."""
    return cache.key(f"analytics.{dashboard}", "-".join(map(str, params)))
