"""Cars: the public catalogue (cached lists, search, pages by slug, related and featured cars)
and the staff's car CRUD with images, features and specifications -- audited, tenant-scoped,
and every write invalidating what it makes stale once it commits."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, LiteralString
from uuid import UUID

from pgkeel import audit
from pgkeel.cache import Cache
from pgkeel.db import Database, Transaction, current_context
from pgkeel.errors import NotFound, VersionConflict
from pgkeel.repo import CursorCodec, Filter, ListQuery, Op, Page, Repository
from pgkeel_apps.dealership import cache_keys as keys
from pgkeel_apps.dealership.search import TIERS, SearchSql, parse_terms
from pgkeel_apps.dealership.tables import CARS, MATCH, PUBLIC_STATUSES

ENTITY: Final = "Car"
RELATED_LIMIT: Final = 6
FEATURED_LIMIT: Final = 12
PUBLIC_OMIT: Final = frozenset({"organizationId", "deletedAt", "version"})

PRIMARY_IMAGES: LiteralString = """
SELECT car_id, url, alt_text FROM dealership.car_images
WHERE organization_id = %s AND car_id = ANY(%s) AND is_primary
"""
IMAGES: LiteralString = """
SELECT id, url, alt_text, sort_order, is_primary FROM dealership.car_images
WHERE organization_id = %s AND car_id = %s ORDER BY sort_order, id
"""
FEATURES: LiteralString = """
SELECT feature FROM dealership.car_features
WHERE organization_id = %s AND car_id = %s ORDER BY sort_order, id
"""
SPECIFICATIONS: LiteralString = """
SELECT label, value FROM dealership.car_specifications
WHERE organization_id = %s AND car_id = %s ORDER BY sort_order, id
"""
CAR_BY_SLUG: LiteralString = """
SELECT id FROM dealership.cars
WHERE organization_id = %s AND slug = %s AND deleted_at IS NULL AND status <> 'DRAFT'
"""
RELATED: LiteralString = """
SELECT r.id FROM dealership.cars AS c
JOIN dealership.cars AS r
  ON r.organization_id = c.organization_id AND r.id <> c.id AND r.deleted_at IS NULL
 AND r.status = ANY(%(statuses)s) AND (r.category = c.category OR r.brand = c.brand)
WHERE c.organization_id = %(org)s AND c.id = %(id)s
ORDER BY (r.brand = c.brand AND r.category = c.category) DESC, abs(r.price_eur - c.price_eur),
         r.id
LIMIT %(limit)s
"""
FEATURED: LiteralString = """
SELECT id FROM dealership.cars
WHERE organization_id = %s AND is_featured AND deleted_at IS NULL AND status = ANY(%s)
ORDER BY created_at DESC, id LIMIT %s
"""
TOUCH: LiteralString = """
UPDATE dealership.cars SET version = version + 1, updated_at = now()
WHERE organization_id = %s AND id = %s AND deleted_at IS NULL
  AND (%s::integer IS NULL OR version = %s)
RETURNING id
"""
SLUG_LOCK: LiteralString = (
    "SELECT pg_advisory_xact_lock(hashtextextended('pgkeel_apps.dealership.slug:' || %s, 0))")
TAKEN_SLUGS: LiteralString = """
SELECT slug FROM dealership.cars
WHERE organization_id = %s AND (slug = %s OR slug LIKE %s)
"""
DELETE_CHILDREN: Final[Mapping[str, LiteralString]] = {
    "images": "DELETE FROM dealership.car_images WHERE organization_id = %s AND car_id = %s",
    "features": "DELETE FROM dealership.car_features WHERE organization_id = %s AND car_id = %s",
    "specifications": ("DELETE FROM dealership.car_specifications "
                       "WHERE organization_id = %s AND car_id = %s"),
}
INSERT_IMAGES: LiteralString = """
INSERT INTO dealership.car_images (organization_id, car_id, url, alt_text, sort_order, is_primary)
SELECT %s, %s, u.url, u.alt, u.ord, u.ord = %s
FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS u(url, alt, ord)
"""
INSERT_FEATURES: LiteralString = """
INSERT INTO dealership.car_features (organization_id, car_id, feature, sort_order)
SELECT %s, %s, u.feature, u.ord FROM unnest(%s::text[]) WITH ORDINALITY AS u(feature, ord)
"""
INSERT_SPECIFICATIONS: LiteralString = """
INSERT INTO dealership.car_specifications (organization_id, car_id, label, value, sort_order)
SELECT %s, %s, u.label, u.value, u.ord
FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS u(label, value, ord)
"""


def slugify(*parts: object) -> str:
    """`Škoda Octavia 2021` -> `skoda-octavia-2021`: ASCII letters and digits joined by
    single hyphens, at most 100 characters."""
    text = unicodedata.normalize("NFKD", " ".join(str(p) for p in parts))
    ascii_text = text.encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:100].strip("-")
    return slug or "car"


def next_slug(base: str, taken: set[str]) -> str:
    """`base`, or `base-2`, `base-3`, ... : the first one not taken."""
    if base not in taken:
        return base
    suffixes = [int(s[len(base) + 1:]) for s in taken
                if s.startswith(base + "-") and s[len(base) + 1:].isdigit()]
    return f"{base}-{max([1, *suffixes]) + 1}"


def car_json(row: Mapping[str, Any], *, public: bool = True) -> dict[str, Any]:
    """A car as the API shows it (JSON-native: prices are decimal strings)."""
    out = CARS.to_api(row)
    if isinstance(out.get("priceEur"), Decimal):
        out["priceEur"] = str(out["priceEur"])
    for name, value in list(out.items()):
        if isinstance(value, UUID):
            out[name] = str(value)
        elif hasattr(value, "isoformat"):
            out[name] = value.isoformat()
    if public:
        for name in PUBLIC_OMIT:
            out.pop(name, None)
    return out


class CarService:
    """The organization's cars (the organization comes from the request context)."""

    def __init__(self, db: Database, cache: Cache, search: SearchSql, *,
                 cursor_codec: CursorCodec | None = None) -> None:
        self.db = db
        self.cache = cache
        self.search_sql = search
        self.cars: Repository[dict[str, Any]] = Repository(db, CARS, name="car",
                                                           cursor_codec=cursor_codec)

    @staticmethod
    def org() -> Any:
        return current_context().org_id

    # -- public reads ------------------------------------------------------------------------

    async def public_list(self, query: ListQuery, params: list[tuple[str, str]]
                          ) -> dict[str, Any]:
        """A page of the public catalogue (never drafts, sold or deleted cars), cached for
        5 minutes under the report's list keys. `q` forgives typos: it matches what search
        matches (exact, prefix or fuzzy), in the list's sort order."""
        filters = [*query.filters, Filter(CARS.field("status"), Op.IN, list(PUBLIC_STATUSES))]
        if query.search:
            words = " ".join(parse_terms(query.search).words)   # 400 for a q of no words
            filters.append(Filter(None, Op.EQ, words, custom=MATCH))

        async def load() -> dict[str, Any]:
            page = await self.cars.list(ListQuery(
                filters=filters, search=None, sort=query.sort,
                page=query.page, page_size=query.page_size, cursor=query.cursor,
                limit=query.limit, count=query.count))
            return page.envelope(await self._summaries(page.items))
        result: dict[str, Any] = await self.cache.get_or_set(
            keys.car_list(self.cache, params), load, ttl=keys.LIST_TTL, tags=[keys.CARS_TAG])
        return result

    async def search(self, q: str, limit: int) -> dict[str, Any]:
        """Ranked, typo-forgiving search (see `pgkeel_apps.dealership.search`); not cached:
        the free text makes the key space unbounded."""
        terms = parse_terms(q)
        statement = self.search_sql.statement(len(terms.fuzzy))
        rows = await self.db.fetch_all(statement, SearchSql.params(
            terms, self.org(), list(PUBLIC_STATUSES), limit), readonly=True)
        items = await self._summaries(rows)
        for item, row in zip(items, rows, strict=True):
            item["match"] = TIERS[row["match_tier"]]
        return {"items": items, "q": q, "words": list(terms.words)}

    async def by_slug(self, slug: str) -> dict[str, Any]:
        """The car page: the car, its images, features and specifications (1 hour)."""
        async def load() -> dict[str, Any] | None:
            car_id = await self.db.fetch_val(CAR_BY_SLUG, (self.org(), slug), readonly=True)
            return None if car_id is None else await self._page(car_id)
        page = await self.cache.get_or_set(keys.car_slug(self.cache, slug), load,
                                           ttl=keys.CAR_TTL, negative_ttl=keys.LIST_TTL)
        if page is None:
            raise NotFound("No car with that slug.", details={"resource": "car", "slug": slug})
        return dict(page)

    async def related(self, slug: str) -> list[dict[str, Any]]:
        car = await self.by_slug(slug)

        async def load() -> list[dict[str, Any]]:
            rows = await self.db.fetch_all(RELATED, {
                "org": self.org(), "id": car["id"], "statuses": list(PUBLIC_STATUSES),
                "limit": RELATED_LIMIT}, readonly=True)
            return await self._by_ids([r["id"] for r in rows])
        result: list[dict[str, Any]] = await self.cache.get_or_set(
            keys.related(self.cache, car["id"]), load, ttl=keys.LIST_TTL, tags=[keys.CARS_TAG])
        return result

    async def featured(self) -> list[dict[str, Any]]:
        async def load() -> list[dict[str, Any]]:
            rows = await self.db.fetch_all(FEATURED, (self.org(), list(PUBLIC_STATUSES),
                                                      FEATURED_LIMIT), readonly=True)
            return await self._by_ids([r["id"] for r in rows])
        result: list[dict[str, Any]] = await self.cache.get_or_set(
            keys.featured(self.cache), load, ttl=keys.LIST_TTL, tags=[keys.CARS_TAG])
        return result

    # -- staff reads -------------------------------------------------------------------------

    async def admin_list(self, query: ListQuery) -> Page[dict[str, Any]]:
        return await self.cars.list(query)

    async def admin_get(self, car_id: UUID) -> dict[str, Any]:
        """One car with its images, features and specifications, cached as `car:{id}`."""
        async def load() -> dict[str, Any]:
            await self.cars.get(car_id)
            return await self._page(car_id, public=False)
        result: dict[str, Any] = await self.cache.get_or_set(
            keys.car(self.cache, car_id), load, ttl=keys.CAR_TTL)
        return result

    # -- writes ------------------------------------------------------------------------------

    async def create(self, values: Mapping[str, Any], children: Mapping[str, Any]
                     ) -> dict[str, Any]:
        """A new car with a unique slug from brand, model and year (`-2`, `-3`, ... on
        collision), audited as `cars.create`."""
        async def work(tx: Transaction) -> dict[str, Any]:
            org = tx.context.org_id
            base = slugify(values["brand"], values["model"], values["year"])
            await tx.execute(SLUG_LOCK, (f"{org}:{base}",))
            taken = {r["slug"] for r in await tx.fetch_all(
                TAKEN_SLUGS, (org, base, base.replace("_", r"\_") + "-%"))}
            row = await self.cars.create({**values, "slug": next_slug(base, taken)}, tx=tx)
            await self._replace_children(tx, row["id"], children)
            await audit.record(tx, action="cars.create", entity_type=ENTITY,
                               entity_id=row["id"], new=_audited(row))
            self._invalidate(tx, row)
            return row
        return await self.db.run_in_tx(work)

    async def update(self, car_id: UUID, changes: Mapping[str, Any],
                     children: Mapping[str, Any], version: int | None) -> dict[str, Any]:
        """Change a car (optimistic lock with `version`); images, features and
        specifications given are replaced as a whole. Audited as `cars.update`."""
        async def work(tx: Transaction) -> dict[str, Any]:
            old = await self.cars.get(car_id, tx=tx)
            if changes:
                row = await self.cars.update(car_id, changes, expected_version=version, tx=tx)
            else:   # only images, features or specifications: still a new version
                touched = await tx.fetch_one(TOUCH, (tx.context.org_id, car_id, version,
                                                     version))
                if touched is None:
                    raise VersionConflict("The car was changed since you read it.",
                                          details={"resource": "car", "id": str(car_id)},
                                          hint="Read it again and retry with its version.")
                row = await self.cars.get(car_id, tx=tx)
            await self._replace_children(tx, car_id, children)
            await audit.record(tx, action="cars.update", entity_type=ENTITY, entity_id=car_id,
                               old=_audited(old), new=_audited(row),
                               metadata={"replaced": sorted(children)} if children else None)
            self._invalidate(tx, row)
            return row
        return await self.db.run_in_tx(work)

    async def delete(self, car_id: UUID) -> None:
        """Soft delete (the row stays, hidden everywhere; its slug stays taken)."""
        async def work(tx: Transaction) -> None:
            old = await self.cars.get(car_id, tx=tx)
            await self.cars.soft_delete(car_id, tx=tx)
            await audit.record(tx, action="cars.delete", entity_type=ENTITY, entity_id=car_id,
                               old=_audited(old))
            self._invalidate(tx, old)
        await self.db.run_in_tx(work)

    def _invalidate(self, tx: Transaction, row: Mapping[str, Any]) -> None:
        """A car write drops that car (by id and by slug) and every car list."""
        self.cache.invalidate_on_commit(tx, keys.car(self.cache, row["id"]),
                                        keys.car_slug(self.cache, row["slug"]), keys.CARS_TAG)

    async def _replace_children(self, tx: Transaction, car_id: UUID,
                                children: Mapping[str, Any]) -> None:
        org = tx.context.org_id
        for name in ("images", "features", "specifications"):
            items = children.get(name)
            if items is None:
                continue
            await tx.execute(DELETE_CHILDREN[name], (org, car_id))
            if not items:
                continue
            if name == "images":
                primary = next((i + 1 for i, im in enumerate(items) if im["is_primary"]), 1)
                await tx.execute(INSERT_IMAGES, (org, car_id, primary,
                                                 [im["url"] for im in items],
                                                 [im["alt_text"] for im in items]))
            elif name == "features":
                await tx.execute(INSERT_FEATURES, (org, car_id, list(items)))
            else:
                await tx.execute(INSERT_SPECIFICATIONS, (org, car_id,
                                                         [s["label"] for s in items],
                                                         [s["value"] for s in items]))

    # -- shaping -----------------------------------------------------------------------------

    async def _summaries(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Cars for a list: each with its primary image only (one query for the page)."""
        ids = [r["id"] for r in rows]
        images = {r["car_id"]: {"url": r["url"], "altText": r["alt_text"]}
                  for r in await self.db.fetch_all(PRIMARY_IMAGES, (self.org(), ids),
                                                   readonly=True)} if ids else {}
        return [{**car_json(r), "primaryImage": images.get(r["id"])} for r in rows]

    async def _by_ids(self, ids: list[Any]) -> list[dict[str, Any]]:
        if not ids:
            return []
        rows = {r["id"]: r for r in await self.cars.get_many(ids)}
        return await self._summaries([rows[i] for i in ids if i in rows])

    async def _page(self, car_id: Any, *, public: bool = True) -> dict[str, Any]:
        org = self.org()
        async with self.db.transaction(readonly=True) as tx:
            car = await self.cars.get(car_id, tx=tx)
            images = await tx.fetch_all(IMAGES, (org, car_id))
            features = await tx.fetch_all(FEATURES, (org, car_id))
            specs = await tx.fetch_all(SPECIFICATIONS, (org, car_id))
        return {**car_json(car, public=public),
                "images": [{"id": str(i["id"]), "url": i["url"], "altText": i["alt_text"],
                            "sortOrder": i["sort_order"], "isPrimary": i["is_primary"]}
                           for i in images],
                "features": [f["feature"] for f in features],
                "specifications": [{"label": s["label"], "value": s["value"]} for s in specs]}


def _audited(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in car_json(row, public=False).items()
            if k not in ("viewCount", "createdAt", "updatedAt")}
