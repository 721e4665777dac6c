//! Stage 06_assets: Democorp's 60 assets (10 applications, 20 Linux and 15 Windows servers,
//! 10 databases, 5 network devices) and 12 per side tenant, with their tags. Stage 04's valid
//! raw import rows point at these assets, so it runs after this stage.

use crate::error::Result;
use crate::fingerprint::{OwnedTable, table};
use crate::ids::{id, ts};
use crate::plan;
use crate::stage::{Ctx, Stage, StageInfo, Tenant};
use crate::stages::s00_reference_data::technology_id;
use crate::stages::s01_core_entities::{main_engagement, tag_id};
use crate::stages::s02_discovery_flows::flow_id;
use crate::stages::s04_raw_import_records::source_counts;
use diesel_async::AsyncPgConnection;
use domain::models::{NewAsset, NewAssetTag};
use futures_util::future::BoxFuture;
use serde_json::json;

/// Stage id.
pub const ID: &str = "06_assets";
const TABLES: &[OwnedTable] = &[table("assets"), table("asset_tags")];

/// When the assets were merged from the import rows: their creation time, and the last change
/// of every raw row merged into one.
pub fn merged_at(ctx: &Ctx) -> chrono::DateTime<chrono::Utc> {
    ts(ctx.as_of, 40, 12 * 3600)
}

/// A tenant's assets, generated tenant by tenant so memory does not grow with `--scale`.
fn tenant_assets(ctx: &Ctx, t: &Tenant) -> Vec<NewAsset> {
    let at = Some(merged_at(ctx));
    let (eng, _) = main_engagement(ctx, t);
    let planned = plan::assets(ctx, t);
    let sources = source_counts(t, &planned);
    planned
        .iter()
        .map(|a| NewAsset {
            id: a.id,
            client_account_id: t.id,
            engagement_id: eng,
            discovery_flow_id: Some(flow_id(&t.slug, "cmdb")),
            technology_id: a.technology.map(|(n, v)| technology_id(n, v)),
            name: a.name.clone(),
            asset_type: a.kind,
            hostname: a.hostname.clone(),
            ip_address: a.ip.as_deref().and_then(|ip| format!("{ip}/32").parse().ok()),
            operating_system: a.os.map(Into::into),
            os_version: a.os_version.map(Into::into),
            technology: a.technology.map(|(n, v)| format!("{n} {v}")),
            environment: a.environment.into(),
            cpu_cores: a.cpu_cores,
            memory_gb: a.memory_gb,
            storage_gb: a.storage_gb,
            business_owner: Some(a.business_owner.clone()),
            technical_owner: Some(a.technical_owner.clone()),
            criticality: a.criticality,
            description: Some(a.description.clone()),
            custom_attributes: json!({"flavor": a.flavor, "source_records": sources[a.index], "cost_center": format!("CC-{}", 1000 + a.index * 7)}),
            created_at: at,
            updated_at: at,
        })
        .collect()
}

/// A tenant's asset tags.
fn tenant_tags(ctx: &Ctx, t: &Tenant) -> Vec<NewAssetTag> {
    let at = Some(merged_at(ctx));
    let mut tags = Vec::new();
    for a in plan::assets(ctx, t) {
        for tag in &a.tags {
            tags.push(NewAssetTag {
                id: id("asset_tag", &format!("{}/{}/{tag}", t.slug, a.name)),
                client_account_id: t.id,
                asset_id: a.id,
                tag_id: tag_id(&t.slug, tag),
                created_at: at,
                updated_at: at,
            });
        }
    }
    tags
}

const INFO: StageInfo = StageInfo {
    id: ID,
    description: "60 Democorp assets (10 apps, 20 Linux + 15 Windows servers, 10 databases, 5 network) + 12 per other tenant, tags",
    prerequisites: &["00_reference_data", "02_discovery_flows"],
    tables: TABLES,
    counts_itself: true,
    ..StageInfo::DEFAULT
};

/// Stage 06.
pub struct ThisStage;

impl Stage for ThisStage {
    fn info(&self) -> &'static StageInfo {
        &INFO
    }
    fn run<'a>(
        &'a self,
        ctx: &'a Ctx,
        conn: &'a mut AsyncPgConnection,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            // Natural keys: (tenant, engagement, name); (tenant, asset, tag). Both streamed
            // through the bulk loader (see crate::bulk) inside this stage's transaction.
            let assets = ctx
                .tenants()
                .into_iter()
                .flat_map(|t| tenant_assets(ctx, &t));
            ctx.bulk_load(conn, &crate::bulk::rows::ASSETS, assets)
                .await?;
            let tags = ctx.tenants().into_iter().flat_map(|t| tenant_tags(ctx, &t));
            ctx.bulk_load(conn, &crate::bulk::rows::ASSET_TAGS, tags)
                .await?;
            Ok(())
        })
    }
}
