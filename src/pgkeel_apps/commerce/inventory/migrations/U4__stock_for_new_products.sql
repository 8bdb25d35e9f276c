-- Back to adjustments of existing inventory rows only.
CREATE OR REPLACE FUNCTION inventory.adjust_inventory(p_organization_id uuid, p_product_id uuid,
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
