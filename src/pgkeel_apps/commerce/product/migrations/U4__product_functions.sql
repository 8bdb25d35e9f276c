DROP FUNCTION search_products(text, uuid, numeric, numeric, boolean, integer, integer);
DROP FUNCTION get_product_details(uuid);
DROP FUNCTION category_descendants(uuid);
DROP FUNCTION category_ancestors(uuid);
