-- The car inventory (seed 003): cars with their images, features and specifications.
-- Tenant-led: organization_id leads every primary key, unique constraint and foreign key
-- between these tables, so a row can never point into another organization.
--
-- status is the report's enum as a CHECK constraint: a new value is a one-line migration
-- that can also be undone (an enum type's values cannot be dropped).
CREATE TABLE cars (
    organization_id  uuid NOT NULL REFERENCES identity.organizations (id),
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    slug             text NOT NULL
                     CONSTRAINT cars_slug_format CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'
                                                        AND length(slug) <= 120),
    brand            text NOT NULL CONSTRAINT cars_brand_length CHECK (length(brand) BETWEEN 1 AND 60),
    model            text NOT NULL CONSTRAINT cars_model_length CHECK (length(model) BETWEEN 1 AND 80),
    year             integer NOT NULL CONSTRAINT cars_year_range CHECK (year BETWEEN 1900 AND 2100),
    price_eur        numeric(12, 2) NOT NULL CONSTRAINT cars_price_positive CHECK (price_eur >= 0),
    mileage_km       integer NOT NULL DEFAULT 0 CONSTRAINT cars_mileage_positive CHECK (mileage_km >= 0),
    fuel             text NOT NULL DEFAULT 'PETROL'
                     CONSTRAINT cars_fuel_valid CHECK (fuel IN ('PETROL', 'DIESEL', 'HYBRID',
                                                               'ELECTRIC', 'LPG')),
    transmission     text NOT NULL DEFAULT 'MANUAL'
                     CONSTRAINT cars_transmission_valid CHECK (transmission IN ('MANUAL', 'AUTOMATIC')),
    category         text NOT NULL DEFAULT 'SEDAN'
                     CONSTRAINT cars_category_valid CHECK (category IN ('SEDAN', 'HATCHBACK', 'SUV',
                                                           'WAGON', 'COUPE', 'CONVERTIBLE', 'VAN',
                                                           'PICKUP')),
    color            text CONSTRAINT cars_color_length CHECK (length(color) <= 40),
    description      text CONSTRAINT cars_description_length CHECK (length(description) <= 10000),
    status           text NOT NULL DEFAULT 'AVAILABLE'
                     CONSTRAINT cars_status_valid CHECK (status IN ('DRAFT', 'AVAILABLE', 'RESERVED',
                                                         'SOLD', 'COMING_SOON')),
    is_featured      boolean NOT NULL DEFAULT false,
    meta_title       text CONSTRAINT cars_meta_title_length CHECK (length(meta_title) <= 70),
    meta_description text CONSTRAINT cars_meta_description_length CHECK (length(meta_description) <= 160),
    view_count       bigint NOT NULL DEFAULT 0,
    -- Full-text search: brand and model weigh most, then year and category, then the text.
    search_vector    tsvector GENERATED ALWAYS AS (
                         setweight(to_tsvector('simple', brand), 'A')
                         || setweight(to_tsvector('simple', model), 'A')
                         || setweight(to_tsvector('simple', year::text), 'B')
                         || setweight(to_tsvector('simple', lower(category)), 'B')
                         || setweight(to_tsvector('simple', coalesce(color, '')), 'C')
                         || setweight(to_tsvector('simple', coalesce(description, '')), 'D')
                     ) STORED,
    deleted_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    version          integer NOT NULL DEFAULT 1,
    PRIMARY KEY (organization_id, id)
);

-- The report's indexes, each led by the tenant column.
CREATE UNIQUE INDEX idx_cars_slug ON cars (organization_id, slug);
CREATE INDEX idx_cars_brand ON cars (organization_id, brand);
CREATE INDEX idx_cars_status ON cars (organization_id, status) WHERE deleted_at IS NULL;
CREATE INDEX idx_cars_category ON cars (organization_id, category) WHERE deleted_at IS NULL;
CREATE INDEX idx_cars_featured ON cars (organization_id, created_at DESC)
    WHERE is_featured AND deleted_at IS NULL;
CREATE INDEX idx_cars_price ON cars (organization_id, price_eur, id);
CREATE INDEX idx_cars_year ON cars (organization_id, year, id);
CREATE INDEX idx_cars_created_at ON cars (organization_id, created_at DESC, id DESC);
-- Search: the weighted tsvector, and trigrams on brand and model for typos.
CREATE INDEX idx_cars_search_vector ON cars USING gin (search_vector);
DO $$
DECLARE trgm text := (SELECT extnamespace::regnamespace::text FROM pg_extension
                      WHERE extname = 'pg_trgm');
BEGIN
    IF trgm IS NULL THEN
        CREATE EXTENSION pg_trgm;
        trgm := (SELECT extnamespace::regnamespace::text FROM pg_extension
                 WHERE extname = 'pg_trgm');
    END IF;
    EXECUTE format('CREATE INDEX idx_cars_brand_trgm ON dealership.cars USING gin (lower(brand) %I.gin_trgm_ops)', trgm);
    EXECUTE format('CREATE INDEX idx_cars_model_trgm ON dealership.cars USING gin (lower(model) %I.gin_trgm_ops)', trgm);
END
$$;

CREATE TABLE car_images (
    organization_id uuid NOT NULL,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    car_id          uuid NOT NULL,
    url             text NOT NULL CONSTRAINT car_images_url_format CHECK (url ~ '^https?://' AND length(url) <= 2000),
    alt_text        text CONSTRAINT car_images_alt_length CHECK (length(alt_text) <= 200),
    sort_order      integer NOT NULL DEFAULT 0,
    is_primary      boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT car_images_car_fk FOREIGN KEY (organization_id, car_id)
        REFERENCES cars (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_car_images_car ON car_images (organization_id, car_id, sort_order);
-- One primary image per car.
CREATE UNIQUE INDEX idx_car_images_primary ON car_images (organization_id, car_id) WHERE is_primary;

CREATE TABLE car_features (
    organization_id uuid NOT NULL,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    car_id          uuid NOT NULL,
    feature         text NOT NULL CONSTRAINT car_features_length CHECK (length(feature) BETWEEN 1 AND 200),
    sort_order      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, id),
    CONSTRAINT car_features_car_fk FOREIGN KEY (organization_id, car_id)
        REFERENCES cars (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_car_features_car ON car_features (organization_id, car_id, sort_order);

CREATE TABLE car_specifications (
    organization_id uuid NOT NULL,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    car_id          uuid NOT NULL,
    label           text NOT NULL CONSTRAINT car_specifications_label_length CHECK (length(label) BETWEEN 1 AND 100),
    value           text NOT NULL CONSTRAINT car_specifications_value_length CHECK (length(value) BETWEEN 1 AND 500),
    sort_order      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, id),
    CONSTRAINT car_specifications_car_fk FOREIGN KEY (organization_id, car_id)
        REFERENCES cars (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_car_specifications_car ON car_specifications (organization_id, car_id, sort_order);

-- Public pages are anonymous: the dealer (an organization) is named by its slug in the URL.
-- The slug is resolved before any organization is in context, so through a narrow
-- SECURITY DEFINER function, like identity's login look-up (identity V11).
CREATE FUNCTION dealership.dealer_id(p_slug text) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT o.id FROM identity.organizations AS o WHERE o.slug = p_slug
$$;
REVOKE ALL ON FUNCTION dealership.dealer_id(text) FROM PUBLIC;
