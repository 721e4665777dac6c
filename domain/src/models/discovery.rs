//! Discovery: flows, data imports, raw import records and field mappings.

use crate::enums::{FlowStatus, ImportStatus, MappingStatus};
use crate::schema::{data_imports, discovery_flows, import_field_mappings, raw_import_records};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// One run of the discovery pipeline for an engagement, with its state document.
///
/// A row of `discovery_flows` as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable, Identifiable)]
#[diesel(table_name = discovery_flows, primary_key(client_account_id, id), check_for_backend(diesel::pg::Pg))]
pub struct DiscoveryFlow {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The engagement this row belongs to (same tenant, enforced by a composite foreign key).
    pub engagement_id: Uuid,
    /// The user who created it, if known.
    pub created_by_user_id: Option<Uuid>,
    /// Display name.
    pub name: String,
    /// Lifecycle status.
    pub status: FlowStatus,
    /// Current or final phase (`initialization`, `data_import`, `field_mapping`, `data_cleansing`, `asset_inventory`, `dependency_analysis`, `tech_debt_analysis`, `completed`).
    pub current_phase: String,
    /// Progress, 0 to 100.
    pub progress_percent: i32,
    /// Flow-state document: phases, timings (JSON object).
    pub flow_state: Value,
    /// Insights produced by agents (JSON array).
    pub agent_insights: Value,
    /// Performance metrics of the run (JSON object).
    pub performance_metrics: Value,
    /// What went wrong; always set when the flow failed.
    pub error_details: Option<Value>,
    /// When processing started.
    pub started_at: Option<DateTime<Utc>>,
    /// When processing ended (not before `started_at`).
    pub completed_at: Option<DateTime<Utc>>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `discovery_flows`.
///
/// `created_at`/`updated_at` left `None` take the database default (`now()`);
/// the seed sets them from its `--as-of` date so that reruns are byte-identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = discovery_flows, check_for_backend(diesel::pg::Pg))]
pub struct NewDiscoveryFlow {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The engagement this row belongs to (same tenant, enforced by a composite foreign key).
    pub engagement_id: Uuid,
    /// The user who created it, if known.
    pub created_by_user_id: Option<Uuid>,
    /// Display name.
    pub name: String,
    /// Lifecycle status.
    pub status: FlowStatus,
    /// Current or final phase (`initialization`, `data_import`, `field_mapping`, `data_cleansing`, `asset_inventory`, `dependency_analysis`, `tech_debt_analysis`, `completed`).
    pub current_phase: String,
    /// Progress, 0 to 100.
    pub progress_percent: i32,
    /// Flow-state document: phases, timings (JSON object).
    pub flow_state: Value,
    /// Insights produced by agents (JSON array).
    pub agent_insights: Value,
    /// Performance metrics of the run (JSON object).
    pub performance_metrics: Value,
    /// What went wrong; always set when the flow failed.
    pub error_details: Option<Value>,
    /// When processing started.
    pub started_at: Option<DateTime<Utc>>,
    /// When processing ended (not before `started_at`).
    pub completed_at: Option<DateTime<Utc>>,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: Option<DateTime<Utc>>,
}

/// One uploaded or fetched inventory file (CSV, JSON, spreadsheet) of an engagement.
///
/// A row of `data_imports` as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable, Identifiable)]
#[diesel(table_name = data_imports, primary_key(client_account_id, id), check_for_backend(diesel::pg::Pg))]
pub struct DataImport {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The engagement this row belongs to (same tenant, enforced by a composite foreign key).
    pub engagement_id: Uuid,
    /// The discovery flow that produced it, if any.
    pub discovery_flow_id: Option<Uuid>,
    /// The user who uploaded it, if known.
    pub imported_by_user_id: Option<Uuid>,
    /// One of `cmdb_export`, `cloud_inventory`, `manual_upload`, `api_integration`, `network_scan`.
    pub import_type: String,
    /// System the data came from.
    pub source_system: Option<String>,
    /// Uploaded file name (unique per engagement).
    pub file_name: String,
    /// File size in bytes (non-negative).
    pub file_size_bytes: i64,
    /// MIME type of the file.
    pub mime_type: String,
    /// Lifecycle status.
    pub status: ImportStatus,
    /// Rows in the file.
    pub total_records: i32,
    /// Rows processed successfully.
    pub processed_records: i32,
    /// Rows that failed.
    pub failed_records: i32,
    /// Why the import failed, if it did.
    pub error_message: Option<String>,
    /// When processing started.
    pub started_at: Option<DateTime<Utc>>,
    /// When processing ended (not before `started_at`).
    pub completed_at: Option<DateTime<Utc>>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `data_imports`.
///
/// `created_at`/`updated_at` left `None` take the database default (`now()`);
/// the seed sets them from its `--as-of` date so that reruns are byte-identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = data_imports, check_for_backend(diesel::pg::Pg))]
pub struct NewDataImport {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The engagement this row belongs to (same tenant, enforced by a composite foreign key).
    pub engagement_id: Uuid,
    /// The discovery flow that produced it, if any.
    pub discovery_flow_id: Option<Uuid>,
    /// The user who uploaded it, if known.
    pub imported_by_user_id: Option<Uuid>,
    /// One of `cmdb_export`, `cloud_inventory`, `manual_upload`, `api_integration`, `network_scan`.
    pub import_type: String,
    /// System the data came from.
    pub source_system: Option<String>,
    /// Uploaded file name (unique per engagement).
    pub file_name: String,
    /// File size in bytes (non-negative).
    pub file_size_bytes: i64,
    /// MIME type of the file.
    pub mime_type: String,
    /// Lifecycle status.
    pub status: ImportStatus,
    /// Rows in the file.
    pub total_records: i32,
    /// Rows processed successfully.
    pub processed_records: i32,
    /// Rows that failed.
    pub failed_records: i32,
    /// Why the import failed, if it did.
    pub error_message: Option<String>,
    /// When processing started.
    pub started_at: Option<DateTime<Utc>>,
    /// When processing ended (not before `started_at`).
    pub completed_at: Option<DateTime<Utc>>,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: Option<DateTime<Utc>>,
}

/// One source row of an import as received, plus its cleansed form and validation results.
///
/// A row of `raw_import_records` as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable, Identifiable)]
#[diesel(table_name = raw_import_records, primary_key(client_account_id, id), check_for_backend(diesel::pg::Pg))]
pub struct RawImportRecord {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The import this row belongs to.
    pub data_import_id: Uuid,
    /// Position of the row in the source file, from 1.
    pub row_number: i32,
    /// The row as received (JSON object).
    pub raw_data: Value,
    /// The row after cleansing (JSON object), if it got that far.
    pub cleansed_data: Option<Value>,
    /// Validation outcome per field (JSON object).
    pub validation_results: Value,
    /// Whether the row passed validation.
    pub is_valid: bool,
    /// Whether the row has been processed.
    pub is_processed: bool,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: DateTime<Utc>,
    /// The asset.
    pub asset_id: Option<Uuid>,
}

/// A new row of `raw_import_records`.
///
/// `created_at`/`updated_at` left `None` take the database default (`now()`);
/// the seed sets them from its `--as-of` date so that reruns are byte-identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = raw_import_records, check_for_backend(diesel::pg::Pg))]
pub struct NewRawImportRecord {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The import this row belongs to.
    pub data_import_id: Uuid,
    /// Position of the row in the source file, from 1.
    pub row_number: i32,
    /// The row as received (JSON object).
    pub raw_data: Value,
    /// The row after cleansing (JSON object), if it got that far.
    pub cleansed_data: Option<Value>,
    /// Validation outcome per field (JSON object).
    pub validation_results: Value,
    /// Whether the row passed validation.
    pub is_valid: bool,
    /// Whether the row has been processed.
    pub is_processed: bool,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: Option<DateTime<Utc>>,
    /// The asset.
    pub asset_id: Option<Uuid>,
}

/// How one source column of an import maps to an asset field, with confidence and review status.
///
/// A row of `import_field_mappings` as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable, Identifiable)]
#[diesel(table_name = import_field_mappings, primary_key(client_account_id, id), check_for_backend(diesel::pg::Pg))]
pub struct ImportFieldMapping {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The import this row belongs to.
    pub data_import_id: Uuid,
    /// The user who approved or rejected it, if any.
    pub reviewed_by_user_id: Option<Uuid>,
    /// Column name in the source file.
    pub source_field: String,
    /// Asset field it maps to.
    pub target_field: String,
    /// Confidence, 0 to 1.
    pub confidence_score: f64,
    /// Lifecycle status.
    pub status: MappingStatus,
    /// Transformations to apply, in order (JSON array).
    pub transformation_rules: Value,
    /// When it was reviewed.
    pub reviewed_at: Option<DateTime<Utc>>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `import_field_mappings`.
///
/// `created_at`/`updated_at` left `None` take the database default (`now()`);
/// the seed sets them from its `--as-of` date so that reruns are byte-identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = import_field_mappings, check_for_backend(diesel::pg::Pg))]
pub struct NewImportFieldMapping {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The import this row belongs to.
    pub data_import_id: Uuid,
    /// The user who approved or rejected it, if any.
    pub reviewed_by_user_id: Option<Uuid>,
    /// Column name in the source file.
    pub source_field: String,
    /// Asset field it maps to.
    pub target_field: String,
    /// Confidence, 0 to 1.
    pub confidence_score: f64,
    /// Lifecycle status.
    pub status: MappingStatus,
    /// Transformations to apply, in order (JSON array).
    pub transformation_rules: Value,
    /// When it was reviewed.
    pub reviewed_at: Option<DateTime<Utc>>,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: Option<DateTime<Utc>>,
}
