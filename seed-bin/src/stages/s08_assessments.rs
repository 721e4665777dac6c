//! Stage 08_assessments: technical and risk assessments of applications and databases,
//! performance assessments of servers, a technical review of network devices, and security
//! findings for a subset (the first 6 applications and first 3 databases). Every assessment
//! of an asset recommends the same 6R strategy (`dataset::strategies`).

use super::expected::Expected;
use super::stage::{Ctx, Stage, StageCtx, StageInfo, StageOutput};
use crate::dataset::{self, Tenant, analyst, stage_id};
use crate::error::Result;
use crate::fingerprint::{OwnedTable, table};
use crate::ids::{id, ts};
use crate::write::bulk::rows::ASSESSMENTS;
use diesel_async::AsyncPgConnection;
use domain::enums::{AssessmentType, AssetType, CriticalityLevel};
use domain::models::NewAssessment;
use futures_util::future::BoxFuture;
use rand::RngExt;
use serde_json::json;

/// Stage id.
pub const ID: &str = stage_id::ASSESSMENTS;
const TABLES: &[OwnedTable] = &[table("assessments")];

/// Assessment types an asset gets (by kind and position among its kind).
pub fn types_for(kind: AssetType, nth_of_kind: usize) -> Vec<AssessmentType> {
    match kind {
        AssetType::Application => {
            let mut v = vec![AssessmentType::Technical, AssessmentType::Risk];
            if nth_of_kind < 6 {
                v.push(AssessmentType::Security);
            }
            v
        }
        AssetType::Database => {
            let mut v = vec![AssessmentType::Technical, AssessmentType::Risk];
            if nth_of_kind < 3 {
                v.push(AssessmentType::Security);
            }
            v
        }
        AssetType::Server => vec![AssessmentType::Performance],
        _ => vec![AssessmentType::Technical],
    }
}

fn risk(score: i32) -> CriticalityLevel {
    match score {
        0..=39 => CriticalityLevel::Critical,
        40..=59 => CriticalityLevel::High,
        60..=79 => CriticalityLevel::Medium,
        _ => CriticalityLevel::Low,
    }
}

/// The rows of one tenant: generated lazily, tenant by tenant, so memory does not grow with
/// `--scale`.
fn tenant_rows(ctx: &Ctx, t: &Tenant) -> Vec<NewAssessment> {
    let mut rows = Vec::new();
    let assets = dataset::assets(ctx, t);
    let strategies = dataset::strategies(ctx, t, &assets);
    let reviewer = analyst(ctx, t);
    // Scores and findings use their own stream: strategies own ID's stream.
    let mut rng = ctx.rng(&format!("{ID}/scores"), t);
    let mut seen = std::collections::HashMap::<AssetType, usize>::new();
    for a in &assets {
        let nth = seen.entry(a.kind).or_default();
        for kind in types_for(a.kind, *nth) {
            let score: i32 = rng.random_range(25..96);
            let findings = match kind {
                AssessmentType::Security => json!([
                    {"id": "SEC-001", "severity": if score < 50 { "high" } else { "medium" }, "title": "TLS 1.0 still enabled", "remediation": "disable TLS < 1.2"},
                    {"id": "SEC-014", "severity": "low", "title": "service account password older than 365 days", "remediation": "rotate and vault the credential"},
                ]),
                AssessmentType::Performance => json!([
                    {"metric": "cpu_p95_percent", "value": rng.random_range(15..95)},
                    {"metric": "memory_p95_percent", "value": rng.random_range(30..98)},
                    {"metric": "iops_p95", "value": rng.random_range(200..12000)},
                ]),
                AssessmentType::Risk => json!([
                    {"risk": "business_continuity", "level": risk(score).as_str(), "note": "no tested DR runbook"},
                ]),
                AssessmentType::Technical => json!([
                    {"area": "technology_currency", "note": a.technology.map_or("vendor appliance".to_string(), |(n, v)| format!("{n} {v}"))},
                    {"area": "cloud_readiness", "score": rng.random_range(1..6)},
                ]),
            };
            let at = ts(ctx.as_of, 20, 14 * 3600 + a.index as i64 * 60);
            rows.push(NewAssessment {
                id: id(
                    "assessment",
                    &format!("{}/{}/{}", t.slug, a.name, kind.as_str()),
                ),
                client_account_id: t.id,
                asset_id: a.id,
                assessed_by_user_id: reviewer,
                assessment_type: kind,
                score,
                risk_level: risk(score),
                confidence_score: (rng.random_range(60..100) as f64) / 100.0,
                recommended_strategy: Some(strategies[a.index]),
                summary: Some(format!(
                    "{} assessment of {}: score {score}, recommended {}",
                    kind.as_str(),
                    a.name,
                    strategies[a.index].as_str()
                )),
                findings,
                assessed_at: at,
                created_at: Some(at),
                updated_at: Some(at),
            });
        }
        *nth += 1;
    }
    rows
}

const INFO: StageInfo = StageInfo {
    id: ID,
    description: "89 Democorp assessments (technical, risk, performance, security) with score, risk, findings and a 6R strategy",
    prerequisites: &[stage_id::REFERENCE_DATA, stage_id::ASSETS],
    tables: TABLES,
    ..StageInfo::DEFAULT
};

/// Stage 08: see the module docs.
pub struct Assessments;

impl Stage for Assessments {
    fn info(&self) -> &'static StageInfo {
        &INFO
    }
    fn expected<'a>(&self, ctx: &'a Ctx) -> Vec<Expected<'a>> {
        vec![Expected::bulk(
            &ASSESSMENTS,
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
            // Natural key: (tenant, asset, type) (assessments_asset_type_key).
            // Streamed through the bulk loader (see crate::write::bulk): the same upsert on the natural
            // key, at COPY speed, inside this stage's transaction.
            let rows = ctx.tenants().into_iter().flat_map(|t| tenant_rows(ctx, &t));
            ctx.bulk_load(conn, &ASSESSMENTS, rows, &mut out).await?;
            Ok(out)
        })
    }
}
