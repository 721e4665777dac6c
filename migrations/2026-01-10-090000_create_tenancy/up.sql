-- Tenancy and identity: the tenants (client accounts), their engagements, the
-- people who log in, their per-tenant roles, machine API keys and tags.
--
-- Tenant isolation: every tenant-owned table carries client_account_id, and
-- every parent a tenant-owned row can point at has UNIQUE (client_account_id, id),
-- so references are composite foreign keys that PostgreSQL itself refuses to
-- point across tenants.

CREATE TYPE user_role AS ENUM (
    'PLATFORM_ADMIN',
    'CLIENT_ADMIN',
    'ENGAGEMENT_MANAGER',
    'ANALYST',
    'VIEWER'
);

CREATE TYPE access_level AS ENUM (
    'READ_ONLY',
    'READ_WRITE',
    'ADMIN'
);

CREATE TABLE client_accounts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug text NOT NULL,
    name text NOT NULL,
    industry text,
    company_size text,
    headquarters_country text,
    primary_contact_email text,
    settings jsonb NOT NULL DEFAULT '{}'::jsonb,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT client_accounts_slug_key UNIQUE (slug),
    CONSTRAINT client_accounts_slug_format CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    CONSTRAINT client_accounts_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT client_accounts_company_size_check
        CHECK (company_size IS NULL OR company_size IN ('small', 'medium', 'large', 'enterprise')),
    CONSTRAINT client_accounts_settings_is_object CHECK (jsonb_typeof(settings) = 'object')
);
COMMENT ON TABLE client_accounts IS 'A tenant: one client organisation. Every tenant-owned row carries its id.';
SELECT diesel_manage_updated_at('client_accounts');

CREATE TABLE engagements (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_account_id uuid NOT NULL REFERENCES client_accounts (id) ON DELETE CASCADE,
    name text NOT NULL,
    description text,
    status text NOT NULL DEFAULT 'planning',
    start_date date,
    target_completion_date date,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT engagements_tenant_id_key UNIQUE (client_account_id, id),
    CONSTRAINT engagements_client_account_id_name_key UNIQUE (client_account_id, name),
    CONSTRAINT engagements_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT engagements_status_check
        CHECK (status IN ('planning', 'active', 'on_hold', 'completed', 'cancelled')),
    CONSTRAINT engagements_dates_ordered
        CHECK (target_completion_date IS NULL OR start_date IS NULL OR target_completion_date >= start_date)
);
COMMENT ON TABLE engagements IS 'A migration project of one tenant; discovery, assets and waves belong to one.';
SELECT diesel_manage_updated_at('engagements');

CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    external_id text NOT NULL,
    email text NOT NULL,
    full_name text NOT NULL,
    password_hash text,
    is_active boolean NOT NULL DEFAULT true,
    last_login_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_external_id_key UNIQUE (external_id),
    CONSTRAINT users_email_key UNIQUE (email),
    -- identity-provider subject, e.g. auth0|64f1c2...
    CONSTRAINT users_external_id_format CHECK (external_id ~ '^[A-Za-z0-9_-]+\|.+$'),
    -- stored lower-case so the unique constraint is case-insensitive
    CONSTRAINT users_email_format CHECK (email = lower(email) AND email ~ '^[^@\s]+@[^@\s]+$'),
    -- only ever a PHC string, never a plaintext password
    CONSTRAINT users_password_hash_is_argon2id
        CHECK (password_hash IS NULL OR password_hash LIKE '$argon2id$%')
);
COMMENT ON TABLE users IS 'A person who logs in (platform-wide identity); tenant access comes from user_account_roles.';
SELECT diesel_manage_updated_at('users');

CREATE TABLE user_account_roles (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_account_id uuid NOT NULL REFERENCES client_accounts (id) ON DELETE CASCADE,
    -- NULL: the role applies to every engagement of the tenant
    engagement_id uuid,
    role user_role NOT NULL,
    access_level access_level NOT NULL,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_account_roles_user_id_client_account_id_key UNIQUE (user_id, client_account_id),
    CONSTRAINT user_account_roles_engagement_fkey FOREIGN KEY (client_account_id, engagement_id)
        REFERENCES engagements (client_account_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE user_account_roles IS 'What a user may do in one tenant: role and access level.';
CREATE INDEX user_account_roles_client_account_id_idx ON user_account_roles (client_account_id);
CREATE INDEX user_account_roles_engagement_idx ON user_account_roles (client_account_id, engagement_id)
    WHERE engagement_id IS NOT NULL;
SELECT diesel_manage_updated_at('user_account_roles');

CREATE TABLE api_keys (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_account_id uuid NOT NULL REFERENCES client_accounts (id) ON DELETE CASCADE,
    created_by_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    name text NOT NULL,
    -- public, unique lookup prefix shown in key listings; the secret part is
    -- stored only as an argon2id PHC string in key_hash
    key_prefix text NOT NULL,
    key_hash text NOT NULL,
    permissions jsonb NOT NULL DEFAULT '[]'::jsonb,
    expires_at timestamptz,
    last_used_at timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_keys_key_prefix_key UNIQUE (key_prefix),
    CONSTRAINT api_keys_client_account_id_name_key UNIQUE (client_account_id, name),
    CONSTRAINT api_keys_key_prefix_format CHECK (key_prefix ~ '^[A-Za-z0-9_]{6,32}$'),
    CONSTRAINT api_keys_key_hash_is_argon2id CHECK (key_hash LIKE '$argon2id$%'),
    CONSTRAINT api_keys_permissions_is_array CHECK (jsonb_typeof(permissions) = 'array')
);
COMMENT ON TABLE api_keys IS 'Machine credentials of a tenant: lookup prefix + argon2id hash, never the key itself.';
CREATE INDEX api_keys_created_by_user_id_idx ON api_keys (created_by_user_id);
SELECT diesel_manage_updated_at('api_keys');

CREATE TABLE tags (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_account_id uuid NOT NULL REFERENCES client_accounts (id) ON DELETE CASCADE,
    name text NOT NULL,
    color text,
    description text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tags_tenant_id_key UNIQUE (client_account_id, id),
    CONSTRAINT tags_client_account_id_name_key UNIQUE (client_account_id, name),
    CONSTRAINT tags_name_format CHECK (name ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    CONSTRAINT tags_color_format CHECK (color IS NULL OR color ~ '^#[0-9a-f]{6}$')
);
COMMENT ON TABLE tags IS 'Labels a tenant puts on its assets (pci, gdpr, tier-1, ...).';
SELECT diesel_manage_updated_at('tags');
