-- Assessment of assets (technical, risk, performance, security) with a
-- recommended 6R strategy, and the migration waves that schedule them.

CREATE TYPE assessment_type AS ENUM (
    'technical',
    'risk',
    'performance',
    'security'
);

CREATE TYPE wave_status AS ENUM (
    'planned',
    'in_progress',
    'completed',
    'cancelled'
);

CREATE TABLE assessments (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_account_id uuid NOT NULL REFERENCES client_accounts (id) ON DELETE CASCADE,
    asset_id uuid NOT NULL,
    assessed_by_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    assessment_type assessment_type NOT NULL,
    score integer NOT NULL,
    risk_level criticality_level NOT NULL,
    confidence_score double precision NOT NULL DEFAULT 1,
    recommended_strategy sixr_strategy,
    summary text,
    findings jsonb NOT NULL DEFAULT '[]'::jsonb,
    assessed_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT assessments_asset_type_key UNIQUE (client_account_id, asset_id, assessment_type),
    CONSTRAINT assessments_asset_fkey FOREIGN KEY (client_account_id, asset_id)
        REFERENCES assets (client_account_id, id) ON DELETE CASCADE,
    CONSTRAINT assessments_score_check CHECK (score BETWEEN 0 AND 100),
    CONSTRAINT assessments_confidence_score_check CHECK (confidence_score BETWEEN 0 AND 1),
    CONSTRAINT assessments_findings_is_array CHECK (jsonb_typeof(findings) = 'array')
);
COMMENT ON TABLE assessments IS 'One assessment of one asset: score 0-100, risk level, findings and recommended 6R strategy.';
-- "assets recommended for strategy X" / wave planning
CREATE INDEX assessments_strategy_idx ON assessments (client_account_id, recommended_strategy);
CREATE INDEX assessments_assessed_by_user_id_idx ON assessments (assessed_by_user_id);
SELECT diesel_manage_updated_at('assessments');

CREATE TABLE migration_waves (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_account_id uuid NOT NULL REFERENCES client_accounts (id) ON DELETE CASCADE,
    engagement_id uuid NOT NULL,
    wave_number integer NOT NULL,
    name text NOT NULL,
    description text,
    status wave_status NOT NULL DEFAULT 'planned',
    is_pilot boolean NOT NULL DEFAULT false,
    planned_start_date date NOT NULL,
    planned_end_date date NOT NULL,
    actual_start_date date,
    actual_end_date date,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT migration_waves_tenant_id_key UNIQUE (client_account_id, id),
    CONSTRAINT migration_waves_engagement_wave_number_key UNIQUE (client_account_id, engagement_id, wave_number),
    CONSTRAINT migration_waves_engagement_fkey FOREIGN KEY (client_account_id, engagement_id)
        REFERENCES engagements (client_account_id, id) ON DELETE CASCADE,
    CONSTRAINT migration_waves_wave_number_check CHECK (wave_number >= 0),
    CONSTRAINT migration_waves_planned_dates_ordered CHECK (planned_end_date >= planned_start_date),
    CONSTRAINT migration_waves_actual_dates_ordered
        CHECK (actual_end_date IS NULL OR actual_start_date IS NULL OR actual_end_date >= actual_start_date)
);
COMMENT ON TABLE migration_waves IS 'A scheduled batch of assets to migrate together; wave numbers order them (pilot first).';
SELECT diesel_manage_updated_at('migration_waves');

CREATE TABLE wave_assets (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_account_id uuid NOT NULL REFERENCES client_accounts (id) ON DELETE CASCADE,
    wave_id uuid NOT NULL,
    asset_id uuid NOT NULL,
    strategy sixr_strategy NOT NULL,
    sequence_order integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- an asset is scheduled in at most one wave
    CONSTRAINT wave_assets_asset_key UNIQUE (client_account_id, asset_id),
    CONSTRAINT wave_assets_wave_fkey FOREIGN KEY (client_account_id, wave_id)
        REFERENCES migration_waves (client_account_id, id) ON DELETE CASCADE,
    CONSTRAINT wave_assets_asset_fkey FOREIGN KEY (client_account_id, asset_id)
        REFERENCES assets (client_account_id, id) ON DELETE CASCADE,
    -- retired and retained assets are not migrated, so never scheduled
    CONSTRAINT wave_assets_strategy_migrates CHECK (strategy NOT IN ('retire', 'retain')),
    CONSTRAINT wave_assets_sequence_order_check CHECK (sequence_order >= 0)
);
COMMENT ON TABLE wave_assets IS 'Assignment of an asset to its migration wave, with the strategy used.';
CREATE INDEX wave_assets_wave_idx ON wave_assets (client_account_id, wave_id, sequence_order);
SELECT diesel_manage_updated_at('wave_assets');
