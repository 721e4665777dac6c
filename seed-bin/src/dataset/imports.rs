//! The three imports of a demo-shaped tenant, and when their valid rows became assets.

use super::Dataset;
use crate::ids::{id, ts};
use domain::enums::ImportStatus;
use uuid::Uuid;

/// One import of a demo-shaped tenant.
pub struct ImportSpec {
    pub key: &'static str,
    pub import_type: &'static str,
    pub source_system: &'static str,
    pub file_stem: &'static str,
    pub ext: &'static str,
    pub mime: &'static str,
    pub status: ImportStatus,
    pub flow: &'static str,
    pub days_ago: i64,
}

/// The three imports, in the order of their raw rows (`records`).
pub const IMPORTS: &[ImportSpec] = &[
    ImportSpec {
        key: "cmdb",
        import_type: "cmdb_export",
        source_system: "ServiceNow CMDB",
        file_stem: "cmdb_export",
        ext: "csv",
        mime: "text/csv",
        status: ImportStatus::Completed,
        flow: "cmdb",
        days_ago: 60,
    },
    ImportSpec {
        key: "cloud",
        import_type: "cloud_inventory",
        source_system: "VMware vCenter inventory",
        file_stem: "cloud_inventory",
        ext: "json",
        mime: "application/json",
        status: ImportStatus::Completed,
        flow: "cloud",
        days_ago: 45,
    },
    ImportSpec {
        key: "manual",
        import_type: "manual_upload",
        source_system: "Excel workbook",
        file_stem: "manual_asset_list",
        ext: "xlsx",
        mime: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        status: ImportStatus::InProgress,
        flow: "manual",
        days_ago: 5,
    },
];

/// The id of a tenant's import.
pub fn import_id(tenant: &str, key: &str) -> Uuid {
    id("data_import", &format!("{tenant}/{key}"))
}

/// When the assets were merged from the import rows: their creation time, and the last change
/// of every raw row merged into one.
pub fn merged_at(ctx: &Dataset) -> chrono::DateTime<chrono::Utc> {
    ts(ctx.as_of, 40, 12 * 3600)
}
