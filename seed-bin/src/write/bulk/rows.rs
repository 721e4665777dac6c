//! [`BulkRow`] for the domain's insert models of the bulk-loaded seed tables, with the
//! [`BulkTable`] of each, so a stage moves from `insert_or_update!` to the bulk path without new row types.
//!
//! Column names are the model's field names (the models derive `Insertable` from the same
//! names). Conflict columns are each table's natural-key constraint. Update columns are the
//! ones the stage's `insert_or_update!` used to update: every column except the key and `id` (derived
//! from the key); `updated_at` is written explicitly (so a changed row's stamp stays
//! deterministic instead of the trigger's `now()`).
//!
//! `created_at`/`updated_at` of the models are `Option`s (`None` = database default with
//! diesel); `COPY` has no per-value `DEFAULT`, so `None` arrives as `NULL` and the `NOT NULL`
//! columns refuse it. Seed stages always set them from `--as-of`.

use super::{BulkRow, BulkTable, Field};
use domain::models::{
    NewAssessment, NewAsset, NewAssetDependency, NewAssetTag, NewImportFieldMapping,
    NewMigrationWave, NewRawImportRecord, NewWaveAsset,
};

macro_rules! bulk_rows {
    ($(
        $(#[$doc:meta])*
        $konst:ident: $model:ty => $table:literal {
            key: [$($key:ident),+ $(,)?],
            update: [$($upd:ident),* $(,)?],
            columns: [$($col:ident),+ $(,)?] $(,)?
        }
    )+) => {$(
        $(#[$doc])*
        pub const $konst: BulkTable = BulkTable {
            table: $table,
            columns: &[$(stringify!($col)),+],
            conflict_cols: &[$(stringify!($key)),+],
            update_cols: &[$(stringify!($upd)),*],
        };

        impl BulkRow for $model {
            fn write<'a>(&'a self, out: &mut Vec<Field<'a>>) {
                out.extend([$(Field::from(&self.$col)),+]);
            }
        }
    )+};
}

bulk_rows! {
    /// `raw_import_records`, keyed by (tenant, import, row number).
    RAW_IMPORT_RECORDS: NewRawImportRecord => "raw_import_records" {
        key: [client_account_id, data_import_id, row_number],
        update: [
            raw_data, cleansed_data, validation_results, is_valid, is_processed, created_at,
            updated_at, asset_id,
        ],
        columns: [
            id, client_account_id, data_import_id, row_number, raw_data, cleansed_data,
            validation_results, is_valid, is_processed, created_at, updated_at, asset_id,
        ],
    }

    /// `import_field_mappings`, keyed by (tenant, import, source field).
    IMPORT_FIELD_MAPPINGS: NewImportFieldMapping => "import_field_mappings" {
        key: [client_account_id, data_import_id, source_field],
        update: [
            reviewed_by_user_id, target_field, confidence_score, status, transformation_rules,
            reviewed_at, created_at, updated_at,
        ],
        columns: [
            id, client_account_id, data_import_id, reviewed_by_user_id, source_field,
            target_field, confidence_score, status, transformation_rules, reviewed_at,
            created_at, updated_at,
        ],
    }

    /// `assets`, keyed by (tenant, engagement, name).
    ASSETS: NewAsset => "assets" {
        key: [client_account_id, engagement_id, name],
        update: [
            discovery_flow_id, technology_id, asset_type, hostname, ip_address,
            operating_system, os_version, technology, environment, cpu_cores, memory_gb,
            storage_gb, business_owner, technical_owner, criticality, description,
            custom_attributes, created_at, updated_at,
        ],
        columns: [
            id, client_account_id, engagement_id, discovery_flow_id, technology_id, name,
            asset_type, hostname, ip_address, operating_system, os_version, technology,
            environment, cpu_cores, memory_gb, storage_gb, business_owner, technical_owner,
            criticality, description, custom_attributes, created_at, updated_at,
        ],
    }

    /// `asset_tags`, keyed by (tenant, asset, tag).
    ASSET_TAGS: NewAssetTag => "asset_tags" {
        key: [client_account_id, asset_id, tag_id],
        update: [created_at, updated_at],
        columns: [id, client_account_id, asset_id, tag_id, created_at, updated_at],
    }

    /// `asset_dependencies`, keyed by (tenant, source, target, dependency type).
    ASSET_DEPENDENCIES: NewAssetDependency => "asset_dependencies" {
        key: [client_account_id, source_asset_id, target_asset_id, dependency_type],
        update: [
            protocol, port, confidence_score, is_critical, description, created_at, updated_at,
        ],
        columns: [
            id, client_account_id, source_asset_id, target_asset_id, dependency_type, protocol,
            port, confidence_score, is_critical, description, created_at, updated_at,
        ],
    }

    /// `assessments`, keyed by (tenant, asset, assessment type).
    ASSESSMENTS: NewAssessment => "assessments" {
        key: [client_account_id, asset_id, assessment_type],
        update: [
            assessed_by_user_id, score, risk_level, confidence_score, recommended_strategy,
            summary, findings, assessed_at, created_at, updated_at,
        ],
        columns: [
            id, client_account_id, asset_id, assessed_by_user_id, assessment_type, score,
            risk_level, confidence_score, recommended_strategy, summary, findings, assessed_at,
            created_at, updated_at,
        ],
    }

    /// `migration_waves`, keyed by (tenant, engagement, wave number).
    MIGRATION_WAVES: NewMigrationWave => "migration_waves" {
        key: [client_account_id, engagement_id, wave_number],
        update: [
            name, description, status, is_pilot, planned_start_date, planned_end_date,
            actual_start_date, actual_end_date, created_at, updated_at,
        ],
        columns: [
            id, client_account_id, engagement_id, wave_number, name, description, status,
            is_pilot, planned_start_date, planned_end_date, actual_start_date, actual_end_date,
            created_at, updated_at,
        ],
    }

    /// `wave_assets`, keyed by (tenant, asset): an asset is in at most one wave.
    WAVE_ASSETS: NewWaveAsset => "wave_assets" {
        key: [client_account_id, asset_id],
        update: [wave_id, strategy, sequence_order, created_at, updated_at],
        columns: [
            id, client_account_id, wave_id, asset_id, strategy, sequence_order, created_at,
            updated_at,
        ],
    }
}

/// Every table above, for checks against the schema.
pub const ALL: &[BulkTable] = &[
    RAW_IMPORT_RECORDS,
    IMPORT_FIELD_MAPPINGS,
    ASSETS,
    ASSET_TAGS,
    ASSET_DEPENDENCIES,
    ASSESSMENTS,
    MIGRATION_WAVES,
    WAVE_ASSETS,
];
