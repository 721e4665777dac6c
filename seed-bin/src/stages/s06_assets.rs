//! Stage 06_assets: Democorp's 60 assets (10 applications, 20 Linux and 15 Windows servers,
//! 10 databases, 5 network devices) and 12 per side tenant, with their tags. Stage 04's valid
//! raw import rows point at these assets, so it runs after this stage.

use super::expected::Expected;
use super::stage::{Ctx, Stage, StageCtx, StageInfo, StageOutput};
use crate::dataset::{
    self, Tenant, flow_id, main_engagement, merged_at, source_counts, stage_id, tag_id,
    technology_id,
};
use crate::error::Result;
use crate::fingerprint::{OwnedTable, table};
use crate::ids::id;
use crate::write::bulk::rows::{ASSET_TAGS, ASSETS};
use diesel_async::AsyncPgConnection;
use domain::models::{NewAsset, NewAssetTag};
use futures_util::future::BoxFuture;
use serde_json::json;

/// Stage id.
pub const ID: &str = stage_id::ASSETS;
const TABLES: &[OwnedTable] = &[table("assets"), table("asset_tags")];

/// A tenant's assets, generated tenant by tenant so memory does not grow with `--scale`.
fn tenant_assets(ctx: &Ctx, t: &Tenant) -> Vec<NewAsset> {
    let at = Some(merged_at(ctx));
    let (eng, _) = main_engagement(ctx, t);
    let planned = dataset::assets(ctx, t);
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
    for a in dataset::assets(ctx, t) {
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
    prerequisites: &[stage_id::REFERENCE_DATA, stage_id::DISCOVERY_FLOWS],
    tables: TABLES,
    ..StageInfo::DEFAULT
};

/// Stage 06: see the module docs.
pub struct Assets;

impl Stage for Assets {
    fn info(&self) -> &'static StageInfo {
        &INFO
    }
    fn expected<'a>(&self, ctx: &'a Ctx) -> Vec<Expected<'a>> {
        vec![
            Expected::bulk(
                &ASSETS,
                ctx.tenants()
                    .into_iter()
                    .flat_map(move |t| tenant_assets(ctx, &t)),
            ),
            Expected::bulk(
                &ASSET_TAGS,
                ctx.tenants()
                    .into_iter()
                    .flat_map(move |t| tenant_tags(ctx, &t)),
            ),
        ]
    }
    fn run<'a>(
        &'a self,
        ctx: &'a StageCtx<'a>,
        conn: &'a mut AsyncPgConnection,
    ) -> BoxFuture<'a, Result<StageOutput>> {
        Box::pin(async move {
            let mut out = StageOutput::default();
            // Natural keys: (tenant, engagement, name); (tenant, asset, tag). Both streamed
            // through the bulk loader (see crate::write::bulk) inside this stage's transaction.
            let assets = ctx
                .tenants()
                .into_iter()
                .flat_map(|t| tenant_assets(ctx, &t));
            ctx.bulk_load(conn, &ASSETS, assets, &mut out).await?;
            let tags = ctx.tenants().into_iter().flat_map(|t| tenant_tags(ctx, &t));
            ctx.bulk_load(conn, &ASSET_TAGS, tags, &mut out).await?;
            Ok(out)
        })
    }
}
