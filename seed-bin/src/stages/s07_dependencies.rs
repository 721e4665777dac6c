//! Stage 07_dependencies: directed "source depends on target" edges: applications on servers
//! and databases, servers behind firewalls and load balancers, applications calling each other
//! (including the cycle order → customer → payment → order). No self-edges.

use super::expected::Expected;
use super::stage::{Ctx, Stage, StageCtx, StageInfo, StageOutput};
use crate::dataset::{self, Tenant, stage_id};
use crate::error::Result;
use crate::fingerprint::{OwnedTable, table};
use crate::ids::{id, ts};
use crate::write::bulk::rows::ASSET_DEPENDENCIES;
use diesel_async::AsyncPgConnection;
use domain::models::NewAssetDependency;
use futures_util::future::BoxFuture;
use rand::RngExt;

/// Stage id.
pub const ID: &str = stage_id::DEPENDENCIES;
const TABLES: &[OwnedTable] = &[table("asset_dependencies")];

/// The rows of one tenant: generated lazily, tenant by tenant, so memory does not grow with
/// `--scale`.
fn tenant_rows(ctx: &Ctx, t: &Tenant) -> Vec<NewAssetDependency> {
    let at = Some(ts(ctx.as_of, 30, 15 * 3600));
    let mut rows = Vec::new();
    let assets = dataset::assets(ctx, t);
    // Confidence comes from a stream of its own so the graph's shape is not shifted.
    let mut rng = ctx.rng(&format!("{ID}/confidence"), t);
    for e in dataset::edges(ctx, t, &assets) {
        let (s, d) = (&assets[e.source], &assets[e.target]);
        rows.push(NewAssetDependency {
            id: id(
                "asset_dependency",
                &format!("{}/{}/{}/{}", t.slug, s.name, d.name, e.kind),
            ),
            client_account_id: t.id,
            source_asset_id: s.id,
            target_asset_id: d.id,
            dependency_type: e.kind.into(),
            protocol: e.protocol.map(Into::into),
            port: e.port,
            confidence_score: (rng.random_range(70..100) as f64) / 100.0,
            is_critical: e.critical,
            description: Some(format!("{} depends on {} ({})", s.name, d.name, e.kind)),
            created_at: at,
            updated_at: at,
        });
    }
    rows
}

const INFO: StageInfo = StageInfo {
    id: ID,
    description: "98 Democorp dependency edges (+18 per other tenant) with a cycle and no self-edges",
    prerequisites: &[stage_id::ASSETS],
    tables: TABLES,
    ..StageInfo::DEFAULT
};

/// Stage 07: see the module docs.
pub struct Dependencies;

impl Stage for Dependencies {
    fn info(&self) -> &'static StageInfo {
        &INFO
    }
    fn expected<'a>(&self, ctx: &'a Ctx) -> Vec<Expected<'a>> {
        vec![Expected::bulk(
            &ASSET_DEPENDENCIES,
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
            // Natural key: (tenant, source, target, type) (asset_dependencies_edge_key).
            // Streamed through the bulk loader (see crate::write::bulk): the same upsert on the natural
            // key, at COPY speed, inside this stage's transaction.
            let rows = ctx.tenants().into_iter().flat_map(|t| tenant_rows(ctx, &t));
            ctx.bulk_load(conn, &ASSET_DEPENDENCIES, rows, &mut out)
                .await?;
            Ok(out)
        })
    }
}
