-- The payment state machine, enforced by the database:
--   pending -> authorized | failed | expired
--   authorized -> captured | voided | expired
--   captured -> settled | partially_refunded | refunded | disputed
--   settled, partially_refunded -> partially_refunded | refunded | disputed (| settled)
--   disputed -> settled (won) | charged_back (lost)
-- Every change writes a payment_transactions row. Refunds never exceed the captured amount.

CREATE FUNCTION payment.check_payment_transition() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF NEW.status = OLD.status THEN
        NEW.updated_at := now();
        RETURN NEW;
    END IF;
    IF NOT (OLD.status, NEW.status) IN (
            ('pending', 'authorized'), ('pending', 'failed'), ('pending', 'expired'),
            ('authorized', 'captured'), ('authorized', 'voided'), ('authorized', 'expired'),
            ('captured', 'settled'), ('captured', 'partially_refunded'),
            ('captured', 'refunded'), ('captured', 'disputed'),
            ('settled', 'partially_refunded'), ('settled', 'refunded'), ('settled', 'disputed'),
            ('partially_refunded', 'refunded'), ('partially_refunded', 'disputed'),
            ('partially_refunded', 'settled'),
            ('disputed', 'settled'), ('disputed', 'charged_back')) THEN
        RAISE EXCEPTION 'a payment cannot go from % to %', OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payment_status_transition',
                  TABLE = 'payments', SCHEMA = 'payment';
    END IF;
    NEW.updated_at := now();
    CASE NEW.status
        WHEN 'authorized' THEN NEW.authorized_at := now();
        WHEN 'captured' THEN NEW.captured_at := now();
        WHEN 'settled' THEN NEW.settled_at := coalesce(NEW.settled_at, now());
        ELSE NULL;
    END CASE;
    RETURN NEW;
END $$;

CREATE TRIGGER payments_status_transition BEFORE UPDATE ON payment.payments
    FOR EACH ROW EXECUTE FUNCTION payment.check_payment_transition();

CREATE FUNCTION payment.record_payment_transaction() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v_kind text;
    v_amount numeric(12,2) := 0;
BEGIN
    IF NEW.refunded_amount > OLD.refunded_amount THEN
        v_kind := 'refund';
        v_amount := NEW.refunded_amount - OLD.refunded_amount;
    ELSIF NEW.status = OLD.status THEN
        RETURN NULL;
    ELSE
        v_kind := CASE NEW.status
            WHEN 'authorized' THEN 'authorize' WHEN 'captured' THEN 'capture'
            WHEN 'settled' THEN CASE WHEN OLD.status = 'disputed' THEN 'dispute_won' ELSE 'settle' END
            WHEN 'voided' THEN 'void' WHEN 'disputed' THEN 'dispute'
            WHEN 'charged_back' THEN 'dispute_lost' WHEN 'failed' THEN 'decline'
            WHEN 'expired' THEN 'expire' END;
        v_amount := CASE NEW.status WHEN 'authorized' THEN NEW.amount
                                    WHEN 'captured' THEN NEW.captured_amount ELSE 0 END;
    END IF;
    INSERT INTO payment.payment_transactions (organization_id, payment_id, kind, amount,
                                              from_status, to_status, provider_reference,
                                              error_code)
    VALUES (NEW.organization_id, NEW.id, v_kind, v_amount, OLD.status, NEW.status,
            NEW.provider_reference, CASE WHEN NEW.status = 'failed' THEN NEW.failure_code END);
    RETURN NULL;
END $$;

CREATE TRIGGER payments_transaction_log AFTER UPDATE ON payment.payments
    FOR EACH ROW EXECUTE FUNCTION payment.record_payment_transaction();

-- Apply the provider's answer to an authorization request: 'approved' authorizes the payment
-- (the hold then lasts 7 days), 'declined' fails it, 'timeout' leaves it pending (retry, or
-- cleanup_expired_payments() expires it). Returns the payment's status.
CREATE FUNCTION payment.process_payment_authorization(
    p_organization_id uuid, p_payment_id uuid, p_outcome text,
    p_provider_reference text DEFAULT NULL, p_failure_code text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v_status text;
BEGIN
    SELECT status INTO v_status FROM payment.payments
    WHERE organization_id = p_organization_id AND id = p_payment_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no payment %', p_payment_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'payments_pkey';
    END IF;
    CASE p_outcome
        WHEN 'approved' THEN
            UPDATE payment.payments
            SET status = 'authorized', provider_reference = p_provider_reference,
                expires_at = now() + interval '7 days'
            WHERE organization_id = p_organization_id AND id = p_payment_id;
        WHEN 'declined' THEN
            UPDATE payment.payments
            SET status = 'failed', provider_reference = p_provider_reference,
                failure_code = coalesce(p_failure_code, 'card_declined')
            WHERE organization_id = p_organization_id AND id = p_payment_id;
        WHEN 'timeout' THEN
            IF v_status <> 'pending' THEN
                RAISE EXCEPTION 'a payment cannot time out from %', v_status
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'payment_status_transition';
            END IF;
            INSERT INTO payment.payment_transactions (organization_id, payment_id, kind,
                                                      from_status, to_status, error_code)
            VALUES (p_organization_id, p_payment_id, 'timeout', v_status, v_status,
                    coalesce(p_failure_code, 'provider_timeout'));
        ELSE
            RAISE EXCEPTION 'an authorization outcome is approved, declined or timeout'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'payment_authorization_outcome';
    END CASE;
    SELECT status INTO v_status FROM payment.payments
    WHERE organization_id = p_organization_id AND id = p_payment_id;
    RETURN v_status;
END $$;

-- A refund is applied to its payment in the same statement that records it: the payment row
-- is locked, the refunded total grows (CHECK refund_exceeds_captured refuses more than was
-- captured) and the status follows (partially_refunded, refunded).
CREATE FUNCTION payment.apply_refund() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    p record;
BEGIN
    SELECT status, captured_amount, refunded_amount INTO p FROM payment.payments
    WHERE organization_id = NEW.organization_id AND id = NEW.payment_id FOR UPDATE;
    IF NOT FOUND OR p.status NOT IN ('captured', 'settled', 'partially_refunded') THEN
        RAISE EXCEPTION 'only a captured payment can be refunded'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payment_status_transition',
                  TABLE = 'refunds', SCHEMA = 'payment';
    END IF;
    IF NEW.status = 'succeeded' THEN
        UPDATE payment.payments
        SET refunded_amount = refunded_amount + NEW.amount,
            status = CASE WHEN refunded_amount + NEW.amount >= captured_amount THEN 'refunded'
                          ELSE 'partially_refunded' END
        WHERE organization_id = NEW.organization_id AND id = NEW.payment_id;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER refunds_apply BEFORE INSERT ON payment.refunds
    FOR EACH ROW EXECUTE FUNCTION payment.apply_refund();

-- Opening a dispute marks the payment disputed (a transition the state machine checks); a
-- dispute is for at most the captured amount less refunds.
CREATE FUNCTION payment.open_dispute() RETURNS trigger
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

CREATE TRIGGER payment_disputes_open BEFORE INSERT ON payment.payment_disputes
    FOR EACH ROW EXECUTE FUNCTION payment.open_dispute();

-- Close a dispute: won gives the payment back its settled state, lost charges it back.
CREATE FUNCTION payment.resolve_payment_dispute(p_organization_id uuid, p_dispute_id uuid,
                                                p_won boolean)
RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v_payment uuid;
BEGIN
    UPDATE payment.payment_disputes
    SET status = CASE WHEN p_won THEN 'won' ELSE 'lost' END, resolved_at = now()
    WHERE organization_id = p_organization_id AND id = p_dispute_id AND status = 'open'
    RETURNING payment_id INTO v_payment;
    IF v_payment IS NULL THEN
        RAISE EXCEPTION 'no open dispute %', p_dispute_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payment_status_transition';
    END IF;
    UPDATE payment.payments SET status = CASE WHEN p_won THEN 'settled' ELSE 'charged_back' END
    WHERE organization_id = p_organization_id AND id = v_payment;
    RETURN CASE WHEN p_won THEN 'settled' ELSE 'charged_back' END;
END $$;

-- Expire pending payments past their 15 minutes and authorizations whose 7-day hold lapsed,
-- at most p_limit per call, skipping rows another transaction holds.
CREATE FUNCTION payment.cleanup_expired_payments(p_limit integer DEFAULT 10000)
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v_rows integer;
BEGIN
    UPDATE payment.payments p SET status = 'expired'
    FROM (SELECT organization_id, id FROM payment.payments
          WHERE status IN ('pending', 'authorized') AND expires_at <= now()
          ORDER BY expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED) due
    WHERE p.organization_id = due.organization_id AND p.id = due.id;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END $$;

-- Roll one day's payment transactions up into payment_analytics (a day is recomputed).
CREATE FUNCTION payment.refresh_payment_analytics(p_day date DEFAULT current_date)
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v_rows integer;
BEGIN
    INSERT INTO payment.payment_analytics AS a
        (organization_id, day, authorized_count, authorized_amount, captured_amount,
         refunded_amount, declined_count, disputed_count)
    SELECT organization_id, p_day,
           count(*) FILTER (WHERE kind = 'authorize'),
           coalesce(sum(amount) FILTER (WHERE kind = 'authorize'), 0),
           coalesce(sum(amount) FILTER (WHERE kind = 'capture'), 0),
           coalesce(sum(amount) FILTER (WHERE kind = 'refund'), 0),
           count(*) FILTER (WHERE kind = 'decline'),
           count(*) FILTER (WHERE kind = 'dispute')
    FROM payment.payment_transactions
    WHERE created_at >= p_day AND created_at < p_day + 1
    GROUP BY organization_id
    ON CONFLICT (organization_id, day) DO UPDATE
    SET authorized_count = excluded.authorized_count,
        authorized_amount = excluded.authorized_amount,
        captured_amount = excluded.captured_amount, refunded_amount = excluded.refunded_amount,
        declined_count = excluded.declined_count, disputed_count = excluded.disputed_count;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END $$;
