-- Back to comparing the amount first (the state machine still refuses the transition).
CREATE OR REPLACE FUNCTION payment.open_dispute() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    p record;
BEGIN
    SELECT captured_amount, refunded_amount INTO p FROM payment.payments
    WHERE organization_id = NEW.organization_id AND id = NEW.payment_id FOR UPDATE;
    IF NEW.amount > p.captured_amount - p.refunded_amount THEN
        RAISE EXCEPTION 'a dispute is for at most the captured amount less refunds'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'dispute_exceeds_captured',
                  TABLE = 'payment_disputes', SCHEMA = 'payment';
    END IF;
    UPDATE payment.payments SET status = 'disputed'
    WHERE organization_id = NEW.organization_id AND id = NEW.payment_id;
    RETURN NEW;
END $$;
