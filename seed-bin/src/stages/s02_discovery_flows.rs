//! Stage 02_discovery_flows: discovery pipeline runs with their state documents. Democorp's
//! main engagement gets five (3 completed at different final phases, 1 in progress stopped
//! at field mapping, 1 failed); every other tenant gets one completed flow.

use super::expected::{self, Expected};
use super::stage::{Ctx, Stage, StageCtx, StageInfo, StageOutput};
use crate::dataset::{
    FlowSpec, PHASES, Tenant, flow_id, flows, main_engagement, manager, stage_id,
};
use crate::error::Result;
use crate::fingerprint::{OwnedTable, table};
use crate::ids::ts;
use crate::write::Snapshot;
use chrono::{DateTime, Duration, Utc};
use diesel_async::AsyncPgConnection;
use domain::enums::FlowStatus;
use domain::models::NewDiscoveryFlow;
use futures_util::future::BoxFuture;
use rand::RngExt;
use serde_json::{Value, json};

/// Stage id.
pub const ID: &str = stage_id::DISCOVERY_FLOWS;
const TABLES: &[OwnedTable] = &[table("discovery_flows")];

fn phase_docs(
    spec: &FlowSpec,
    start: DateTime<Utc>,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> (Value, DateTime<Utc>) {
    let reached = PHASES
        .iter()
        .position(|p| *p == spec.last_phase)
        .unwrap_or(0);
    let mut t = start;
    let mut phases = Vec::new();
    for (i, p) in PHASES.iter().enumerate() {
        let secs: i64 = rng.random_range(40..900);
        let status = if i < reached || (i == reached && spec.status == FlowStatus::Completed) {
            "completed"
        } else if i == reached && spec.status == FlowStatus::Failed {
            "failed"
        } else if i == reached {
            "in_progress"
        } else {
            "not_started"
        };
        let entry = match status {
            "not_started" => json!({"name": p, "status": status}),
            "in_progress" => json!({"name": p, "status": status, "started_at": t}),
            _ => {
                json!({"name": p, "status": status, "started_at": t, "completed_at": t + Duration::seconds(secs), "duration_seconds": secs})
            }
        };
        if matches!(status, "completed" | "failed") {
            t += Duration::seconds(secs);
        }
        phases.push(entry);
    }
    (
        json!({"phases": phases, "current_phase": spec.last_phase, "config": {"auto_approve_mappings": false, "confidence_threshold": 0.8}}),
        t,
    )
}

/// Flows per `insert_or_update!`: with their documents and the statement's encoded binds, 2 000 flows took
/// about 50 MB at `--scale 1000`.
const FLOWS_PER_WRITE: usize = 400;

/// Inserts or updates one chunk of flows.
async fn write(conn: &mut AsyncPgConnection, rows: &[NewDiscoveryFlow]) -> Result<()> {
    // Natural key: (tenant, engagement, name) (discovery_flows_engagement_name_key).
    crate::insert_or_update!(
        conn,
        discovery_flows,
        rows,
        (client_account_id, engagement_id, name),
        [
            created_by_user_id,
            status,
            current_phase,
            progress_percent,
            flow_state,
            agent_insights,
            performance_metrics,
            error_details,
            started_at,
            completed_at,
            created_at,
            updated_at
        ]
    );
    Ok(())
}

/// One tenant's flows.
fn tenant_flows(ctx: &Ctx, t: &Tenant) -> Vec<NewDiscoveryFlow> {
    let mut out = Vec::new();
    let mut rng = ctx.rng(ID, t);
    let (eng, _) = main_engagement(ctx, t);
    for spec in &flows(t) {
        let start = ts(
            ctx.as_of,
            spec.days_ago,
            9 * 3600 + rng.random_range(0..7200),
        );
        let (state, end) = phase_docs(spec, start, &mut rng);
        let reached = PHASES
            .iter()
            .position(|p| *p == spec.last_phase)
            .unwrap_or(0);
        let done = spec.status == FlowStatus::Completed;
        let records: i64 = rng.random_range(120..2000);
        let insights = json!([
            {"agent": "data_quality", "severity": "warning", "confidence": 0.91,
             "insight": format!("{} records lack an owner; assign business owners before wave planning", rng.random_range(3..20))},
            {"agent": "asset_classifier", "severity": "info", "confidence": 0.87,
             "insight": "Most Windows servers run end-of-support versions; see the technology catalogue"},
            {"agent": "dependency_mapper", "severity": "info", "confidence": 0.78,
             "insight": "A cycle links the order, customer and payment applications; migrate them together"},
        ]);
        let elapsed = (end - start).num_seconds();
        out.push(NewDiscoveryFlow {
            id: flow_id(&t.slug, &spec.key),
            client_account_id: t.id,
            engagement_id: eng,
            created_by_user_id: manager(ctx, t),
            name: spec.name.to_string(),
            status: spec.status,
            current_phase: if done && spec.last_phase == "tech_debt_analysis" { "completed".into() } else { spec.last_phase.into() },
            progress_percent: if done { 100 } else { (reached * 100 / PHASES.len()) as i32 },
            flow_state: state,
            agent_insights: insights,
            performance_metrics: json!({
                "total_duration_seconds": elapsed,
                "records_processed": records,
                "records_per_second": (records as f64 / elapsed.max(1) as f64 * 100.0).round() / 100.0,
                "agent_calls": rng.random_range(20..400),
                "peak_memory_mb": rng.random_range(180..1400),
            }),
            error_details: (spec.status == FlowStatus::Failed).then(|| json!({
                "phase": spec.last_phase,
                "code": "CLEANSING_TIMEOUT",
                "message": "data cleansing agent timed out after 900 s on 412 records",
                "retryable": true,
                "occurred_at": end,
            })),
            started_at: Some(start),
            completed_at: matches!(spec.status, FlowStatus::Completed | FlowStatus::Failed | FlowStatus::Cancelled).then_some(end),
            created_at: Some(start),
            updated_at: Some(end),
        });
    }
    out
}

const INFO: StageInfo = StageInfo {
    id: ID,
    description: "discovery flows: Democorp 5 (3 completed, 1 in progress at field mapping, 1 failed), 1 per other tenant",
    prerequisites: &[stage_id::CORE_ENTITIES],
    tables: TABLES,
    ..StageInfo::DEFAULT
};

/// Stage 02: see the module docs.
pub struct DiscoveryFlows;

impl Stage for DiscoveryFlows {
    fn info(&self) -> &'static StageInfo {
        &INFO
    }
    fn expected<'a>(&self, ctx: &'a Ctx) -> Vec<Expected<'a>> {
        let rows = ctx
            .tenants()
            .into_iter()
            .flat_map(move |t| tenant_flows(ctx, &t));
        vec![Expected::insert(&expected::DISCOVERY_FLOWS, rows)]
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
            for t in ctx.tenants() {
                rows.extend(tenant_flows(ctx, &t));
                // Flow documents are a few KB each: write as we go, so memory does not grow
                // with `--scale`.
                if rows.len() >= FLOWS_PER_WRITE {
                    write(conn, &rows).await?;
                    rows.clear();
                }
            }
            write(conn, &rows).await?;
            Ok(StageOutput {
                counts: snapshot.counts(conn).await?,
                secret: None,
            })
        })
    }
}
