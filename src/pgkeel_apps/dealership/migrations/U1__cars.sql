DROP FUNCTION IF EXISTS dealership.dealer_id(text);
DROP TABLE IF EXISTS car_specifications;
DROP TABLE IF EXISTS car_features;
DROP TABLE IF EXISTS car_images;
DROP TABLE IF EXISTS cars;
