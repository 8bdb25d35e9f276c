DROP FUNCTION IF EXISTS dealership.refresh_car_view_daily(date);
DROP FUNCTION IF EXISTS dealership.drop_analytics_partitions(date);
DROP FUNCTION IF EXISTS dealership.ensure_analytics_partitions(date, integer);
DROP TABLE IF EXISTS car_view_daily;
DROP TABLE IF EXISTS web_vitals;
DROP TABLE IF EXISTS page_views;
DROP TABLE IF EXISTS car_views;
