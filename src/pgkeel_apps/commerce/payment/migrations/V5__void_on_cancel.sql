-- A cancelled order releases its payment's hold: an authorized (not yet captured) payment of
-- the order is voided in the cancelling transaction (a `void` transaction row, by the
-- payments trigger). A captured payment is left as it is: giving money back is a refund.
CREATE FUNCTION payment.void_on_order_cancel() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF NEW.status = 'cancelled' AND OLD.status <> 'cancelled' THEN
        UPDATE payment.payments SET status = 'voided'
        WHERE organization_id = NEW.organization_id AND order_id = NEW.id
          AND status = 'authorized';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER orders_void_payment AFTER UPDATE OF status ON orders.orders
    FOR EACH ROW EXECUTE FUNCTION payment.void_on_order_cancel();
