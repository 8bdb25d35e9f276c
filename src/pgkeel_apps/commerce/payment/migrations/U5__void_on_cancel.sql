DROP TRIGGER orders_void_payment ON orders.orders;
DROP FUNCTION payment.void_on_order_cancel();
