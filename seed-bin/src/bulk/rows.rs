//! [`BulkRow`] for the domain's insert models, with the [`BulkTable`] of each, so a stage can
//! move from `upsert!` to the bulk path without new row types.
//!
//! `created_at`/`updated_at` of the models are `Option`s (`None` = database default with
//! diesel); `COPY` has no per-value `DEFAULT`, so `None` arrives as `NULL` and the `NOT NULL`
//! columns refuse it. Seed stages always set them from `--as-of`.

use super::{BulkRow, BulkTable, Field};
use domain::models::NewRawImportRecord;

/// `raw_import_records`, keyed by (tenant, import, row number). `asset_id` and `updated_at` are
/// not updated: stage 06 links valid rows to their assets after this stage wrote them.
pub const RAW_IMPORT_RECORDS: BulkTable = BulkTable {
    table: "raw_import_records",
    columns: &[
        "id",
        "client_account_id",
        "data_import_id",
        "row_number",
        "raw_data",
        "cleansed_data",
        "validation_results",
        "is_valid",
        "is_processed",
        "created_at",
        "updated_at",
        "asset_id",
    ],
    conflict_cols: &["client_account_id", "data_import_id", "row_number"],
    update_cols: &[
        "raw_data",
        "cleansed_data",
        "validation_results",
        "is_valid",
        "is_processed",
        "created_at",
    ],
};

impl BulkRow for NewRawImportRecord {
    fn write<'a>(&'a self, out: &mut Vec<Field<'a>>) {
        out.extend([
            Field::from(self.id),
            self.client_account_id.into(),
            self.data_import_id.into(),
            self.row_number.into(),
            (&self.raw_data).into(),
            (&self.cleansed_data).into(),
            (&self.validation_results).into(),
            self.is_valid.into(),
            self.is_processed.into(),
            self.created_at.into(),
            self.updated_at.into(),
            self.asset_id.into(),
        ]);
    }
}
