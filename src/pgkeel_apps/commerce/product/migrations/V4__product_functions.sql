-- The product service (seed 002, V4): the report's functions, and the recursive category
-- walks they use. All run as the caller (SECURITY INVOKER), so row-level security limits them
-- to the caller's organization like any query.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
SELECT set_config('search_path', 'product, public, '
                  || (SELECT quote_ident(extnamespace::regnamespace::text)
                      FROM pg_extension WHERE extname = 'pg_trgm'), true);

-- A category and its ancestors up to the root: depth 0 is the category itself.
CREATE FUNCTION category_ancestors(p_category_id uuid)
RETURNS TABLE (id uuid, parent_id uuid, name text, slug text, depth integer)
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    WITH RECURSIVE up AS (
        SELECT c.organization_id, c.id, c.parent_id, c.name, c.slug, 0 AS depth
        FROM product.categories c WHERE c.id = p_category_id
        UNION ALL
        SELECT c.organization_id, c.id, c.parent_id, c.name, c.slug, up.depth + 1
        FROM product.categories c
        JOIN up ON c.organization_id = up.organization_id AND c.id = up.parent_id
    ) CYCLE id SET is_cycle USING path
    SELECT id, parent_id, name, slug, depth FROM up WHERE NOT is_cycle ORDER BY depth
$$;

-- A category and every category below it: depth 0 is the category itself.
CREATE FUNCTION category_descendants(p_category_id uuid)
RETURNS TABLE (id uuid, parent_id uuid, name text, slug text, depth integer)
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    WITH RECURSIVE down AS (
        SELECT c.organization_id, c.id, c.parent_id, c.name, c.slug, 0 AS depth
        FROM product.categories c WHERE c.id = p_category_id
        UNION ALL
        SELECT c.organization_id, c.id, c.parent_id, c.name, c.slug, down.depth + 1
        FROM product.categories c
        JOIN down ON c.organization_id = down.organization_id AND c.parent_id = down.id
    ) CYCLE id SET is_cycle USING path
    SELECT id, parent_id, name, slug, depth FROM down WHERE NOT is_cycle ORDER BY depth, name, id
$$;

-- One product with everything its page shows: the product, its category path (root first),
-- its images in order (primary first), its rating summary and its five latest approved
-- reviews. NULL for an unknown product.
CREATE FUNCTION get_product_details(p_product_id uuid)
RETURNS jsonb
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    SELECT jsonb_build_object(
        'id', p.id, 'organizationId', p.organization_id, 'sku', p.sku, 'name', p.name,
        'description', p.description, 'categoryId', p.category_id,
        'price', p.price::text, 'stockQuantity', p.stock_quantity,
        'lowStockThreshold', p.low_stock_threshold, 'inStock', p.stock_quantity > 0,
        'isActive', p.is_active, 'metadata', p.metadata, 'tags', to_jsonb(p.tags),
        'averageRating', p.average_rating::text, 'reviewCount', p.review_count,
        'createdAt', p.created_at, 'updatedAt', p.updated_at, 'version', p.version,
        'categoryPath', COALESCE((
            SELECT jsonb_agg(jsonb_build_object('id', a.id, 'name', a.name, 'slug', a.slug)
                             ORDER BY a.depth DESC)
            FROM product.category_ancestors(p.category_id) a), '[]'::jsonb),
        'images', COALESCE((
            SELECT jsonb_agg(jsonb_build_object('id', i.id, 'url', i.url, 'altText', i.alt_text,
                                                'sortOrder', i.sort_order,
                                                'isPrimary', i.is_primary)
                             ORDER BY i.is_primary DESC, i.sort_order, i.id)
            FROM product.product_images i
            WHERE i.organization_id = p.organization_id AND i.product_id = p.id), '[]'::jsonb),
        'ratingDistribution', (
            SELECT jsonb_build_object('1', count(*) FILTER (WHERE r.rating = 1),
                                      '2', count(*) FILTER (WHERE r.rating = 2),
                                      '3', count(*) FILTER (WHERE r.rating = 3),
                                      '4', count(*) FILTER (WHERE r.rating = 4),
                                      '5', count(*) FILTER (WHERE r.rating = 5))
            FROM product.product_reviews r
            WHERE r.organization_id = p.organization_id AND r.product_id = p.id
              AND r.is_approved),
        'recentReviews', COALESCE((
            SELECT jsonb_agg(jsonb_build_object('id', r.id, 'userId', r.user_id,
                                                'rating', r.rating, 'title', r.title,
                                                'body', r.body, 'isVerified', r.is_verified,
                                                'createdAt', r.created_at)
                             ORDER BY r.created_at DESC, r.id)
            FROM (SELECT * FROM product.product_reviews r
                  WHERE r.organization_id = p.organization_id AND r.product_id = p.id
                    AND r.is_approved
                  ORDER BY r.created_at DESC, r.id LIMIT 5) r), '[]'::jsonb))
    FROM product.products p
    WHERE p.id = p_product_id
$$;

-- Ranked search over active products: full-text matches (weighted: name A, tags B,
-- description C) rank first by ts_rank_cd; names that only match by trigram similarity
-- (typos: 'keybord') follow, ranked by similarity. Optional filters: a category and all its
-- subcategories, a price range, in stock only.
CREATE FUNCTION search_products(p_query text, p_category_id uuid DEFAULT NULL,
                                p_min_price numeric DEFAULT NULL,
                                p_max_price numeric DEFAULT NULL,
                                p_in_stock boolean DEFAULT false,
                                p_limit integer DEFAULT 20, p_offset integer DEFAULT 0)
RETURNS TABLE (id uuid, sku text, name text, price numeric, category_id uuid,
               stock_quantity integer, tags text[], average_rating numeric, rank real)
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    WITH q AS (SELECT websearch_to_tsquery('english', p_query) AS query),
    scoped AS (
        SELECT p.*, (p.search_vector @@ q.query) AS text_match,
               ts_rank_cd(p.search_vector, q.query) AS text_rank,
               similarity(p.name, p_query) AS name_similarity
        FROM product.products p, q
        WHERE p.is_active
          AND (p.search_vector @@ q.query OR p.name % p_query)
          AND (p_category_id IS NULL OR p.category_id IN (
                   SELECT d.id FROM product.category_descendants(p_category_id) d))
          AND (p_min_price IS NULL OR p.price >= p_min_price)
          AND (p_max_price IS NULL OR p.price <= p_max_price)
          AND (NOT p_in_stock OR p.stock_quantity > 0)
    )
    SELECT s.id, s.sku, s.name, s.price, s.category_id, s.stock_quantity, s.tags,
           s.average_rating,
           (CASE WHEN s.text_match THEN 1 + s.text_rank ELSE s.name_similarity END)::real
    FROM scoped s
    ORDER BY 9 DESC, s.id
    LIMIT least(greatest(p_limit, 1), 100) OFFSET greatest(p_offset, 0)
$$;
