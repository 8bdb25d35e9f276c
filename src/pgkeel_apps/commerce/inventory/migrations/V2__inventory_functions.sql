-- The inventory's rules and functions. Every function names its tables with their schema and
-- runs with a fixed search_path; none is SECURITY DEFINER, so row-level security applies to
-- whoever calls them (the maintenance jobs run as the schema owner, across organizations).

-- What a change of stock is, for the movement trigger: set by the function making the change
-- (transaction-local settings), 'adjust' when nobody said.
CREATE FUNCTION inventory._movement_context(OUT movement_type text, OUT reference_type text,
                                            OUT reference_id uuid, OUT reason text,
                                            OUT actor_id uuid)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT coalesce(nullif(current_setting('inventory.movement_type', true), ''), 'adjust'),
           nullif(current_setting('inventory.reference_type', true), ''),
           nullif(current_setting('inventory.reference_id', true), '')::uuid,
           nullif(current_setting('inventory.reason', true), ''),
           CASE WHEN current_setting('pgkeel.actor_id', true)
                     ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
                THEN current_setting('pgkeel.actor_id', true)::uuid END
$$;

CREATE FUNCTION inventory._set_movement(p_type text, p_reference_type text, p_reference_id uuid,
                                        p_reason text DEFAULT NULL)
RETURNS void LANGUAGE sql SET search_path = pg_catalog AS $$
    SELECT set_config('inventory.movement_type', p_type, true),
           set_config('inventory.reference_type', coalesce(p_reference_type, ''), true),
           set_config('inventory.reference_id', coalesce(p_reference_id::text, ''), true),
           set_config('inventory.reason', coalesce(p_reason, ''), true)
$$;

-- One inventory_movements row for every change of a stock level, whoever made it.
CREATE FUNCTION inventory.record_inventory_movement() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    ctx record := inventory._movement_context();
    old_available integer := CASE WHEN TG_OP = 'INSERT' THEN 0 ELSE OLD.available_quantity END;
    old_reserved integer := CASE WHEN TG_OP = 'INSERT' THEN 0 ELSE OLD.reserved_quantity END;
BEGIN
    IF NEW.available_quantity = old_available AND NEW.reserved_quantity = old_reserved THEN
        RETURN NULL;
    END IF;
    INSERT INTO inventory.inventory_movements
        (organization_id, inventory_id, product_id, movement_type, available_change,
         reserved_change, available_after, reserved_after, reference_type, reference_id,
         reason, actor_id)
    VALUES (NEW.organization_id, NEW.id, NEW.product_id,
            CASE WHEN TG_OP = 'INSERT' THEN 'initial' ELSE ctx.movement_type END,
            NEW.available_quantity - old_available, NEW.reserved_quantity - old_reserved,
            NEW.available_quantity, NEW.reserved_quantity, ctx.reference_type,
            ctx.reference_id, ctx.reason, ctx.actor_id);
    RETURN NULL;
END $$;

CREATE TRIGGER inventory_movement AFTER INSERT OR UPDATE OF available_quantity, reserved_quantity
    ON inventory.inventory FOR EACH ROW EXECUTE FUNCTION inventory.record_inventory_movement();

-- Low-stock alerts: opened when available stock falls to the reorder point (out_of_stock at
-- zero), resolved when it rises above it again. Only crossings do any work.
CREATE FUNCTION inventory.raise_inventory_alert() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    was_low boolean := TG_OP = 'UPDATE' AND OLD.available_quantity <= OLD.reorder_point;
    was_out boolean := TG_OP = 'UPDATE' AND OLD.available_quantity = 0;
BEGIN
    IF NEW.available_quantity <= NEW.reorder_point AND NOT was_low THEN
        INSERT INTO inventory.inventory_alerts (organization_id, inventory_id, product_id,
                                               alert_type, available_quantity, threshold)
        VALUES (NEW.organization_id, NEW.id, NEW.product_id, 'low_stock',
                NEW.available_quantity, NEW.reorder_point)
        ON CONFLICT DO NOTHING;
    END IF;
    IF NEW.available_quantity = 0 AND NOT was_out THEN
        INSERT INTO inventory.inventory_alerts (organization_id, inventory_id, product_id,
                                               alert_type, available_quantity, threshold)
        VALUES (NEW.organization_id, NEW.id, NEW.product_id, 'out_of_stock', 0,
                NEW.reorder_point)
        ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP = 'UPDATE' AND ((was_low AND NEW.available_quantity > NEW.reorder_point)
                             OR (was_out AND NEW.available_quantity > 0)) THEN
        UPDATE inventory.inventory_alerts SET status = 'resolved', resolved_at = now()
        WHERE organization_id = NEW.organization_id AND inventory_id = NEW.id
          AND status = 'open'
          AND (alert_type = 'out_of_stock' OR NEW.available_quantity > NEW.reorder_point);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER inventory_low_stock_alert
    AFTER INSERT OR UPDATE OF available_quantity, reorder_point ON inventory.inventory
    FOR EACH ROW EXECUTE FUNCTION inventory.raise_inventory_alert();

-- At most 5 active reservations per user per product. The inventory row is locked first, so
-- two concurrent inserts for one product are counted one after the other.
CREATE FUNCTION inventory.check_reservation_limit() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF NEW.status <> 'active' THEN
        RETURN NEW;
    END IF;
    PERFORM 1 FROM inventory.inventory
    WHERE organization_id = NEW.organization_id AND id = NEW.inventory_id FOR UPDATE;
    IF (SELECT count(*) FROM inventory.inventory_reservations
        WHERE organization_id = NEW.organization_id AND user_id = NEW.user_id
          AND product_id = NEW.product_id AND status = 'active') >= 5 THEN
        RAISE EXCEPTION 'at most 5 active reservations per user per product'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'reservation_limit',
                  TABLE = 'inventory_reservations', SCHEMA = 'inventory';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER inventory_reservation_limit BEFORE INSERT ON inventory.inventory_reservations
    FOR EACH ROW EXECUTE FUNCTION inventory.check_reservation_limit();

-- Reserve stock atomically: one conditional UPDATE moves the units from available to reserved
-- only while enough are available. Concurrent callers queue on the row lock; each re-checks
-- the condition against the committed row it waited for (READ COMMITTED re-evaluation), so the
-- stock can never be taken twice, and the CHECK (available_quantity >= 0) backs that up.
-- Without p_order_id the reservation is a hold that expires after p_ttl (5 minutes); with one
-- it is committed to that order, which releases it when it is cancelled or expires.
CREATE FUNCTION inventory.reserve_inventory(
    p_organization_id uuid, p_product_id uuid, p_user_id uuid, p_quantity integer,
    p_order_id uuid DEFAULT NULL, p_ttl interval DEFAULT interval '5 minutes')
RETURNS uuid LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v_inventory_id uuid;
    v_reservation_id uuid;
BEGIN
    IF p_quantity IS NULL OR p_quantity <= 0 THEN
        RAISE EXCEPTION 'a reservation is for at least one unit'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'inventory_reservations_quantity';
    END IF;
    PERFORM inventory._set_movement('reserve', CASE WHEN p_order_id IS NULL THEN 'reservation'
                                                    ELSE 'order' END, p_order_id);
    UPDATE inventory.inventory
    SET available_quantity = available_quantity - p_quantity,
        reserved_quantity = reserved_quantity + p_quantity, updated_at = now()
    WHERE organization_id = p_organization_id AND product_id = p_product_id
      AND available_quantity >= p_quantity
    RETURNING id INTO v_inventory_id;
    IF v_inventory_id IS NULL THEN
        IF EXISTS (SELECT FROM inventory.inventory WHERE organization_id = p_organization_id
                                                     AND product_id = p_product_id) THEN
            RAISE EXCEPTION 'not enough stock for product %', p_product_id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'insufficient_stock',
                      TABLE = 'inventory', SCHEMA = 'inventory';
        END IF;
        RAISE EXCEPTION 'no inventory for product %', p_product_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'inventory_product_key',
                  TABLE = 'inventory', SCHEMA = 'inventory';
    END IF;
    INSERT INTO inventory.inventory_reservations
        (organization_id, inventory_id, product_id, user_id, order_id, quantity, status,
         expires_at)
    VALUES (p_organization_id, v_inventory_id, p_product_id, p_user_id, p_order_id, p_quantity,
            CASE WHEN p_order_id IS NULL THEN 'active' ELSE 'committed' END, now() + p_ttl)
    RETURNING id INTO v_reservation_id;
    RETURN v_reservation_id;
END $$;

-- Close reservations and give their units back (released, expired) or let them leave the
-- warehouse (fulfilled). Locks inventory rows in id order, so concurrent closers never
-- deadlock. Returns the number of reservations closed.
CREATE FUNCTION inventory.close_reservations(p_organization_id uuid, p_ids uuid[],
                                             p_status text, p_reason text DEFAULT NULL)
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v_closed integer;
BEGIN
    IF p_status NOT IN ('released', 'expired', 'fulfilled') THEN
        RAISE EXCEPTION 'a reservation closes as released, expired or fulfilled'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'inventory_reservations_status';
    END IF;
    PERFORM inventory._set_movement(CASE p_status WHEN 'released' THEN 'release'
                                                  WHEN 'expired' THEN 'expire'
                                                  ELSE 'fulfil' END, 'reservation', NULL, p_reason);
    PERFORM 1 FROM inventory.inventory i
    WHERE i.organization_id = p_organization_id
      AND i.id IN (SELECT r.inventory_id FROM inventory.inventory_reservations r
                   WHERE r.organization_id = p_organization_id AND r.id = ANY(p_ids))
    ORDER BY i.id FOR UPDATE;
    WITH closed AS (
        UPDATE inventory.inventory_reservations r
        SET status = p_status, closed_at = now()
        WHERE r.organization_id = p_organization_id AND r.id = ANY(p_ids)
          AND r.status IN ('active', 'committed')
        RETURNING r.inventory_id, r.quantity
    ), per_item AS (
        SELECT inventory_id, sum(quantity)::integer AS quantity, count(*) AS n
        FROM closed GROUP BY inventory_id
    ), moved AS (
        UPDATE inventory.inventory i
        SET available_quantity = i.available_quantity
                + CASE WHEN p_status = 'fulfilled' THEN 0 ELSE p.quantity END,
            reserved_quantity = i.reserved_quantity - p.quantity, updated_at = now()
        FROM per_item p
        WHERE i.organization_id = p_organization_id AND i.id = p.inventory_id
        RETURNING p.n
    )
    SELECT coalesce(sum(n), 0)::integer INTO v_closed FROM moved;
    RETURN v_closed;
END $$;

-- What an order holds: closed when the order is cancelled, expires or ships.
CREATE FUNCTION inventory.close_order_reservations(p_organization_id uuid, p_order_id uuid,
                                                   p_status text, p_reason text DEFAULT NULL)
RETURNS integer LANGUAGE sql SET search_path = pg_catalog AS $$
    SELECT inventory.close_reservations(
        p_organization_id,
        ARRAY(SELECT id FROM inventory.inventory_reservations
              WHERE organization_id = p_organization_id AND order_id = p_order_id
                AND status IN ('active', 'committed')),
        p_status, p_reason)
$$;

-- Release every active hold past its expiry (5 minutes), at most p_limit per call, skipping
-- rows another transaction holds. Returns how many were released. Run it every minute.
CREATE FUNCTION inventory.cleanup_expired_reservations(p_limit integer DEFAULT 10000)
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v_org uuid;
    v_ids uuid[];
    v_total integer := 0;
BEGIN
    FOR v_org, v_ids IN
        WITH due AS (
            SELECT organization_id, id FROM inventory.inventory_reservations
            WHERE status = 'active' AND expires_at <= now()
            ORDER BY expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED
        )
        SELECT organization_id, array_agg(id) FROM due GROUP BY organization_id
    LOOP
        v_total := v_total + inventory.close_reservations(v_org, v_ids, 'expired',
                                                          'reservation expired');
    END LOOP;
    RETURN v_total;
END $$;

-- An administrator's stock change (positive: received, negative: written off). The CHECK
-- refuses a change that would take available stock below zero.
CREATE FUNCTION inventory.adjust_inventory(p_organization_id uuid, p_product_id uuid,
                                           p_change integer, p_reason text,
                                           p_type text DEFAULT 'adjust')
RETURNS SETOF inventory.inventory LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF p_type NOT IN ('adjust', 'restock') THEN
        RAISE EXCEPTION 'an adjustment is adjust or restock'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'inventory_movements_type';
    END IF;
    PERFORM inventory._set_movement(p_type, 'adjustment', NULL, p_reason);
    RETURN QUERY
    UPDATE inventory.inventory
    SET available_quantity = available_quantity + p_change, updated_at = now()
    WHERE organization_id = p_organization_id AND product_id = p_product_id
    RETURNING *;
END $$;

-- Roll the movements of one day up into inventory_analytics (idempotent: a day is
-- recomputed). Returns the number of rows written.
CREATE FUNCTION inventory.refresh_inventory_analytics(p_day date DEFAULT current_date)
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v_rows integer;
BEGIN
    INSERT INTO inventory.inventory_analytics AS a
        (organization_id, inventory_id, day, product_id, reserved_units, released_units,
         fulfilled_units, adjusted_units, movements, closing_available)
    SELECT organization_id, inventory_id, p_day, product_id,
           coalesce(sum(reserved_change) FILTER (WHERE movement_type = 'reserve'), 0),
           coalesce(-sum(reserved_change) FILTER (WHERE movement_type IN ('release', 'expire')), 0),
           coalesce(-sum(reserved_change) FILTER (WHERE movement_type = 'fulfil'), 0),
           coalesce(sum(available_change) FILTER (WHERE movement_type IN ('adjust', 'restock')), 0),
           count(*), (array_agg(available_after ORDER BY id DESC))[1]
    FROM inventory.inventory_movements
    WHERE created_at >= p_day AND created_at < p_day + 1
    GROUP BY organization_id, inventory_id, product_id
    ON CONFLICT (organization_id, inventory_id, day) DO UPDATE
    SET reserved_units = excluded.reserved_units, released_units = excluded.released_units,
        fulfilled_units = excluded.fulfilled_units, adjusted_units = excluded.adjusted_units,
        movements = excluded.movements, closing_available = excluded.closing_available;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END $$;
