-- The catalog shows `products.stock_quantity` (its in-stock filter and sort read it), while
-- orders reserve from `inventory` -- the source of truth. Copying every stock change into
-- the product row at once would rewrite a row with four GIN indexes on every order line, so
-- the copy is made by a maintenance job instead: products whose shown stock differs from
-- their available stock, set in one statement. Returns how many products changed.
CREATE FUNCTION inventory.sync_catalog_stock() RETURNS integer
LANGUAGE sql SET search_path = pg_catalog AS $$
    WITH changed AS (
        UPDATE product.products AS p
        SET stock_quantity = i.available_quantity
        FROM inventory.inventory AS i
        WHERE p.organization_id = i.organization_id AND p.id = i.product_id
          AND p.stock_quantity IS DISTINCT FROM i.available_quantity
        RETURNING 1
    )
    SELECT count(*)::integer FROM changed
$$;
