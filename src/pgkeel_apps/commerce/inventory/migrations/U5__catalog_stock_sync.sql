DROP FUNCTION inventory.sync_catalog_stock();
