-- The catalog shows each product's stock (product.products.stock_quantity, for its in-stock
-- and low-stock filters); the inventory is where stock changes. Every change of available
-- stock is copied to the catalog in the same transaction, so what the catalog calls in stock
-- is what can be ordered.
CREATE FUNCTION inventory.sync_catalog_stock() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    UPDATE product.products SET stock_quantity = NEW.available_quantity
    WHERE organization_id = NEW.organization_id AND id = NEW.product_id
      AND stock_quantity IS DISTINCT FROM NEW.available_quantity;
    RETURN NULL;
END $$;

CREATE TRIGGER inventory_catalog_stock
    AFTER INSERT OR UPDATE OF available_quantity ON inventory.inventory
    FOR EACH ROW EXECUTE FUNCTION inventory.sync_catalog_stock();
