-- The order service (e-commerce report, V2): orders, their items, a status history written by
-- a trigger, notes and fulfilment. Money is numeric(12,2): exact, never float. Events go to
-- pgkeel's outbox (schema outbox) and idempotency keys to pgkeel's idempotency schema, in the
-- order's own transaction, instead of per-service copies of those tables.
CREATE TABLE orders (
    organization_id  uuid NOT NULL REFERENCES identity.organizations (id),
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    order_number     bigint GENERATED ALWAYS AS IDENTITY,
    user_id          uuid NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CONSTRAINT orders_status CHECK (status IN (
                         'pending', 'confirmed', 'shipped', 'delivered', 'cancelled', 'expired')),
    currency         text NOT NULL DEFAULT 'USD'
                     CONSTRAINT orders_currency CHECK (currency ~ '^[A-Z]{3}$'),
    subtotal         numeric(12,2) NOT NULL CONSTRAINT orders_subtotal CHECK (subtotal >= 0),
    tax_amount       numeric(12,2) NOT NULL DEFAULT 0 CONSTRAINT orders_tax CHECK (tax_amount >= 0),
    shipping_amount  numeric(12,2) NOT NULL DEFAULT 0
                     CONSTRAINT orders_shipping CHECK (shipping_amount >= 0),
    discount_amount  numeric(12,2) NOT NULL DEFAULT 0
                     CONSTRAINT orders_discount CHECK (discount_amount >= 0),
    total_amount     numeric(12,2) NOT NULL,
    item_count       integer NOT NULL CONSTRAINT orders_item_count CHECK (item_count > 0),
    shipping_address jsonb CONSTRAINT orders_shipping_address_object
                     CHECK (shipping_address IS NULL OR jsonb_typeof(shipping_address) = 'object'),
    expires_at       timestamptz NOT NULL DEFAULT now() + interval '30 minutes',
    cancel_reason    text CONSTRAINT orders_cancel_reason_length CHECK (length(cancel_reason) <= 500),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT orders_user_fk FOREIGN KEY (organization_id, user_id)
        REFERENCES identity.users (organization_id, id),
    CONSTRAINT orders_total_consistent
        CHECK (total_amount = subtotal + tax_amount + shipping_amount - discount_amount),
    -- The report's business rules, as constraints (the trigger names the same rules first).
    CONSTRAINT order_min_amount CHECK (total_amount >= 10.00),
    CONSTRAINT order_max_amount CHECK (total_amount <= 10000.00),
    CONSTRAINT order_max_items CHECK (item_count <= 50),
    CONSTRAINT order_timeout CHECK (expires_at <= created_at + interval '30 minutes')
);
CREATE INDEX orders_user_created_idx ON orders (organization_id, user_id, created_at);
CREATE INDEX orders_created_idx ON orders (organization_id, created_at);
CREATE INDEX orders_status_created_idx ON orders (organization_id, status, created_at);
CREATE INDEX orders_pending_user_idx ON orders (organization_id, user_id) WHERE status = 'pending';
CREATE INDEX orders_pending_expiry_idx ON orders (expires_at) WHERE status = 'pending';

CREATE TABLE order_items (
    organization_id uuid NOT NULL REFERENCES identity.organizations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    order_id        uuid NOT NULL,
    product_id      uuid NOT NULL,
    product_name    text NOT NULL CONSTRAINT order_items_name_length CHECK (length(product_name) <= 500),
    sku             text CONSTRAINT order_items_sku_length CHECK (length(sku) <= 64),
    quantity        integer NOT NULL CONSTRAINT order_items_quantity CHECK (quantity BETWEEN 1 AND 50),
    unit_price      numeric(12,2) NOT NULL CONSTRAINT order_items_unit_price CHECK (unit_price >= 0),
    tax_amount      numeric(12,2) NOT NULL DEFAULT 0 CONSTRAINT order_items_tax CHECK (tax_amount >= 0),
    discount_amount numeric(12,2) NOT NULL DEFAULT 0
                    CONSTRAINT order_items_discount CHECK (discount_amount >= 0),
    line_total      numeric(12,2) NOT NULL,
    reservation_id  uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT order_items_order_fk FOREIGN KEY (organization_id, order_id)
        REFERENCES orders (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT order_items_product_key UNIQUE (organization_id, order_id, product_id),
    CONSTRAINT order_items_line_total
        CHECK (line_total = quantity * unit_price + tax_amount - discount_amount)
);

CREATE TABLE order_status_history (
    organization_id uuid NOT NULL REFERENCES identity.organizations (id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    order_id        uuid NOT NULL,
    from_status     text,
    to_status       text NOT NULL,
    reason          text,
    changed_by      uuid,
    changed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT order_status_history_order_fk FOREIGN KEY (organization_id, order_id)
        REFERENCES orders (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX order_status_history_order_idx ON order_status_history (organization_id, order_id, id);

CREATE TABLE order_notes (
    organization_id uuid NOT NULL REFERENCES identity.organizations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    order_id        uuid NOT NULL,
    author_id       uuid NOT NULL,
    body            text NOT NULL CONSTRAINT order_notes_body_length CHECK (length(body) BETWEEN 1 AND 2000),
    is_internal     boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT order_notes_order_fk FOREIGN KEY (organization_id, order_id)
        REFERENCES orders (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT order_notes_author_fk FOREIGN KEY (organization_id, author_id)
        REFERENCES identity.users (organization_id, id)
);
CREATE INDEX order_notes_order_idx ON order_notes (organization_id, order_id, created_at);

CREATE TABLE order_fulfillment (
    organization_id  uuid NOT NULL REFERENCES identity.organizations (id),
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    order_id         uuid NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CONSTRAINT order_fulfillment_status
                     CHECK (status IN ('pending', 'shipped', 'delivered', 'returned')),
    carrier          text CONSTRAINT order_fulfillment_carrier_length CHECK (length(carrier) <= 100),
    tracking_number  text CONSTRAINT order_fulfillment_tracking_length
                     CHECK (length(tracking_number) <= 100),
    shipping_address jsonb,
    shipped_at       timestamptz,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT order_fulfillment_order_key UNIQUE (organization_id, order_id),
    CONSTRAINT order_fulfillment_order_fk FOREIGN KEY (organization_id, order_id)
        REFERENCES orders (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT order_fulfillment_dates CHECK (delivered_at IS NULL OR shipped_at <= delivered_at)
);
