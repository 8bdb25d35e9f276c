DROP TABLE products;
DROP FUNCTION tags_text(text[]);
DROP TABLE categories;
DROP FUNCTION categories_no_cycle();
