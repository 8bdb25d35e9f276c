-- A dispute against a payment that was never captured (pending, authorized, failed, ...) is
-- an invalid transition, and is refused as one (payment_status_transition) before its amount
-- is compared with what was captured (dispute_exceeds_captured), as refunds are.
CREATE OR REPLACE FUNCTION payment.open_dispute() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    p record;
BEGIN
    SELECT status, captured_amount, refunded_amount INTO p FROM payment.payments
    WHERE organization_id = NEW.organization_id AND id = NEW.payment_id FOR UPDATE;
    IF NOT FOUND OR p.status NOT IN ('captured', 'settled', 'partially_refunded') THEN
        RAISE EXCEPTION 'only a captured payment can be disputed'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payment_status_transition',
                  TABLE = 'payment_disputes', SCHEMA = 'payment';
    END IF;
    IF NEW.amount > p.captured_amount - p.refunded_amount THEN
        RAISE EXCEPTION 'a dispute is for at most the captured amount less refunds'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'dispute_exceeds_captured',
                  TABLE = 'payment_disputes', SCHEMA = 'payment';
    END IF;
    UPDATE payment.payments SET status = 'disputed'
    WHERE organization_id = NEW.organization_id AND id = NEW.payment_id;
    RETURN NEW;
END $$;
