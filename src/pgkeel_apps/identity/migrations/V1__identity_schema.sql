-- The identity service (seed 001): organizations, users, roles, memberships, sessions.
-- Every tenant table carries organization_id, and cross-table references include it, so a
-- row can never point into another organization.
CREATE TABLE organizations (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug       text NOT NULL CONSTRAINT organizations_slug_key UNIQUE
               CONSTRAINT organizations_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations (id),
    email           text NOT NULL
                    CONSTRAINT users_email_format CHECK (email = lower(email)
                        AND length(email) <= 254 AND email LIKE '%_@_%'),
    display_name    text NOT NULL
                    CONSTRAINT users_display_name_length CHECK (length(display_name) BETWEEN 1 AND 200),
    password_hash   text,
    status          text NOT NULL DEFAULT 'active'
                    CONSTRAINT users_status_valid CHECK (status IN ('active', 'suspended', 'invited')),
    is_active       boolean NOT NULL DEFAULT true,
    deleted_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1,
    CONSTRAINT users_org_id_key UNIQUE (organization_id, id)
);

CREATE TABLE roles (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations (id),
    name            text NOT NULL,
    description     text,
    permissions     text[] NOT NULL DEFAULT '{}',
    is_system       boolean NOT NULL DEFAULT false,
    is_active       boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT roles_org_id_key UNIQUE (organization_id, id)
);

CREATE TABLE user_roles (
    organization_id uuid NOT NULL,
    user_id         uuid NOT NULL,
    role_id         uuid NOT NULL,
    is_active       boolean NOT NULL DEFAULT true,
    assigned_by     uuid,
    assigned_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, user_id, role_id),
    CONSTRAINT user_roles_user_fk FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id),
    CONSTRAINT user_roles_role_fk FOREIGN KEY (organization_id, role_id)
        REFERENCES roles (organization_id, id)
);

CREATE TABLE sessions (
    token_hash      bytea PRIMARY KEY,
    organization_id uuid NOT NULL,
    user_id         uuid NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    CONSTRAINT sessions_user_fk FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id)
);
CREATE INDEX sessions_user ON sessions (organization_id, user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
