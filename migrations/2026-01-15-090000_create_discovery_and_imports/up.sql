-- Discovery: flows that take a tenant's raw inventory (CMDB exports, cloud
-- inventories, spreadsheets) through import, field mapping and cleansing.

CREATE TYPE flow_status AS ENUM (
    'initialized',
    'in_progress',
    'paused',
    'completed',
    'failed',
    'cancelled'
);

CREATE TYPE import_status AS ENUM (
    'pending',
    'in_progress',
    'completed',
    'failed',
    'cancelled'
);

CREATE TYPE mapping_status AS ENUM (
    'suggested',
    'pending',
    'approved',
    'rejected'
);

CREATE TABLE discovery_flows (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_account_id uuid NOT NULL REFERENCES client_accounts (id) ON DELETE CASCADE,
    engagement_id uuid NOT NULL,
    created_by_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    name text NOT NULL,
    status flow_status NOT NULL DEFAULT 'initialized',
    current_phase text NOT NULL,
    progress_percent integer NOT NULL DEFAULT 0,
    flow_state jsonb NOT NULL DEFAULT '{}'::jsonb,
    agent_insights jsonb NOT NULL DEFAULT '[]'::jsonb,
    performance_metrics jsonb NOT NULL DEFAULT '{}'::jsonb,
    error_details jsonb,
    started_at timestamptz,
    completed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT discovery_flows_tenant_id_key UNIQUE (client_account_id, id),
    CONSTRAINT discovery_flows_engagement_name_key UNIQUE (client_account_id, engagement_id, name),
    CONSTRAINT discovery_flows_engagement_fkey FOREIGN KEY (client_account_id, engagement_id)
        REFERENCES engagements (client_account_id, id) ON DELETE CASCADE,
    CONSTRAINT discovery_flows_current_phase_check CHECK (current_phase IN (
        'initialization', 'data_import', 'field_mapping', 'data_cleansing',
        'asset_inventory', 'dependency_analysis', 'tech_debt_analysis', 'completed')),
    CONSTRAINT discovery_flows_progress_percent_check CHECK (progress_percent BETWEEN 0 AND 100),
    CONSTRAINT discovery_flows_flow_state_is_object CHECK (jsonb_typeof(flow_state) = 'object'),
    CONSTRAINT discovery_flows_agent_insights_is_array CHECK (jsonb_typeof(agent_insights) = 'array'),
    CONSTRAINT discovery_flows_performance_metrics_is_object
        CHECK (jsonb_typeof(performance_metrics) = 'object'),
    -- a failed flow always says why
    CONSTRAINT discovery_flows_failed_has_error CHECK (status <> 'failed' OR error_details IS NOT NULL),
    CONSTRAINT discovery_flows_times_ordered
        CHECK (completed_at IS NULL OR started_at IS NULL OR completed_at >= started_at)
);
COMMENT ON TABLE discovery_flows IS 'One run of the discovery pipeline for an engagement, with its state document.';
CREATE INDEX discovery_flows_status_idx ON discovery_flows (client_account_id, status);
CREATE INDEX discovery_flows_created_by_user_id_idx ON discovery_flows (created_by_user_id);
SELECT diesel_manage_updated_at('discovery_flows');

CREATE TABLE data_imports (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_account_id uuid NOT NULL REFERENCES client_accounts (id) ON DELETE CASCADE,
    engagement_id uuid NOT NULL,
    discovery_flow_id uuid,
    imported_by_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    import_type text NOT NULL,
    source_system text,
    file_name text NOT NULL,
    file_size_bytes bigint NOT NULL,
    mime_type text NOT NULL,
    status import_status NOT NULL DEFAULT 'pending',
    total_records integer NOT NULL DEFAULT 0,
    processed_records integer NOT NULL DEFAULT 0,
    failed_records integer NOT NULL DEFAULT 0,
    error_message text,
    started_at timestamptz,
    completed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT data_imports_tenant_id_key UNIQUE (client_account_id, id),
    CONSTRAINT data_imports_engagement_file_name_key UNIQUE (client_account_id, engagement_id, file_name),
    CONSTRAINT data_imports_engagement_fkey FOREIGN KEY (client_account_id, engagement_id)
        REFERENCES engagements (client_account_id, id) ON DELETE CASCADE,
    -- the import outlives its flow; only the link is cleared
    CONSTRAINT data_imports_discovery_flow_fkey FOREIGN KEY (client_account_id, discovery_flow_id)
        REFERENCES discovery_flows (client_account_id, id) ON DELETE SET NULL (discovery_flow_id),
    CONSTRAINT data_imports_import_type_check
        CHECK (import_type IN ('cmdb_export', 'cloud_inventory', 'manual_upload', 'api_integration', 'network_scan')),
    CONSTRAINT data_imports_file_size_bytes_check CHECK (file_size_bytes >= 0),
    CONSTRAINT data_imports_record_counts_check CHECK (
        total_records >= 0 AND processed_records >= 0 AND failed_records >= 0
        AND processed_records + failed_records <= total_records),
    CONSTRAINT data_imports_times_ordered
        CHECK (completed_at IS NULL OR started_at IS NULL OR completed_at >= started_at)
);
COMMENT ON TABLE data_imports IS 'One uploaded or fetched inventory file (CSV, JSON, spreadsheet) of an engagement.';
CREATE INDEX data_imports_discovery_flow_idx ON data_imports (client_account_id, discovery_flow_id);
CREATE INDEX data_imports_status_idx ON data_imports (client_account_id, status);
CREATE INDEX data_imports_imported_by_user_id_idx ON data_imports (imported_by_user_id);
SELECT diesel_manage_updated_at('data_imports');

CREATE TABLE raw_import_records (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_account_id uuid NOT NULL REFERENCES client_accounts (id) ON DELETE CASCADE,
    data_import_id uuid NOT NULL,
    row_number integer NOT NULL,
    raw_data jsonb NOT NULL,
    cleansed_data jsonb,
    validation_results jsonb NOT NULL DEFAULT '{}'::jsonb,
    is_valid boolean NOT NULL DEFAULT false,
    is_processed boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT raw_import_records_import_row_key UNIQUE (client_account_id, data_import_id, row_number),
    CONSTRAINT raw_import_records_data_import_fkey FOREIGN KEY (client_account_id, data_import_id)
        REFERENCES data_imports (client_account_id, id) ON DELETE CASCADE,
    CONSTRAINT raw_import_records_row_number_check CHECK (row_number >= 1),
    CONSTRAINT raw_import_records_raw_data_is_object CHECK (jsonb_typeof(raw_data) = 'object'),
    CONSTRAINT raw_import_records_cleansed_data_is_object
        CHECK (cleansed_data IS NULL OR jsonb_typeof(cleansed_data) = 'object'),
    CONSTRAINT raw_import_records_validation_results_is_object
        CHECK (jsonb_typeof(validation_results) = 'object')
);
COMMENT ON TABLE raw_import_records IS 'One source row of an import as received, plus its cleansed form and validation results.';
SELECT diesel_manage_updated_at('raw_import_records');

CREATE TABLE import_field_mappings (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_account_id uuid NOT NULL REFERENCES client_accounts (id) ON DELETE CASCADE,
    data_import_id uuid NOT NULL,
    reviewed_by_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    source_field text NOT NULL,
    target_field text NOT NULL,
    confidence_score double precision NOT NULL,
    status mapping_status NOT NULL DEFAULT 'suggested',
    transformation_rules jsonb NOT NULL DEFAULT '[]'::jsonb,
    reviewed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT import_field_mappings_import_source_field_key
        UNIQUE (client_account_id, data_import_id, source_field),
    CONSTRAINT import_field_mappings_data_import_fkey FOREIGN KEY (client_account_id, data_import_id)
        REFERENCES data_imports (client_account_id, id) ON DELETE CASCADE,
    CONSTRAINT import_field_mappings_confidence_score_check CHECK (confidence_score BETWEEN 0 AND 1),
    CONSTRAINT import_field_mappings_transformation_rules_is_array
        CHECK (jsonb_typeof(transformation_rules) = 'array')
);
COMMENT ON TABLE import_field_mappings IS 'How one source column of an import maps to an asset field, with confidence and review status.';
CREATE INDEX import_field_mappings_status_idx ON import_field_mappings (client_account_id, status);
CREATE INDEX import_field_mappings_reviewed_by_user_id_idx ON import_field_mappings (reviewed_by_user_id);
SELECT diesel_manage_updated_at('import_field_mappings');
