-- The asset inventory of an engagement, its tags and the dependency graph
-- between assets (directed; cycles allowed, self-edges not).

CREATE TYPE asset_type AS ENUM (
    'application',
    'server',
    'database',
    'network_device',
    'storage_device',
    'container',
    'other'
);

CREATE TYPE criticality_level AS ENUM (
    'low',
    'medium',
    'high',
    'critical'
);

CREATE TABLE assets (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_account_id uuid NOT NULL REFERENCES client_accounts (id) ON DELETE CASCADE,
    engagement_id uuid NOT NULL,
    discovery_flow_id uuid,
    technology_id uuid REFERENCES technology_catalog (id) ON DELETE SET NULL,
    name text NOT NULL,
    asset_type asset_type NOT NULL,
    hostname text,
    ip_address inet,
    operating_system text,
    os_version text,
    technology text,
    environment text NOT NULL,
    cpu_cores integer,
    memory_gb double precision,
    storage_gb double precision,
    business_owner text,
    technical_owner text,
    criticality criticality_level NOT NULL DEFAULT 'medium',
    description text,
    custom_attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT assets_tenant_id_key UNIQUE (client_account_id, id),
    CONSTRAINT assets_engagement_name_key UNIQUE (client_account_id, engagement_id, name),
    CONSTRAINT assets_engagement_fkey FOREIGN KEY (client_account_id, engagement_id)
        REFERENCES engagements (client_account_id, id) ON DELETE CASCADE,
    CONSTRAINT assets_discovery_flow_fkey FOREIGN KEY (client_account_id, discovery_flow_id)
        REFERENCES discovery_flows (client_account_id, id) ON DELETE SET NULL (discovery_flow_id),
    CONSTRAINT assets_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT assets_hostname_format CHECK (hostname IS NULL OR hostname ~ '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$'),
    CONSTRAINT assets_environment_check
        CHECK (environment IN ('production', 'staging', 'test', 'development', 'disaster_recovery')),
    CONSTRAINT assets_cpu_cores_check CHECK (cpu_cores IS NULL OR cpu_cores >= 0),
    CONSTRAINT assets_memory_gb_check CHECK (memory_gb IS NULL OR memory_gb >= 0),
    CONSTRAINT assets_storage_gb_check CHECK (storage_gb IS NULL OR storage_gb >= 0),
    CONSTRAINT assets_custom_attributes_is_object CHECK (jsonb_typeof(custom_attributes) = 'object')
);
COMMENT ON TABLE assets IS 'One application, server, database or network device of an engagement.';
-- asset search: a tenant's assets of one type
CREATE INDEX assets_type_idx ON assets (client_account_id, asset_type);
CREATE INDEX assets_hostname_idx ON assets (client_account_id, hostname) WHERE hostname IS NOT NULL;
CREATE INDEX assets_discovery_flow_idx ON assets (client_account_id, discovery_flow_id)
    WHERE discovery_flow_id IS NOT NULL;
CREATE INDEX assets_technology_id_idx ON assets (technology_id) WHERE technology_id IS NOT NULL;
SELECT diesel_manage_updated_at('assets');

CREATE TABLE asset_tags (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_account_id uuid NOT NULL REFERENCES client_accounts (id) ON DELETE CASCADE,
    asset_id uuid NOT NULL,
    tag_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT asset_tags_asset_tag_key UNIQUE (client_account_id, asset_id, tag_id),
    CONSTRAINT asset_tags_asset_fkey FOREIGN KEY (client_account_id, asset_id)
        REFERENCES assets (client_account_id, id) ON DELETE CASCADE,
    CONSTRAINT asset_tags_tag_fkey FOREIGN KEY (client_account_id, tag_id)
        REFERENCES tags (client_account_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE asset_tags IS 'Which tags an asset carries.';
-- "assets with tag X"
CREATE INDEX asset_tags_tag_idx ON asset_tags (client_account_id, tag_id);
SELECT diesel_manage_updated_at('asset_tags');

CREATE TABLE asset_dependencies (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_account_id uuid NOT NULL REFERENCES client_accounts (id) ON DELETE CASCADE,
    source_asset_id uuid NOT NULL,
    target_asset_id uuid NOT NULL,
    dependency_type text NOT NULL,
    protocol text,
    port integer,
    confidence_score double precision NOT NULL DEFAULT 1,
    is_critical boolean NOT NULL DEFAULT false,
    description text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT asset_dependencies_edge_key
        UNIQUE (client_account_id, source_asset_id, target_asset_id, dependency_type),
    CONSTRAINT asset_dependencies_source_fkey FOREIGN KEY (client_account_id, source_asset_id)
        REFERENCES assets (client_account_id, id) ON DELETE CASCADE,
    CONSTRAINT asset_dependencies_target_fkey FOREIGN KEY (client_account_id, target_asset_id)
        REFERENCES assets (client_account_id, id) ON DELETE CASCADE,
    CONSTRAINT asset_dependencies_no_self_dependency CHECK (source_asset_id <> target_asset_id),
    CONSTRAINT asset_dependencies_dependency_type_check CHECK (dependency_type IN (
        'runtime', 'data', 'network', 'hosting', 'integration', 'authentication', 'storage')),
    CONSTRAINT asset_dependencies_port_check CHECK (port IS NULL OR port BETWEEN 1 AND 65535),
    CONSTRAINT asset_dependencies_confidence_score_check CHECK (confidence_score BETWEEN 0 AND 1)
);
COMMENT ON TABLE asset_dependencies IS 'Directed edge "source depends on target"; cycles are allowed, self-edges are not.';
-- "what depends on this asset" (the forward direction is served by the unique key)
CREATE INDEX asset_dependencies_target_idx ON asset_dependencies (client_account_id, target_asset_id);
SELECT diesel_manage_updated_at('asset_dependencies');
