-- The customer-tags feature (seed 000). Tags belong to an organization; a customer is an
-- identity user of the same organization (the composite foreign keys make a cross-tenant
-- assignment impossible).
CREATE TABLE customer_tags (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES identity.organizations (id),
    name            text NOT NULL
                    CONSTRAINT customer_tags_name_length CHECK (length(name) BETWEEN 1 AND 50),
    color           text NOT NULL
                    CONSTRAINT customer_tags_color_hex CHECK (color ~ '^#[0-9A-Fa-f]{6}$'),
    description     text CONSTRAINT customer_tags_description_length
                    CHECK (length(description) <= 500),
    is_active       boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customer_tags_org_id_key UNIQUE (organization_id, id)
);

CREATE TABLE customer_tag_assignments (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL,
    customer_id     uuid NOT NULL,
    tag_id          uuid NOT NULL,
    assigned_by     uuid NOT NULL,
    assigned_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT "customerId_tagId" UNIQUE (customer_id, tag_id),
    CONSTRAINT customer_tag_assignments_customer_fk FOREIGN KEY (organization_id, customer_id)
        REFERENCES identity.users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT customer_tag_assignments_tag_fk FOREIGN KEY (organization_id, tag_id)
        REFERENCES customer_tags (organization_id, id) ON DELETE CASCADE
);
