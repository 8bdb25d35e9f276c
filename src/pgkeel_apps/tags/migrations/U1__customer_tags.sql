DROP TABLE customer_tag_assignments, customer_tags;
