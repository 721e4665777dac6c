//! Stage 05_field_mappings: for each import, one mapping per source column to an asset field,
//! with a confidence score, a review status and transformation rules.

use super::expected::Expected;
use super::stage::{Ctx, Stage, StageCtx, StageInfo, StageOutput};
use crate::dataset::{IMPORTS, Tenant, analyst, import_id, stage_id};
use crate::error::Result;
use crate::fingerprint::{OwnedTable, table};
use crate::ids::{id, ts};
use crate::write::bulk::rows::IMPORT_FIELD_MAPPINGS;
use diesel_async::AsyncPgConnection;
use domain::enums::{ImportStatus, MappingStatus};
use domain::models::NewImportFieldMapping;
use futures_util::future::BoxFuture;
use rand::RngExt;
use serde_json::{Value, json};

/// Stage id.
pub const ID: &str = stage_id::FIELD_MAPPINGS;
const TABLES: &[OwnedTable] = &[table("import_field_mappings")];

/// (import key, source column, target field, transformation rules)
fn columns() -> Vec<(&'static str, &'static str, &'static str, Value)> {
    vec![
        (
            "cmdb",
            "hostname",
            "hostname",
            json!([{"type": "lowercase"}, {"type": "trim"}]),
        ),
        (
            "cmdb",
            "ip_address",
            "ip_address",
            json!([{"type": "parse_ip", "version": 4}]),
        ),
        ("cmdb", "os", "operating_system", json!([])),
        ("cmdb", "os_version", "os_version", json!([])),
        (
            "cmdb",
            "cpu_cores",
            "cpu_cores",
            json!([{"type": "parse_int"}]),
        ),
        (
            "cmdb",
            "memory_mb",
            "memory_gb",
            json!([{"type": "mb_to_gb", "divisor": 1024}]),
        ),
        (
            "cmdb",
            "storage_gb",
            "storage_gb",
            json!([{"type": "parse_float"}, {"type": "reject_negative"}]),
        ),
        (
            "cmdb",
            "environment",
            "environment",
            json!([{"type": "lowercase"}, {"type": "map", "values": {"prod": "production", "dr": "disaster_recovery"}}]),
        ),
        ("cmdb", "owner", "technical_owner", json!([])),
        (
            "cmdb",
            "ci_class",
            "asset_type",
            json!([{"type": "map", "values": {"cmdb_ci_server": "server", "cmdb_ci_db_instance": "database", "cmdb_ci_netgear": "network_device"}}]),
        ),
        (
            "cloud",
            "instance_name",
            "hostname",
            json!([{"type": "lowercase"}]),
        ),
        (
            "cloud",
            "private_ip",
            "ip_address",
            json!([{"type": "parse_ip", "version": 4}]),
        ),
        ("cloud", "platform", "operating_system", json!([])),
        ("cloud", "vcpus", "cpu_cores", json!([])),
        (
            "cloud",
            "memory_gib",
            "memory_gb",
            json!([{"type": "gib_to_gb", "factor": 1.0}]),
        ),
        (
            "cloud",
            "disk_gb",
            "storage_gb",
            json!([{"type": "reject_negative"}]),
        ),
        (
            "cloud",
            "tags.owner",
            "business_owner",
            json!([{"type": "json_path", "path": "$.tags.owner"}]),
        ),
        ("manual", "Name", "name", json!([{"type": "trim"}])),
        (
            "manual",
            "Type",
            "asset_type",
            json!([{"type": "lowercase"}]),
        ),
        (
            "manual",
            "Hostname",
            "hostname",
            json!([{"type": "lowercase"}, {"type": "empty_to_null"}]),
        ),
        (
            "manual",
            "IP",
            "ip_address",
            json!([{"type": "parse_ip", "version": 4}]),
        ),
        ("manual", "OS", "operating_system", json!([])),
        ("manual", "Owner", "business_owner", json!([])),
        (
            "manual",
            "Criticality",
            "criticality",
            json!([{"type": "lowercase"}]),
        ),
    ]
}

/// The rows of one tenant (none for side tenants, which have no imports): generated lazily,
/// tenant by tenant, so memory does not grow with `--scale`.
fn tenant_rows(ctx: &Ctx, t: &Tenant) -> Vec<NewImportFieldMapping> {
    if !t.demo_shaped {
        return Vec::new();
    }
    let mut rows = Vec::new();
    let mut rng = ctx.rng(ID, t);
    let reviewer = analyst(ctx, t);
    for (i, (key, source, target, rules)) in columns().into_iter().enumerate() {
        let spec = IMPORTS.iter().find(|s| s.key == key);
        let completed = spec.is_some_and(|s| s.status == ImportStatus::Completed);
        let confidence: f64 = (rng.random_range(55..100) as f64) / 100.0;
        // Completed imports were reviewed: low-confidence guesses rejected, the rest
        // approved. The in-progress import still waits for review.
        let status = match (completed, i % 7) {
            (true, 3) => MappingStatus::Rejected,
            (true, _) => MappingStatus::Approved,
            (false, 0 | 1) => MappingStatus::Approved,
            (false, 2) => MappingStatus::Suggested,
            (false, _) => MappingStatus::Pending,
        };
        let reviewed = matches!(status, MappingStatus::Approved | MappingStatus::Rejected);
        let at = ts(ctx.as_of, spec.map_or(5, |s| s.days_ago), 11 * 3600);
        rows.push(NewImportFieldMapping {
            id: id(
                "import_field_mapping",
                &format!("{}/{key}/{source}", t.slug),
            ),
            client_account_id: t.id,
            data_import_id: import_id(&t.slug, key),
            reviewed_by_user_id: reviewed.then_some(reviewer).flatten(),
            source_field: source.into(),
            target_field: target.into(),
            confidence_score: if status == MappingStatus::Rejected {
                confidence.min(0.62)
            } else {
                confidence
            },
            status,
            transformation_rules: rules,
            reviewed_at: reviewed.then(|| at + chrono::Duration::hours(3)),
            created_at: Some(at),
            updated_at: Some(at),
        });
    }
    rows
}

const INFO: StageInfo = StageInfo {
    id: ID,
    description: "24 column mappings over the 3 imports: approved, pending, rejected, with confidence and transformation rules",
    prerequisites: &[stage_id::DATA_IMPORTS],
    tables: TABLES,
    ..StageInfo::DEFAULT
};

/// Stage 05: see the module docs.
pub struct FieldMappings;

impl Stage for FieldMappings {
    fn info(&self) -> &'static StageInfo {
        &INFO
    }
    fn expected<'a>(&self, ctx: &'a Ctx) -> Vec<Expected<'a>> {
        vec![Expected::bulk(
            &IMPORT_FIELD_MAPPINGS,
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
            // Natural key: (tenant, import, source column).
            // Streamed through the bulk loader (see crate::write::bulk): the same upsert on the natural
            // key, at COPY speed, inside this stage's transaction.
            let rows = ctx.tenants().into_iter().flat_map(|t| tenant_rows(ctx, &t));
            ctx.bulk_load(conn, &IMPORT_FIELD_MAPPINGS, rows, &mut out)
                .await?;
            Ok(out)
        })
    }
}
