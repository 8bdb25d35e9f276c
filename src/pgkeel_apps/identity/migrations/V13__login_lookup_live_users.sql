-- Login looks up live users only: with email unique among live users (V12), a deleted user
-- may share a live user's address, and must never be the one found.
CREATE OR REPLACE FUNCTION identity.login_lookup(p_organization text, p_email text)
RETURNS TABLE (organization_id uuid, user_id uuid, password_hash text, can_log_in boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT o.id, u.id, u.password_hash,
           COALESCE(u.is_active AND u.status = 'active', false)
    FROM identity.organizations AS o
    LEFT JOIN identity.users AS u
           ON u.organization_id = o.id AND u.email = p_email AND u.deleted_at IS NULL
    WHERE o.slug = p_organization
    LIMIT 1
$$;
