-- The product service (seed 002, V3): a product's images, in display order. At most one
-- image per product is primary (a partial unique index); and a product with images has
-- exactly one primary at every commit (a deferred constraint trigger), so promoting another
-- image is: unset the old one, set the new one, in one transaction.
CREATE TABLE product_images (
    organization_id uuid NOT NULL,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    product_id      uuid NOT NULL,
    url             text NOT NULL
                    CONSTRAINT product_images_url_format CHECK (url ~ '^https?://' AND length(url) <= 2000),
    alt_text        text CONSTRAINT product_images_alt_text_length CHECK (length(alt_text) <= 300),
    sort_order      integer NOT NULL DEFAULT 0
                    CONSTRAINT product_images_sort_order_not_negative CHECK (sort_order >= 0),
    is_primary      boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT product_images_product_fk FOREIGN KEY (organization_id, product_id)
        REFERENCES products (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_product_images_order ON product_images (organization_id, product_id, sort_order);
CREATE UNIQUE INDEX product_images_one_primary ON product_images (organization_id, product_id)
    WHERE is_primary;

CREATE FUNCTION product_images_primary_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    org uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD.organization_id ELSE NEW.organization_id END;
    product uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD.product_id ELSE NEW.product_id END;
BEGIN
    IF EXISTS (SELECT 1 FROM product.product_images
               WHERE organization_id = org AND product_id = product)
       AND NOT EXISTS (SELECT 1 FROM product.product_images
                       WHERE organization_id = org AND product_id = product AND is_primary) THEN
        RAISE EXCEPTION 'product % has images but no primary image', product
            USING ERRCODE = '23514', CONSTRAINT = 'product_images_one_primary';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER product_images_primary_check
    AFTER INSERT OR UPDATE OR DELETE ON product_images
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION product_images_primary_check();

ALTER TABLE "product"."product_images" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "product"."product_images" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "pgkeel_tenant" ON "product"."product_images";
CREATE POLICY "pgkeel_tenant" ON "product"."product_images"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));
