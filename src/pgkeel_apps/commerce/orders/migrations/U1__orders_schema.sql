DROP TABLE order_fulfillment, order_notes, order_status_history, order_items, orders;
