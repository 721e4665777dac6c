//! Stage 03_data_imports: Democorp's three imports (CMDB CSV export, cloud inventory JSON,
//! manual spreadsheet) and, in `--artifacts-dir`, the real CSV and JSON files they describe,
//! built from the same rows stage 10 stores, so import code can be tried against them.

use super::expected::{self, Expected};
use super::stage::{Ctx, Stage, StageCtx, StageInfo, StageOutput};
use crate::dataset::{
    IMPORTS, ImportSpec, PlannedImportRows, Tenant, flow_id, import_id, main_engagement, manager,
    records, stage_id,
};
use crate::error::{Result, SeedError};
use crate::fingerprint::{OwnedTable, table};
use crate::ids::ts;
use crate::write::Snapshot;
use chrono::Duration;
use diesel_async::AsyncPgConnection;
use domain::enums::ImportStatus;
use domain::models::NewDataImport;
use futures_util::future::BoxFuture;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Stage id.
pub const ID: &str = stage_id::DATA_IMPORTS;
const TABLES: &[OwnedTable] = &[table("data_imports")];

/// The file name of an import.
pub fn file_name(ctx: &Ctx, t: &Tenant, spec: &ImportSpec) -> String {
    let day = ctx.as_of - Duration::days(spec.days_ago);
    format!(
        "{}_{}_{}.{}",
        t.slug,
        spec.file_stem,
        day.format("%Y%m%d"),
        spec.ext
    )
}

const CMDB_COLUMNS: &[&str] = &[
    "hostname",
    "ip_address",
    "os",
    "os_version",
    "cpu_cores",
    "memory_mb",
    "storage_gb",
    "environment",
    "owner",
    "ci_class",
];

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The CSV file of the CMDB export: a header and one line per raw row.
pub fn cmdb_csv(rows: &PlannedImportRows) -> String {
    let mut out = CMDB_COLUMNS.join(",");
    out.push('\n');
    for r in &rows.rows {
        let line: Vec<String> = CMDB_COLUMNS
            .iter()
            .map(|c| {
                csv_field(&match r.raw.get(*c) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(serde_json::Value::Null) | None => String::new(),
                    Some(v) => v.to_string(),
                })
            })
            .collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// The JSON document of the cloud inventory.
pub fn cloud_json(rows: &PlannedImportRows, exported_at: &str) -> String {
    let items: Vec<&serde_json::Value> = rows.rows.iter().map(|r| &r.raw).collect();
    let doc = serde_json::json!({"exported_at": exported_at, "source": "vcenter-01", "count": items.len(), "instances": items});
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// File contents by import key (the spreadsheet is described but not generated).
fn contents(
    ctx: &Ctx,
    t: &Tenant,
    imports: &[PlannedImportRows],
) -> Vec<(&'static str, Option<String>)> {
    imports
        .iter()
        .map(|rows| {
            let body = match rows.key {
                "cmdb" => Some(cmdb_csv(rows)),
                "cloud" => Some(cloud_json(rows, &ts(ctx.as_of, 45, 8 * 3600).to_rfc3339())),
                _ => None,
            };
            let _ = t;
            (rows.key, body)
        })
        .collect()
}

/// Checks, before any stage runs, that `--artifacts-dir` is a folder or can become one: the
/// path (or, when it does not exist yet, its nearest existing ancestor) must be a folder.
pub fn check_artifacts_dir(dir: &Path) -> Result<()> {
    let refuse = |what: &str| {
        Err(SeedError::Usage(format!(
            "--artifacts-dir {} {what}; stage 03 writes its sample import files there. Pass a \
             folder (it is created if missing); nothing was written",
            dir.display()
        )))
    };
    let mut probe = dir;
    loop {
        match std::fs::metadata(probe) {
            Ok(meta) if meta.is_dir() => return Ok(()),
            Ok(_) if probe == dir => return refuse("is not a folder"),
            Ok(_) => {
                return refuse(&format!(
                    "cannot be created: {} is not a folder",
                    probe.display()
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match probe.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => probe = parent,
                _ => return Ok(()),
            },
            Err(e) => return refuse(&format!("cannot be inspected ({e})")),
        }
    }
}

fn write_atomic(dir: &Path, name: &str, body: &str) -> Result<PathBuf> {
    let io = |doing: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| SeedError::Io {
            doing,
            path,
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(io("cannot create the artifacts folder", dir))?;
    let path = dir.join(name);
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io("cannot write into", dir))?;
    tmp.write_all(body.as_bytes())
        .map_err(io("cannot write", &path))?;
    tmp.persist(&path).map_err(|e| SeedError::Io {
        doing: "cannot write",
        path: path.clone(),
        source: e.error,
    })?;
    Ok(path)
}

/// One tenant's imports, and the sample files (name, contents) they describe.
fn tenant_imports(ctx: &Ctx, t: &Tenant) -> (Vec<NewDataImport>, Vec<(String, String)>) {
    let mut rows = Vec::new();
    let mut files = Vec::new();
    if !t.demo_shaped {
        return (rows, files);
    }
    let (eng, _) = main_engagement(ctx, t);
    let planned = records(ctx, t);
    let bodies = contents(ctx, t, &planned);
    for (spec, rows_of) in IMPORTS.iter().zip(&planned) {
        let name = file_name(ctx, t, spec);
        let body = bodies
            .iter()
            .find(|(k, _)| *k == spec.key)
            .and_then(|(_, b)| b.clone());
        let total = rows_of.rows.len() as i32;
        let valid = rows_of.rows.iter().filter(|r| r.cleansed.is_some()).count() as i32;
        let (processed, failed) = match spec.status {
            ImportStatus::Completed => (valid, total - valid),
            _ => (valid / 2, (total - valid) / 2),
        };
        let size = body
            .as_ref()
            .map_or(48_213 + 97 * total as i64, |b| b.len() as i64);
        if let Some(b) = body {
            files.push((name.clone(), b));
        }
        let started = ts(ctx.as_of, spec.days_ago, 10 * 3600);
        rows.push(NewDataImport {
            id: import_id(&t.slug, spec.key),
            client_account_id: t.id,
            engagement_id: eng,
            discovery_flow_id: Some(flow_id(&t.slug, spec.flow)),
            imported_by_user_id: manager(ctx, t),
            import_type: spec.import_type.into(),
            source_system: Some(spec.source_system.into()),
            file_name: name,
            file_size_bytes: size,
            mime_type: spec.mime.into(),
            status: spec.status,
            total_records: total,
            processed_records: processed,
            failed_records: failed,
            error_message: None,
            started_at: Some(started),
            completed_at: (spec.status == ImportStatus::Completed)
                .then(|| started + Duration::seconds(42 + total as i64)),
            created_at: Some(started),
            updated_at: Some(started + Duration::seconds(42 + total as i64)),
        });
    }
    (rows, files)
}

/// The main tenant's (Democorp's) sample files, without generating any other tenant's data:
/// what a database restored from a snapshot needs written (files are not in the database).
pub(crate) fn main_tenant_files(ctx: &Ctx) -> Vec<(String, String)> {
    ctx.seeded_tenants()
        .first()
        .map(|t| tenant_imports(ctx, t).1)
        .unwrap_or_default()
}

/// Writes sample files into `--artifacts-dir` (each replaced atomically), one note per file.
pub(crate) fn write_files(ctx: &Ctx, files: &[(String, String)]) -> Result<()> {
    for (name, body) in files {
        let path = write_atomic(&ctx.artifacts_dir, name, body)?;
        ctx.reporter
            .note(&format!("wrote sample import file {}", path.display()));
    }
    Ok(())
}

const INFO: StageInfo = StageInfo {
    id: ID,
    description: "Democorp's 3 imports (CMDB CSV, cloud JSON, manual spreadsheet) and their sample files in --artifacts-dir",
    prerequisites: &[stage_id::DISCOVERY_FLOWS],
    tables: TABLES,
    ..StageInfo::DEFAULT
};

/// Stage 03: see the module docs.
pub struct DataImports;

impl Stage for DataImports {
    fn info(&self) -> &'static StageInfo {
        &INFO
    }
    fn expected<'a>(&self, ctx: &'a Ctx) -> Vec<Expected<'a>> {
        let rows = ctx
            .tenants()
            .into_iter()
            .flat_map(move |t| tenant_imports(ctx, &t).0);
        vec![Expected::insert(&expected::DATA_IMPORTS, rows)]
    }
    fn run<'a>(
        &'a self,
        ctx: &'a StageCtx<'a>,
        conn: &'a mut AsyncPgConnection,
    ) -> BoxFuture<'a, Result<StageOutput>> {
        Box::pin(async move {
            // The INSERT path: small tables, counted by comparing them before and after.
            let snapshot = Snapshot::take(conn, TABLES).await?;
            let mut rows = Vec::new();
            let mut files = Vec::new();
            for (n, t) in ctx.tenants().into_iter().enumerate() {
                let (imports, bodies) = tenant_imports(ctx, &t);
                rows.extend(imports);
                // Only the main tenant's files are written: synthetic tenants would write
                // thousands of identical-shaped files.
                if n == 0 {
                    files.extend(bodies);
                }
            }
            // Natural key: (tenant, engagement, file name) (data_imports_engagement_file_name_key).
            crate::insert_or_update!(
                conn,
                data_imports,
                rows,
                (client_account_id, engagement_id, file_name),
                [
                    discovery_flow_id,
                    imported_by_user_id,
                    import_type,
                    source_system,
                    file_size_bytes,
                    mime_type,
                    status,
                    total_records,
                    processed_records,
                    failed_records,
                    error_message,
                    started_at,
                    completed_at,
                    created_at,
                    updated_at
                ]
            );
            // Files last: if the write failed, nothing claims they exist.
            write_files(ctx, &files)?;
            Ok(StageOutput {
                counts: snapshot.counts(conn).await?,
                secret: None,
            })
        })
    }
}
