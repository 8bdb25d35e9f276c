DROP TABLE IF EXISTS newsletter_subscribers;
