-- A product created after the sample data has no inventory row yet: the first adjustment
-- (a restock) creates it, for a product that exists in the organization's catalog. Before,
-- such a product could never be stocked, so never ordered.
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
    IF NOT EXISTS (SELECT FROM inventory.inventory
                   WHERE organization_id = p_organization_id AND product_id = p_product_id)
       AND NOT EXISTS (SELECT FROM product.products
                       WHERE organization_id = p_organization_id AND id = p_product_id) THEN
        RETURN;   -- no such product: nothing to stock (the caller answers 404)
    END IF;
    -- The insert starts at zero and the update applies the change, so a new row goes through
    -- the same CHECK (never below zero) and the same movement trigger as any adjustment.
    INSERT INTO inventory.inventory (organization_id, product_id)
    VALUES (p_organization_id, p_product_id)
    ON CONFLICT (organization_id, product_id) DO NOTHING;
    RETURN QUERY
    UPDATE inventory.inventory
    SET available_quantity = available_quantity + p_change, updated_at = now()
    WHERE organization_id = p_organization_id AND product_id = p_product_id
    RETURNING *;
END $$;
