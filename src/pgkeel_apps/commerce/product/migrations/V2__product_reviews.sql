-- The product service (seed 002, V2): customer reviews. A review is written by an identity
-- user of the product's organization, one per user and product; it is shown once approved,
-- and marked verified when the reviewer bought the product. The product's average rating and
-- review count follow the approved reviews (kept by a trigger, in the same transaction).
CREATE TABLE product_reviews (
    organization_id uuid NOT NULL,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    product_id      uuid NOT NULL,
    user_id         uuid NOT NULL,
    rating          smallint NOT NULL CONSTRAINT product_reviews_rating_range CHECK (rating BETWEEN 1 AND 5),
    title           text CONSTRAINT product_reviews_title_length CHECK (length(title) <= 200),
    body            text CONSTRAINT product_reviews_body_length CHECK (length(body) <= 5000),
    is_verified     boolean NOT NULL DEFAULT false,
    is_approved     boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT product_reviews_one_per_user UNIQUE (organization_id, product_id, user_id),
    CONSTRAINT product_reviews_product_fk FOREIGN KEY (organization_id, product_id)
        REFERENCES products (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT product_reviews_user_fk FOREIGN KEY (organization_id, user_id)
        REFERENCES identity.users (organization_id, id)
);
CREATE INDEX idx_product_reviews_approved ON product_reviews (organization_id, product_id, created_at)
    WHERE is_approved;
CREATE INDEX idx_product_reviews_org_created ON product_reviews (organization_id, created_at);

CREATE FUNCTION product_reviews_rating() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    target record;
BEGIN
    FOR target IN
        SELECT DISTINCT r.organization_id, r.product_id
        FROM (SELECT NEW.organization_id, NEW.product_id WHERE TG_OP <> 'DELETE'
              UNION ALL
              SELECT OLD.organization_id, OLD.product_id WHERE TG_OP <> 'INSERT')
             AS r (organization_id, product_id)
    LOOP
        UPDATE product.products p
        SET average_rating = s.average, review_count = s.n
        FROM (SELECT round(avg(rating), 2) AS average, count(*)::integer AS n
              FROM product.product_reviews
              WHERE organization_id = target.organization_id
                AND product_id = target.product_id AND is_approved) AS s
        WHERE p.organization_id = target.organization_id AND p.id = target.product_id;
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER product_reviews_rating AFTER INSERT OR DELETE OR UPDATE OF rating, is_approved
    ON product_reviews FOR EACH ROW EXECUTE FUNCTION product_reviews_rating();

ALTER TABLE "product"."product_reviews" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "product"."product_reviews" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "pgkeel_tenant" ON "product"."product_reviews";
CREATE POLICY "pgkeel_tenant" ON "product"."product_reviews"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));
