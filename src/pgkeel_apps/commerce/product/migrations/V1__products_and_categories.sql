-- The product service (seed 002, V1): a category tree and the product catalog.
-- Every table is tenant-led: organization_id leads each primary key, unique constraint and
-- foreign key, so the catalog can be distributed by organization.
--
-- pg_trgm may already live in another schema (the first app to need it installed it): put
-- that schema on this file's search_path, so the trigram operator class resolves wherever it is.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
SELECT set_config('search_path', 'product, public, '
                  || (SELECT quote_ident(extnamespace::regnamespace::text)
                      FROM pg_extension WHERE extname = 'pg_trgm'), true);

CREATE TABLE categories (
    organization_id uuid NOT NULL REFERENCES identity.organizations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    parent_id       uuid,
    name            text NOT NULL
                    CONSTRAINT categories_name_length CHECK (length(name) BETWEEN 1 AND 100),
    slug            text NOT NULL
                    CONSTRAINT categories_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,99}$'),
    description     text CONSTRAINT categories_description_length CHECK (length(description) <= 2000),
    sort_order      integer NOT NULL DEFAULT 0,
    is_active       boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT categories_org_slug_key UNIQUE (organization_id, slug),
    CONSTRAINT categories_not_own_parent CHECK (parent_id <> id),
    CONSTRAINT categories_parent_fk FOREIGN KEY (organization_id, parent_id)
        REFERENCES categories (organization_id, id)
);
CREATE INDEX idx_categories_org_parent ON categories (organization_id, parent_id, sort_order);

-- A category may not become its own ancestor: moving it under one of its descendants is
-- refused (the recursive walk follows parents from the new parent up to the root).
CREATE FUNCTION categories_no_cycle() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.parent_id IS NOT NULL AND EXISTS (
        WITH RECURSIVE up AS (
            SELECT c.id, c.parent_id FROM product.categories c
            WHERE c.organization_id = NEW.organization_id AND c.id = NEW.parent_id
            UNION ALL
            SELECT c.id, c.parent_id FROM product.categories c
            JOIN up ON c.organization_id = NEW.organization_id AND c.id = up.parent_id
        ) CYCLE id SET is_cycle USING path
        SELECT 1 FROM up WHERE up.id = NEW.id) THEN
        RAISE EXCEPTION 'category % cannot be moved under its own descendant %', NEW.id, NEW.parent_id
            USING ERRCODE = '23514', CONSTRAINT = 'categories_no_cycle';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER categories_no_cycle BEFORE UPDATE OF parent_id ON categories
    FOR EACH ROW EXECUTE FUNCTION categories_no_cycle();

-- to_tsvector over a text[] needs an immutable text: array_to_string is only STABLE in
-- general, but immutable for text elements.
CREATE FUNCTION tags_text(tags text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT array_to_string(tags, ' ') $$;

CREATE TABLE products (
    organization_id     uuid NOT NULL REFERENCES identity.organizations (id),
    id                  uuid NOT NULL DEFAULT gen_random_uuid(),
    sku                 text NOT NULL
                        CONSTRAINT products_sku_format CHECK (sku ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    name                text NOT NULL
                        CONSTRAINT products_name_length CHECK (length(name) BETWEEN 1 AND 200),
    description         text CONSTRAINT products_description_length CHECK (length(description) <= 10000),
    category_id         uuid,
    price               numeric(12, 2) NOT NULL CONSTRAINT products_price_positive CHECK (price > 0),
    stock_quantity      integer NOT NULL DEFAULT 0
                        CONSTRAINT products_stock_not_negative CHECK (stock_quantity >= 0),
    low_stock_threshold integer NOT NULL DEFAULT 10
                        CONSTRAINT products_low_stock_threshold_not_negative CHECK (low_stock_threshold >= 0),
    is_active           boolean NOT NULL DEFAULT true,
    metadata            jsonb NOT NULL DEFAULT '{}'
                        CONSTRAINT products_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
    tags                text[] NOT NULL DEFAULT '{}'
                        CONSTRAINT products_tags_limit CHECK (cardinality(tags) <= 20),
    average_rating      numeric(3, 2),
    review_count        integer NOT NULL DEFAULT 0,
    search_vector       tsvector GENERATED ALWAYS AS (
                            setweight(to_tsvector('english', name), 'A')
                            || setweight(to_tsvector('english', tags_text(tags)), 'B')
                            || setweight(to_tsvector('english', coalesce(description, '')), 'C')
                        ) STORED,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    version             integer NOT NULL DEFAULT 1,
    PRIMARY KEY (organization_id, id),
    CONSTRAINT products_org_sku_key UNIQUE (organization_id, sku),
    CONSTRAINT products_category_fk FOREIGN KEY (organization_id, category_id)
        REFERENCES categories (organization_id, id)
);

-- The report's composite indexes (category + active, price + stock) ...
CREATE INDEX idx_products_category_active ON products (organization_id, category_id, is_active);
CREATE INDEX idx_products_price_stock ON products (organization_id, price, stock_quantity);
-- ... its partial indexes (active + in stock, low-stock alerts) ...
CREATE INDEX idx_products_active_in_stock ON products (organization_id, created_at)
    WHERE is_active AND stock_quantity > 0;
CREATE INDEX idx_products_low_stock ON products (organization_id, stock_quantity)
    WHERE is_active AND stock_quantity <= low_stock_threshold;
-- ... full-text search (the weighted generated tsvector), trigram matching on the name, tags
-- and metadata containment ...
CREATE INDEX idx_products_search ON products USING gin (search_vector);
CREATE INDEX idx_products_name_trgm ON products USING gin (name gin_trgm_ops);
CREATE INDEX idx_products_tags ON products USING gin (tags);
CREATE INDEX idx_products_metadata ON products USING gin (metadata jsonb_path_ops);
-- ... and the list endpoint's sorts within an organization.
CREATE INDEX idx_products_org_name ON products (organization_id, name);
CREATE INDEX idx_products_org_created ON products (organization_id, created_at);
CREATE INDEX idx_products_org_rating ON products (organization_id, average_rating);
CREATE INDEX idx_products_org_stock ON products (organization_id, stock_quantity);

ALTER TABLE "product"."categories" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "product"."categories" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "pgkeel_tenant" ON "product"."categories";
CREATE POLICY "pgkeel_tenant" ON "product"."categories"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));

ALTER TABLE "product"."products" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "product"."products" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "pgkeel_tenant" ON "product"."products";
CREATE POLICY "pgkeel_tenant" ON "product"."products"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));
