-- The pre-tenant path: the two look-ups that run before the organization is known, and so
-- cannot go through row-level security (which shows nothing without `pgkeel.org_id`).
-- Each is a narrow SECURITY DEFINER function: it runs as the schema's owner, answers one
-- question for one key, returns only what the caller needs next, and has a fixed
-- search_path (pg_catalog, then pg_temp last) with every name schema-qualified, so a caller
-- cannot plant objects that capture the call. EXECUTE is revoked from PUBLIC; the service's
-- app role gets it from `pgkeel db roles`.

-- Login: the organization for a slug and, when the email exists in it, the account. Returns
-- at most one row (none for an unknown slug). The caller verifies the password and continues
-- inside use_context(org_id=organization_id).
CREATE FUNCTION identity.login_lookup(p_organization text, p_email text)
RETURNS TABLE (organization_id uuid, user_id uuid, password_hash text, can_log_in boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT o.id, u.id, u.password_hash,
           COALESCE(u.is_active AND u.status = 'active' AND u.deleted_at IS NULL, false)
    FROM identity.organizations AS o
    LEFT JOIN identity.users AS u ON u.organization_id = o.id AND u.email = p_email
    WHERE o.slug = p_organization
    LIMIT 1
$$;

-- Bearer token: who a live session belongs to, with the permissions and roles it carries.
-- Keyed by the token's SHA-256 digest (tokens are secret and globally unique), so it can
-- only ever answer for the one session whose token the caller holds.
CREATE FUNCTION identity.session_principal(p_token_hash bytea)
RETURNS TABLE (user_id uuid, organization_id uuid, permissions text[], roles text[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT u.id, u.organization_id,
           COALESCE(array_agg(DISTINCT p.permission)
                    FILTER (WHERE p.permission IS NOT NULL), '{}'),
           COALESCE(array_agg(DISTINCT r.name) FILTER (WHERE r.name IS NOT NULL), '{}')
    FROM identity.sessions AS s
    JOIN identity.users AS u ON u.organization_id = s.organization_id AND u.id = s.user_id
    LEFT JOIN identity.user_roles AS ur
           ON ur.organization_id = u.organization_id AND ur.user_id = u.id AND ur.is_active
    LEFT JOIN identity.roles AS r
           ON r.organization_id = ur.organization_id AND r.id = ur.role_id AND r.is_active
    LEFT JOIN LATERAL unnest(r.permissions) AS p(permission) ON true
    WHERE s.token_hash = p_token_hash AND s.expires_at > now()
      AND u.is_active AND u.status = 'active' AND u.deleted_at IS NULL
    GROUP BY u.id, u.organization_id
$$;

REVOKE ALL ON FUNCTION identity.login_lookup(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION identity.session_principal(bytea) FROM PUBLIC;
