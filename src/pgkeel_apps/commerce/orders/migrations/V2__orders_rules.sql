-- The order rules: business rules checked before an order is written, legal status changes,
-- the status history, stock released with the order, and the 30-minute timeout.

-- Every rule a new order for p_user_id worth p_total with p_item_count units breaks (none: the
-- order may be placed). Callable directly: SELECT * FROM orders.validate_order_business_rules(...).
CREATE FUNCTION orders.validate_order_business_rules(p_organization_id uuid, p_user_id uuid,
                                                     p_total numeric, p_item_count integer)
RETURNS TABLE (rule text, message text)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT 'order_min_amount', 'An order totals at least 10.00.' WHERE p_total < 10.00
    UNION ALL
    SELECT 'order_max_amount', 'An order totals at most 10000.00.' WHERE p_total > 10000.00
    UNION ALL
    SELECT 'order_max_items', 'An order holds at most 50 items.' WHERE p_item_count > 50
    UNION ALL
    SELECT 'order_max_pending', 'A customer has at most 5 pending orders.'
    WHERE (SELECT count(*) FROM orders.orders
           WHERE organization_id = p_organization_id AND user_id = p_user_id
             AND status = 'pending' AND expires_at > now()) >= 5
$$;

-- Before an order is inserted: the customer's orders are serialised (a transaction-scoped
-- advisory lock per customer), so two concurrent orders cannot both be the fifth pending one;
-- then the first broken rule is raised with its name as the constraint.
CREATE FUNCTION orders.enforce_order_business_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    broken record;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(
        'orders.pending:' || NEW.organization_id::text || ':' || NEW.user_id::text, 0));
    SELECT * INTO broken FROM orders.validate_order_business_rules(
        NEW.organization_id, NEW.user_id, NEW.total_amount, NEW.item_count) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '%', broken.message
            USING ERRCODE = 'check_violation', CONSTRAINT = broken.rule,
                  TABLE = 'orders', SCHEMA = 'orders';
    END IF;
    NEW.status := 'pending';
    NEW.expires_at := NEW.created_at + interval '30 minutes';
    RETURN NEW;
END $$;

CREATE TRIGGER orders_business_rules BEFORE INSERT ON orders.orders
    FOR EACH ROW EXECUTE FUNCTION orders.enforce_order_business_rules();

-- Legal status changes: pending -> confirmed | cancelled | expired; confirmed -> shipped |
-- cancelled; shipped -> delivered. Anything else is refused (order_status_transition).
CREATE FUNCTION orders.check_order_transition() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF NEW.status = OLD.status THEN
        RETURN NEW;
    END IF;
    IF NOT (OLD.status, NEW.status) IN (
            ('pending', 'confirmed'), ('pending', 'cancelled'), ('pending', 'expired'),
            ('confirmed', 'shipped'), ('confirmed', 'cancelled'), ('shipped', 'delivered')) THEN
        RAISE EXCEPTION 'an order cannot go from % to %', OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'order_status_transition',
                  TABLE = 'orders', SCHEMA = 'orders';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE TRIGGER orders_status_transition BEFORE UPDATE OF status ON orders.orders
    FOR EACH ROW EXECUTE FUNCTION orders.check_order_transition();

-- order_status_history: one row when an order is created and one for every status change,
-- with the reason the changing transaction gave (orders.status_reason) and the actor.
-- A cancelled or expired order gives its stock back; a shipped one lets it leave.
CREATE FUNCTION orders.record_order_status() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    actor text := current_setting('pgkeel.actor_id', true);
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.status = OLD.status THEN
        RETURN NULL;
    END IF;
    INSERT INTO orders.order_status_history (organization_id, order_id, from_status, to_status,
                                             reason, changed_by)
    VALUES (NEW.organization_id, NEW.id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END,
            NEW.status, nullif(current_setting('orders.status_reason', true), ''),
            CASE WHEN actor ~ '^[0-9a-fA-F-]{36}$' THEN actor::uuid END);
    IF TG_OP = 'UPDATE' AND NEW.status IN ('cancelled', 'expired', 'shipped') THEN
        PERFORM inventory.close_order_reservations(
            NEW.organization_id, NEW.id,
            CASE NEW.status WHEN 'cancelled' THEN 'released' WHEN 'expired' THEN 'expired'
                            ELSE 'fulfilled' END,
            'order ' || NEW.status);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER orders_status_history AFTER INSERT OR UPDATE OF status ON orders.orders
    FOR EACH ROW EXECUTE FUNCTION orders.record_order_status();

-- At COMMIT, an order's items add up to its item_count and subtotal (a deferred check, so the
-- order and its items can be inserted in either order within the transaction).
CREATE FUNCTION orders.check_order_items() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v_org uuid;
    v_order uuid;
BEGIN
    IF TG_TABLE_NAME = 'orders' THEN
        v_org := NEW.organization_id;
        v_order := NEW.id;
    ELSIF TG_OP = 'DELETE' THEN
        v_org := OLD.organization_id;
        v_order := OLD.order_id;
    ELSE
        v_org := NEW.organization_id;
        v_order := NEW.order_id;
    END IF;
    IF EXISTS (
        SELECT FROM orders.orders o
        CROSS JOIN LATERAL (
            SELECT coalesce(sum(i.quantity), 0)::integer AS units,
                   coalesce(sum(i.line_total), 0)::numeric(12,2) AS amount
            FROM orders.order_items i
            WHERE i.organization_id = v_org AND i.order_id = v_order) items
        WHERE o.organization_id = v_org AND o.id = v_order
          AND (o.item_count <> items.units OR o.subtotal <> items.amount)) THEN
        RAISE EXCEPTION 'an order''s items must add up to its item count and subtotal'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'order_items_match_order',
                  TABLE = 'orders', SCHEMA = 'orders';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER orders_items_match AFTER INSERT ON orders.orders
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION orders.check_order_items();
CREATE CONSTRAINT TRIGGER order_items_match AFTER INSERT OR UPDATE OR DELETE ON orders.order_items
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION orders.check_order_items();

-- Expire pending orders past their 30 minutes (their stock is released by the status
-- trigger), at most p_limit per call, skipping orders another transaction holds.
CREATE FUNCTION orders.cleanup_expired_orders(p_limit integer DEFAULT 10000)
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v_rows integer;
BEGIN
    PERFORM set_config('orders.status_reason', 'not paid within 30 minutes', true);
    UPDATE orders.orders o SET status = 'expired'
    FROM (SELECT organization_id, id FROM orders.orders
          WHERE status = 'pending' AND expires_at <= now()
          ORDER BY expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED) due
    WHERE o.organization_id = due.organization_id AND o.id = due.id;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    PERFORM set_config('orders.status_reason', '', true);
    RETURN v_rows;
END $$;
