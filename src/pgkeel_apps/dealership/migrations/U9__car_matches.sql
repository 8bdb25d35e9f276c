DROP FUNCTION IF EXISTS dealership.car_matches(tsvector, text, text, text);
