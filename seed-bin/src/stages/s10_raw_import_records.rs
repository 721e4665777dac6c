//! Stage 10_raw_import_records (was 04): the source rows of Democorp's three imports as
//! received, with their cleansed form and validation results (generated in
//! `dataset::records`). Each valid row carries the `asset_id` of the stage-06 asset it was
//! merged into, so this stage needs 06's assets and runs after it: writing the link with the
//! row costs nothing, while linking the rows afterwards rewrote every valid row (an UPDATE of
//! 125 000 wide rows took 3–4 s of a `--scale 1000` run, on its critical path). It was
//! renumbered from 04 to 10 so that every prerequisite has a lower number.

use super::expected::Expected;
use super::stage::{Ctx, Stage, StageCtx, StageInfo, StageOutput};
use crate::dataset::{IMPORTS, Tenant, import_id, merged_at, records, stage_id};
use crate::error::Result;
use crate::fingerprint::{OwnedTable, table};
use crate::ids::ts;
use crate::write::bulk::rows::RAW_IMPORT_RECORDS;
use diesel_async::AsyncPgConnection;
use domain::models::NewRawImportRecord;
use futures_util::future::BoxFuture;

/// Stage id.
pub const ID: &str = stage_id::RAW_IMPORT_RECORDS;
const TABLES: &[OwnedTable] = &[table("raw_import_records")];

/// The rows of one tenant: generated lazily, tenant by tenant, so memory does not grow with
/// `--scale`.
fn tenant_rows(ctx: &Ctx, t: &Tenant) -> Vec<NewRawImportRecord> {
    let mut rows = Vec::new();
    for imp in records(ctx, t) {
        let spec = IMPORTS.iter().find(|i| i.key == imp.key);
        let at = Some(ts(ctx.as_of, spec.map_or(10, |s| s.days_ago), 10 * 3600));
        // A valid row was last touched when it was merged into its asset.
        let merged = Some(merged_at(ctx));
        for r in imp.rows {
            rows.push(NewRawImportRecord {
                id: r.id,
                client_account_id: t.id,
                data_import_id: import_id(&t.slug, imp.key),
                row_number: r.row_number,
                raw_data: r.raw,
                is_valid: r.cleansed.is_some(),
                is_processed: spec
                    .is_some_and(|s| s.status == domain::enums::ImportStatus::Completed),
                cleansed_data: r.cleansed,
                validation_results: r.validation,
                created_at: at,
                updated_at: if r.asset_id.is_some() { merged } else { at },
                asset_id: r.asset_id,
            });
        }
    }
    rows
}

const INFO: StageInfo = StageInfo {
    id: ID,
    description: "156 raw import rows (125 valid, 31 invalid: missing hostname, bad IP, unknown OS, negative size)",
    prerequisites: &[stage_id::DATA_IMPORTS, stage_id::ASSETS],
    tables: TABLES,
    ..StageInfo::DEFAULT
};

/// Stage 10: see the module docs.
pub struct RawImportRecords;

impl Stage for RawImportRecords {
    fn info(&self) -> &'static StageInfo {
        &INFO
    }
    fn expected<'a>(&self, ctx: &'a Ctx) -> Vec<Expected<'a>> {
        vec![Expected::bulk(
            &RAW_IMPORT_RECORDS,
            ctx.tenants()
                .into_iter()
                .flat_map(move |t| tenant_rows(ctx, &t)),
        )]
    }
    fn run<'a>(
        &'a self,
        ctx: &'a StageCtx<'a>,
        conn: &'a mut AsyncPgConnection,
    ) -> BoxFuture<'a, Result<StageOutput>> {
        Box::pin(async move {
            let mut out = StageOutput::default();
            // Natural key: (tenant, import, row number).
            // Streamed through the bulk loader (see crate::write::bulk): the same upsert on the natural
            // key, at COPY speed, inside this stage's transaction.
            let rows = ctx.tenants().into_iter().flat_map(|t| tenant_rows(ctx, &t));
            ctx.bulk_load(conn, &RAW_IMPORT_RECORDS, rows, &mut out)
                .await?;
            Ok(out)
        })
    }
}
