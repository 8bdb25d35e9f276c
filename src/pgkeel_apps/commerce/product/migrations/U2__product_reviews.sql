DROP TABLE product_reviews;
DROP FUNCTION product_reviews_rating();
