"""The catalog: products, categories, reviews and images -- audited, tenant-scoped, with the
product detail cached and invalidated after commit."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, LiteralString
from uuid import UUID

from psycopg.types.json import Jsonb

from pgkeel import audit
from pgkeel.cache import TTL, Cache, CacheKey
from pgkeel.db import Database, Transaction, current_context
from pgkeel.errors import NotFound, RuleViolation
from pgkeel.repo import CursorCodec, ListQuery, Page, Repository
from pgkeel_apps.commerce.product.tables import CATEGORIES, IMAGES, PRODUCTS, REVIEWS

DETAILS: LiteralString = "SELECT product.get_product_details(%s)"
INVENTORY_INSTALLED: LiteralString = (
    "SELECT to_regprocedure('inventory.adjust_inventory(uuid, uuid, integer, text, text)')"
    " IS NOT NULL")
LOCK_STOCK: LiteralString = """
SELECT available_quantity FROM inventory.inventory
WHERE organization_id = %s AND product_id = %s FOR UPDATE
"""
ADJUST_STOCK: LiteralString = """
SELECT count(*) FROM inventory.adjust_inventory(%s, %s, %s, 'stock set in the catalog')
"""
STOCK_NEW_PRODUCT: LiteralString = """
SELECT count(*) FROM inventory.adjust_inventory(%s, %s, %s,
    'stock given when the product was created', 'restock')
"""
SEARCH: LiteralString = """
SELECT id, sku, name, price, category_id, stock_quantity, tags, average_rating, rank
FROM product.search_products(%s, %s, %s, %s, %s, %s, %s)
"""
CATEGORY_TREE: LiteralString = """
SELECT id, parent_id, name, slug, description, sort_order, is_active
FROM product.categories WHERE organization_id = %s ORDER BY sort_order, name, id
"""
ANCESTORS: LiteralString = (
    "SELECT id, parent_id, name, slug, depth FROM product.category_ancestors(%s)")
DESCENDANTS: LiteralString = (
    "SELECT id, parent_id, name, slug, depth FROM product.category_descendants(%s)")
UNSET_PRIMARY: LiteralString = """
UPDATE product.product_images SET is_primary = false
WHERE organization_id = %s AND product_id = %s AND is_primary AND id <> %s
"""
NEXT_IMAGE: LiteralString = """
SELECT id FROM product.product_images WHERE organization_id = %s AND product_id = %s
ORDER BY sort_order, created_at, id LIMIT 1
"""
HAS_IMAGES: LiteralString = """
SELECT EXISTS (SELECT 1 FROM product.product_images WHERE organization_id = %s AND product_id = %s)
"""

PRODUCT_DETAILS = "product-details"
"""Cache tag on every product detail of an organization: a category rename or move reaches
every product page that shows the category path, in one generation bump."""


def _jsonb(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with the metadata document wrapped for its jsonb column."""
    out = dict(values)
    if isinstance(out.get("metadata"), dict):
        out["metadata"] = Jsonb(out["metadata"])
    return out


def _audited(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, (UUID, Decimal)) else v) for k, v in row.items()
            if k not in ("organization_id", "created_at", "updated_at")}


class CatalogService:
    """The product service's reads and writes for the current organization."""

    def __init__(self, db: Database, cache: Cache, *,
                 cursor_codec: CursorCodec | None = None) -> None:
        self.db = db
        self.cache = cache
        self.products: Repository[dict[str, Any]] = Repository(db, PRODUCTS, name="product",
                                                               cursor_codec=cursor_codec)
        self.categories: Repository[dict[str, Any]] = Repository(
            db, CATEGORIES, name="category", cursor_codec=cursor_codec)
        self.reviews: Repository[dict[str, Any]] = Repository(db, REVIEWS, name="review",
                                                              cursor_codec=cursor_codec)
        self.images: Repository[dict[str, Any]] = Repository(db, IMAGES, name="image",
                                                             cursor_codec=cursor_codec)

    # -- products ------------------------------------------------------------------------------

    def details_key(self, product_id: UUID) -> CacheKey:
        """`product:{id}:details`, within the organization."""
        return self.cache.key("product", product_id, "details")

    async def list_products(self, query: ListQuery) -> Page[dict[str, Any]]:
        return await self.products.list(query)

    async def search(self, text: str, *, category_id: UUID | None = None,
                     min_price: Decimal | None = None, max_price: Decimal | None = None,
                     in_stock: bool = False, limit: int = 20,
                     offset: int = 0) -> list[dict[str, Any]]:
        """Ranked search (search_products()): full-text matches first, then trigram matches
        on the name."""
        return await self.db.fetch_all(SEARCH, (text, category_id, min_price, max_price,
                                                in_stock, limit, offset), readonly=True)

    async def product_details(self, product_id: UUID) -> dict[str, Any]:
        """get_product_details(), cached for 5 minutes; 404 for an unknown product."""
        async def load() -> dict[str, Any] | None:
            async with self.db.transaction(readonly=True) as tx:
                found: dict[str, Any] | None = await tx.fetch_val(DETAILS, (product_id,))
            return found
        details: dict[str, Any] | None = await self.cache.get_or_set(
            self.details_key(product_id), load, ttl=TTL.MEDIUM, tags=[PRODUCT_DETAILS])
        if details is None:
            raise NotFound("No product with that id.", details={"resource": "product",
                                                                "id": str(product_id)})
        return details

    async def create_product(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Add a product; with the inventory service installed, its stock record is created
        in the same transaction, holding `stock_quantity` units (orders reserve from it)."""
        async def work(tx: Transaction) -> dict[str, Any]:
            row = await self.products.create(_jsonb(values), tx=tx)
            if await tx.fetch_val(INVENTORY_INSTALLED):
                await tx.fetch_val(STOCK_NEW_PRODUCT, (row["organization_id"], row["id"],
                                                       row["stock_quantity"]))
            await audit.record(tx, action="PRODUCT_CREATED", entity_type="Product",
                               entity_id=row["id"], new=_audited(row))
            self.cache.invalidate_on_commit(tx, self.details_key(row["id"]))
            return row
        return await self.db.run_in_tx(work)

    async def update_product(self, product_id: UUID, changes: Mapping[str, Any], *,
                             expected_version: int | None = None) -> dict[str, Any]:
        """Change a product (409 when `expected_version` is stale); its cached detail is
        invalidated after commit. A new `stock_quantity` sets the available units of its
        inventory record too, which orders reserve from."""
        async def work(tx: Transaction) -> dict[str, Any]:
            old = await self.products.get(product_id, tx=tx)
            row = await self.products.update(product_id, _jsonb(changes),
                                             expected_version=expected_version, tx=tx)
            if "stock_quantity" in changes and await tx.fetch_val(INVENTORY_INSTALLED):
                await self._set_stock(tx, row)
            await audit.record(tx, action="PRODUCT_UPDATED", entity_type="Product",
                               entity_id=product_id, old=_audited(old), new=_audited(row))
            self.cache.invalidate_on_commit(tx, self.details_key(product_id))
            return row
        return await self.db.run_in_tx(work)

    @staticmethod
    async def _set_stock(tx: Transaction, row: Mapping[str, Any]) -> None:
        """The stock orders reserve from follows a new stock_quantity: its available units
        become that number (an adjustment, with its movement; reserved units stay held)."""
        key = (row["organization_id"], row["id"])
        available = await tx.fetch_val(LOCK_STOCK, key)
        change = row["stock_quantity"] - (0 if available is None else available)
        await tx.fetch_val(ADJUST_STOCK, (*key, change))

    async def delete_product(self, product_id: UUID) -> None:
        """Retire a product (isActive=false): orders keep pointing at it."""
        await self.update_product(product_id, {"is_active": False})

    # -- categories ----------------------------------------------------------------------------

    async def category_tree(self) -> list[dict[str, Any]]:
        """Every category of the organization, nested under its parent."""
        org = current_context().org_id
        rows = await self.db.fetch_all(CATEGORY_TREE, (org,), readonly=True)
        nodes = {r["id"]: {**CATEGORIES.to_api(r), "children": []} for r in rows}
        roots: list[dict[str, Any]] = []
        for r in rows:
            parent = nodes.get(r["parent_id"]) if r["parent_id"] else None
            (parent["children"] if parent else roots).append(nodes[r["id"]])
        return roots

    async def ancestors(self, category_id: UUID) -> list[dict[str, Any]]:
        await self.categories.get(category_id)
        return await self.db.fetch_all(ANCESTORS, (category_id,), readonly=True)

    async def descendants(self, category_id: UUID) -> list[dict[str, Any]]:
        await self.categories.get(category_id)
        return await self.db.fetch_all(DESCENDANTS, (category_id,), readonly=True)

    async def create_category(self, values: Mapping[str, Any]) -> dict[str, Any]:
        async def work(tx: Transaction) -> dict[str, Any]:
            row = await self.categories.create(values, tx=tx)
            await audit.record(tx, action="CATEGORY_CREATED", entity_type="Category",
                               entity_id=row["id"], new=_audited(row))
            return row
        return await self.db.run_in_tx(work)

    async def update_category(self, category_id: UUID,
                              changes: Mapping[str, Any]) -> dict[str, Any]:
        """Rename or move a category (moving under its own descendant is refused); every
        product detail of the organization is invalidated after commit (category paths)."""
        async def work(tx: Transaction) -> dict[str, Any]:
            old = await self.categories.get(category_id, tx=tx)
            row = await self.categories.update(category_id, changes, tx=tx)
            await audit.record(tx, action="CATEGORY_UPDATED", entity_type="Category",
                               entity_id=category_id, old=_audited(old), new=_audited(row))
            self.cache.invalidate_on_commit(tx, PRODUCT_DETAILS)
            return row
        return await self.db.run_in_tx(work)

    # -- reviews -------------------------------------------------------------------------------

    async def list_reviews(self, product_id: UUID, query: ListQuery) -> Page[dict[str, Any]]:
        await self.products.get(product_id, replica=True)
        return await self.reviews.list(query)

    async def create_review(self, product_id: UUID, values: Mapping[str, Any]) -> dict[str, Any]:
        """The caller's review of a product (one per user and product: 409 on a second);
        shown once approved."""
        user = current_context().actor_id

        async def work(tx: Transaction) -> dict[str, Any]:
            product = await self.products.get(product_id, tx=tx)
            if not product["is_active"]:
                raise RuleViolation("Retired products take no reviews.",
                                    details={"rule": "product_active"})
            row = await self.reviews.create({**values, "product_id": product_id,
                                             "user_id": user}, tx=tx)
            await audit.record(tx, action="REVIEW_CREATED", entity_type="ProductReview",
                               entity_id=row["id"], new=_audited(row))
            return row
        return await self.db.run_in_tx(work)

    async def moderate_review(self, product_id: UUID, review_id: UUID,
                              changes: Mapping[str, Any]) -> dict[str, Any]:
        """Approve (or withdraw) and verify a review; the product's rating follows in the
        same transaction and its cached detail is invalidated after commit."""
        async def work(tx: Transaction) -> dict[str, Any]:
            old = await self._review(product_id, review_id, tx)
            row = await self.reviews.update(review_id, changes, tx=tx)
            await audit.record(tx, action="REVIEW_MODERATED", entity_type="ProductReview",
                               entity_id=review_id, old=_audited(old), new=_audited(row))
            self.cache.invalidate_on_commit(tx, self.details_key(product_id))
            return row
        return await self.db.run_in_tx(work)

    async def delete_review(self, product_id: UUID, review_id: UUID) -> None:
        async def work(tx: Transaction) -> None:
            old = await self._review(product_id, review_id, tx)
            await self.reviews.delete(review_id, tx=tx)
            await audit.record(tx, action="REVIEW_DELETED", entity_type="ProductReview",
                               entity_id=review_id, old=_audited(old))
            self.cache.invalidate_on_commit(tx, self.details_key(product_id))
        await self.db.run_in_tx(work)

    async def _review(self, product_id: UUID, review_id: UUID,
                      tx: Transaction) -> dict[str, Any]:
        row = await self.reviews.get(review_id, tx=tx)
        if row["product_id"] != product_id:
            raise NotFound("No review with that id.", details={"resource": "review",
                                                               "id": str(review_id)})
        return row

    # -- images --------------------------------------------------------------------------------

    async def add_image(self, product_id: UUID, values: Mapping[str, Any]) -> dict[str, Any]:
        """Add an image; the first image of a product, or one added with isPrimary, becomes
        the primary image (the previous primary is unset in the same transaction)."""
        async def work(tx: Transaction) -> dict[str, Any]:
            product = await self.products.get(product_id, tx=tx)
            org = product["organization_id"]
            first = not await tx.fetch_val(HAS_IMAGES, (org, product_id))
            primary = bool(values.get("is_primary")) or first
            row = await self.images.create({**values, "product_id": product_id,
                                            "is_primary": False}, tx=tx)
            if primary:
                row = await self._make_primary(tx, org, product_id, row["id"])
            await audit.record(tx, action="PRODUCT_IMAGE_ADDED", entity_type="ProductImage",
                               entity_id=row["id"], new=_audited(row))
            self.cache.invalidate_on_commit(tx, self.details_key(product_id))
            return row
        return await self.db.run_in_tx(work)

    async def update_image(self, product_id: UUID, image_id: UUID,
                           changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change an image's order or text, or make it the primary one (isPrimary=false is
        refused: promote another image instead)."""
        async def work(tx: Transaction) -> dict[str, Any]:
            old = await self._image(product_id, image_id, tx)
            wanted = dict(changes)
            primary = wanted.pop("is_primary", None)
            if primary is False and old["is_primary"]:
                raise RuleViolation("A product with images has exactly one primary image.",
                                    details={"rule": "product_images_one_primary"},
                                    hint="Make another image primary instead.")
            row = await self.images.update(image_id, wanted, tx=tx) if wanted else old
            if primary:
                row = await self._make_primary(tx, old["organization_id"], product_id, image_id)
            await audit.record(tx, action="PRODUCT_IMAGE_UPDATED", entity_type="ProductImage",
                               entity_id=image_id, old=_audited(old), new=_audited(row))
            self.cache.invalidate_on_commit(tx, self.details_key(product_id))
            return row
        return await self.db.run_in_tx(work)

    async def delete_image(self, product_id: UUID, image_id: UUID) -> None:
        """Delete an image; when it was the primary one, the next in order takes over."""
        async def work(tx: Transaction) -> None:
            old = await self._image(product_id, image_id, tx)
            org = old["organization_id"]
            await self.images.delete(image_id, tx=tx)
            if old["is_primary"]:
                successor = await tx.fetch_val(NEXT_IMAGE, (org, product_id))
                if successor is not None:
                    await self._make_primary(tx, org, product_id, successor)
            await audit.record(tx, action="PRODUCT_IMAGE_DELETED", entity_type="ProductImage",
                               entity_id=image_id, old=_audited(old))
            self.cache.invalidate_on_commit(tx, self.details_key(product_id))
        await self.db.run_in_tx(work)

    async def _make_primary(self, tx: Transaction, org: UUID, product_id: UUID,
                            image_id: UUID) -> dict[str, Any]:
        await tx.execute(UNSET_PRIMARY, (org, product_id, image_id))
        return await self.images.update(image_id, {"is_primary": True}, tx=tx)

    async def _image(self, product_id: UUID, image_id: UUID,
                     tx: Transaction) -> dict[str, Any]:
        row = await self.images.get(image_id, tx=tx)
        if row["product_id"] != product_id:
            raise NotFound("No image with that id.", details={"resource": "image",
                                                              "id": str(image_id)})
        return row
