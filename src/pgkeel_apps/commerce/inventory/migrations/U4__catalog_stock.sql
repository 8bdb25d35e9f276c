DROP TRIGGER inventory_catalog_stock ON inventory.inventory;
DROP FUNCTION inventory.sync_catalog_stock();
