-- Reference data shared by every tenant (the only data seeded in production):
-- the six migration strategies and the technology catalogue used by assessments.

CREATE TYPE sixr_strategy AS ENUM (
    'rehost',
    'replatform',
    'refactor',
    'repurchase',
    'retire',
    'retain'
);

CREATE TABLE sixr_strategies (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    strategy sixr_strategy NOT NULL,
    name text NOT NULL,
    description text NOT NULL,
    typical_effort text NOT NULL,
    typical_duration_weeks integer,
    display_order integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sixr_strategies_strategy_key UNIQUE (strategy),
    CONSTRAINT sixr_strategies_display_order_key UNIQUE (display_order),
    CONSTRAINT sixr_strategies_typical_effort_check
        CHECK (typical_effort IN ('none', 'low', 'medium', 'high', 'very_high')),
    CONSTRAINT sixr_strategies_typical_duration_weeks_check
        CHECK (typical_duration_weeks IS NULL OR typical_duration_weeks >= 0)
);
COMMENT ON TABLE sixr_strategies IS 'The 6R migration strategies with their description and typical effort.';
SELECT diesel_manage_updated_at('sixr_strategies');

CREATE TABLE technology_catalog (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    version text NOT NULL,
    category text NOT NULL,
    vendor text NOT NULL,
    release_date date,
    end_of_support date,
    end_of_extended_support date,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT technology_catalog_name_version_key UNIQUE (name, version),
    CONSTRAINT technology_catalog_category_check
        CHECK (category IN ('language', 'runtime', 'framework', 'operating_system', 'database', 'middleware', 'network', 'other')),
    CONSTRAINT technology_catalog_support_dates_ordered
        CHECK (end_of_extended_support IS NULL OR end_of_support IS NULL OR end_of_extended_support >= end_of_support),
    CONSTRAINT technology_catalog_release_before_end_of_support
        CHECK (release_date IS NULL OR end_of_support IS NULL OR end_of_support >= release_date)
);
COMMENT ON TABLE technology_catalog IS 'Known technologies (languages, runtimes, OSes, database engines) with vendor and support dates.';
CREATE INDEX technology_catalog_end_of_support_idx ON technology_catalog (end_of_support);
SELECT diesel_manage_updated_at('technology_catalog');
