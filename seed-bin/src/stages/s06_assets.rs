//! Stage 06_assets: Democorp's 60 assets (10 applications, 20 Linux and 15 Windows servers,
//! 10 databases, 5 network devices) and 12 per side tenant, with their tags. Valid raw import
//! rows of stage 04 are linked to the asset they were merged into.

use crate::error::Result;
use crate::fingerprint::{OwnedTable, table};
use crate::ids::{id, ts};
use crate::plan;
use crate::stage::{Ctx, Stage};
use crate::stages::s00_reference_data::technology_id;
use crate::stages::s01_core_entities::{main_engagement, tag_id};
use crate::stages::s02_discovery_flows::flow_id;
use crate::stages::s04_raw_import_records::records;
use diesel::{ExpressionMethods, PgExpressionMethods, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::models::{NewAsset, NewAssetTag};
use domain::schema::raw_import_records;
use futures_util::future::BoxFuture;
use serde_json::json;
use std::collections::BTreeMap;

/// Stage id.
pub const ID: &str = "06_assets";
const TABLES: &[OwnedTable] = &[table("assets"), table("asset_tags")];

/// Stage 06.
pub struct ThisStage;

impl Stage for ThisStage {
    fn id(&self) -> &'static str {
        ID
    }
    fn version(&self) -> i32 {
        1
    }
    fn description(&self) -> &'static str {
        "60 Democorp assets (10 apps, 20 Linux + 15 Windows servers, 10 databases, 5 network) + 12 per other tenant, tags"
    }
    fn prerequisites(&self) -> &'static [&'static str] {
        &["00_reference_data", "04_raw_import_records"]
    }
    fn tables(&self) -> &'static [OwnedTable] {
        TABLES
    }
    fn run<'a>(
        &'a self,
        ctx: &'a Ctx,
        conn: &'a mut AsyncPgConnection,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let at = Some(ts(ctx.as_of, 40, 12 * 3600));
            let mut assets = Vec::new();
            let mut tags = Vec::new();
            let mut links: Vec<(uuid::Uuid, Vec<uuid::Uuid>)> = Vec::new();
            for t in ctx.tenants() {
                let (eng, _) = main_engagement(ctx, &t);
                let planned = plan::assets(ctx, &t);
                let mut sources: BTreeMap<usize, Vec<uuid::Uuid>> = BTreeMap::new();
                for imp in records(ctx, &t) {
                    for r in imp.rows {
                        if let Some(a) = r.asset {
                            sources.entry(a).or_default().push(r.id);
                        }
                    }
                }
                for a in &planned {
                    let n_sources = sources.get(&a.index).map_or(0, Vec::len);
                    assets.push(NewAsset {
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
                        custom_attributes: json!({"flavor": a.flavor, "source_records": n_sources, "cost_center": format!("CC-{}", 1000 + a.index * 7)}),
                        created_at: at,
                        updated_at: at,
                    });
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
                    if let Some(ids) = sources.remove(&a.index) {
                        links.push((a.id, ids));
                    }
                }
            }
            // Natural keys: (tenant, engagement, name); (tenant, asset, tag).
            crate::upsert!(
                conn,
                assets,
                assets,
                (client_account_id, engagement_id, name),
                [
                    discovery_flow_id,
                    technology_id,
                    asset_type,
                    hostname,
                    ip_address,
                    operating_system,
                    os_version,
                    technology,
                    environment,
                    cpu_cores,
                    memory_gb,
                    storage_gb,
                    business_owner,
                    technical_owner,
                    criticality,
                    description,
                    custom_attributes,
                    created_at,
                    updated_at
                ]
            );
            crate::upsert!(
                conn,
                asset_tags,
                tags,
                (client_account_id, asset_id, tag_id),
                [created_at, updated_at]
            );
            // Merge links: an explicit updated_at keeps the update deterministic (the table's
            // trigger would otherwise stamp now()).
            for (asset, ids) in links {
                diesel::update(
                    raw_import_records::table
                        .filter(raw_import_records::id.eq_any(&ids))
                        // Only rows not linked yet: a rerun writes nothing.
                        .filter(raw_import_records::asset_id.is_distinct_from(asset)),
                )
                .set((
                    raw_import_records::asset_id.eq(asset),
                    raw_import_records::updated_at.eq(ts(ctx.as_of, 40, 12 * 3600)),
                ))
                .execute(conn)
                .await?;
            }
            Ok(())
        })
    }
}
