-- The inventory service (e-commerce report, V4): stock per product, reservations that expire,
-- one movement row per change, low-stock alerts, suppliers, categories and daily analytics.
-- Products live in the product service's schema: rows here name them by
-- (organization_id, product_id), without a cross-service foreign key.
CREATE TABLE inventory_categories (
    organization_id uuid NOT NULL REFERENCES identity.organizations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    name            text NOT NULL
                    CONSTRAINT inventory_categories_name_length CHECK (length(name) BETWEEN 1 AND 100),
    description     text CONSTRAINT inventory_categories_description_length
                    CHECK (length(description) <= 1000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT inventory_categories_name_key UNIQUE (organization_id, name)
);

CREATE TABLE inventory_suppliers (
    organization_id uuid NOT NULL REFERENCES identity.organizations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    name            text NOT NULL
                    CONSTRAINT inventory_suppliers_name_length CHECK (length(name) BETWEEN 1 AND 200),
    contact_email   text CONSTRAINT inventory_suppliers_email_length CHECK (length(contact_email) <= 254),
    lead_time_days  integer NOT NULL DEFAULT 7
                    CONSTRAINT inventory_suppliers_lead_time CHECK (lead_time_days BETWEEN 0 AND 365),
    on_time_rate    numeric(5,4) CONSTRAINT inventory_suppliers_on_time_rate
                    CHECK (on_time_rate BETWEEN 0 AND 1),
    is_active       boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT inventory_suppliers_name_key UNIQUE (organization_id, name)
);

CREATE TABLE inventory (
    organization_id    uuid NOT NULL REFERENCES identity.organizations (id),
    id                 uuid NOT NULL DEFAULT gen_random_uuid(),
    product_id         uuid NOT NULL,
    sku                text CONSTRAINT inventory_sku_length CHECK (length(sku) <= 64),
    category_id        uuid,
    supplier_id        uuid,
    available_quantity integer NOT NULL DEFAULT 0,
    reserved_quantity  integer NOT NULL DEFAULT 0,
    total_quantity     integer GENERATED ALWAYS AS (available_quantity + reserved_quantity) STORED,
    reorder_point      integer NOT NULL DEFAULT 10
                       CONSTRAINT inventory_reorder_point CHECK (reorder_point >= 0),
    reorder_quantity   integer NOT NULL DEFAULT 50
                       CONSTRAINT inventory_reorder_quantity CHECK (reorder_quantity > 0),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT inventory_product_key UNIQUE (organization_id, product_id),
    -- The last line of defence against overselling: no update may take stock below zero.
    CONSTRAINT inventory_available_nonnegative CHECK (available_quantity >= 0),
    CONSTRAINT inventory_reserved_nonnegative CHECK (reserved_quantity >= 0),
    CONSTRAINT inventory_category_fk FOREIGN KEY (organization_id, category_id)
        REFERENCES inventory_categories (organization_id, id),
    CONSTRAINT inventory_supplier_fk FOREIGN KEY (organization_id, supplier_id)
        REFERENCES inventory_suppliers (organization_id, id)
);
-- The admin list's sort by available stock, and its low-stock filter.
CREATE INDEX inventory_available_idx ON inventory (organization_id, available_quantity);

CREATE TABLE inventory_reservations (
    organization_id uuid NOT NULL REFERENCES identity.organizations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    inventory_id    uuid NOT NULL,
    product_id      uuid NOT NULL,
    user_id         uuid NOT NULL,
    order_id        uuid,
    quantity        integer NOT NULL CONSTRAINT inventory_reservations_quantity CHECK (quantity > 0),
    status          text NOT NULL DEFAULT 'active'
                    CONSTRAINT inventory_reservations_status
                    CHECK (status IN ('active', 'committed', 'released', 'expired', 'fulfilled')),
    expires_at      timestamptz NOT NULL DEFAULT now() + interval '5 minutes',
    created_at      timestamptz NOT NULL DEFAULT now(),
    closed_at       timestamptz,
    PRIMARY KEY (organization_id, id),
    CONSTRAINT inventory_reservations_inventory_fk FOREIGN KEY (organization_id, inventory_id)
        REFERENCES inventory (organization_id, id),
    CONSTRAINT inventory_reservations_user_fk FOREIGN KEY (organization_id, user_id)
        REFERENCES identity.users (organization_id, id)
);
-- The per-user limit's count, and the cleanup's scan of what has expired.
CREATE INDEX inventory_reservations_user_product_idx
    ON inventory_reservations (organization_id, user_id, product_id) WHERE status = 'active';
CREATE INDEX inventory_reservations_expiry_idx
    ON inventory_reservations (expires_at) WHERE status = 'active';
CREATE INDEX inventory_reservations_order_idx
    ON inventory_reservations (organization_id, order_id) WHERE order_id IS NOT NULL;

CREATE TABLE inventory_movements (
    organization_id  uuid NOT NULL REFERENCES identity.organizations (id),
    id               bigint GENERATED ALWAYS AS IDENTITY,
    inventory_id     uuid NOT NULL,
    product_id       uuid NOT NULL,
    movement_type    text NOT NULL CONSTRAINT inventory_movements_type
                     CHECK (movement_type IN ('reserve', 'release', 'expire', 'fulfil', 'adjust',
                                              'restock', 'initial')),
    available_change integer NOT NULL,
    reserved_change  integer NOT NULL,
    available_after  integer NOT NULL,
    reserved_after   integer NOT NULL,
    reference_type   text,
    reference_id     uuid,
    reason           text CONSTRAINT inventory_movements_reason_length CHECK (length(reason) <= 500),
    actor_id         uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT inventory_movements_inventory_fk FOREIGN KEY (organization_id, inventory_id)
        REFERENCES inventory (organization_id, id)
);
CREATE INDEX inventory_movements_inventory_idx
    ON inventory_movements (organization_id, inventory_id, created_at);
CREATE INDEX inventory_movements_created_idx ON inventory_movements (organization_id, created_at);

CREATE TABLE inventory_alerts (
    organization_id    uuid NOT NULL REFERENCES identity.organizations (id),
    id                 uuid NOT NULL DEFAULT gen_random_uuid(),
    inventory_id       uuid NOT NULL,
    product_id         uuid NOT NULL,
    alert_type         text NOT NULL CONSTRAINT inventory_alerts_type
                       CHECK (alert_type IN ('low_stock', 'out_of_stock')),
    available_quantity integer NOT NULL,
    threshold          integer NOT NULL,
    status             text NOT NULL DEFAULT 'open'
                       CONSTRAINT inventory_alerts_status CHECK (status IN ('open', 'resolved')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    resolved_at        timestamptz,
    PRIMARY KEY (organization_id, id),
    CONSTRAINT inventory_alerts_inventory_fk FOREIGN KEY (organization_id, inventory_id)
        REFERENCES inventory (organization_id, id)
);
-- At most one open alert of a kind per item: the trigger inserts ON CONFLICT DO NOTHING.
CREATE UNIQUE INDEX inventory_alerts_open_key
    ON inventory_alerts (organization_id, inventory_id, alert_type) WHERE status = 'open';
CREATE INDEX inventory_alerts_created_idx ON inventory_alerts (organization_id, created_at);

CREATE TABLE inventory_analytics (
    organization_id uuid NOT NULL REFERENCES identity.organizations (id),
    inventory_id    uuid NOT NULL,
    day             date NOT NULL,
    product_id      uuid NOT NULL,
    reserved_units  integer NOT NULL DEFAULT 0,
    released_units  integer NOT NULL DEFAULT 0,
    fulfilled_units integer NOT NULL DEFAULT 0,
    adjusted_units  integer NOT NULL DEFAULT 0,
    movements       integer NOT NULL DEFAULT 0,
    closing_available integer NOT NULL,
    PRIMARY KEY (organization_id, inventory_id, day),
    CONSTRAINT inventory_analytics_inventory_fk FOREIGN KEY (organization_id, inventory_id)
        REFERENCES inventory (organization_id, id)
);
