DROP TABLE product_images;
DROP FUNCTION product_images_primary_check();
