//! Stage 09_migration_waves: four waves (wave 0 is the pilot) with planned dates. Every asset
//! whose strategy is neither retire nor retain is in exactly one wave, and no application is
//! scheduled before a database it depends on.

use super::expected::Expected;
use super::stage::{Ctx, Stage, StageCtx, StageInfo, StageOutput};
use crate::dataset::{self, Tenant, main_engagement, stage_id};
use crate::error::Result;
use crate::fingerprint::{OwnedTable, table};
use crate::ids::{date, id, ts};
use crate::write::bulk::rows::{MIGRATION_WAVES, WAVE_ASSETS};
use diesel_async::AsyncPgConnection;
use domain::enums::{AssetType, WaveStatus};
use domain::models::{NewMigrationWave, NewWaveAsset};
use futures_util::future::BoxFuture;
use rand::RngExt;

/// Stage id.
pub const ID: &str = stage_id::MIGRATION_WAVES;
const TABLES: &[OwnedTable] = &[table("migration_waves"), table("wave_assets")];
/// Waves per engagement.
pub const WAVES: &[(&str, &str)] = &[
    (
        "Wave 0 - Pilot",
        "Low-risk pilot: proves the landing zone, tooling and runbooks",
    ),
    (
        "Wave 1 - Foundations",
        "Network services and the first databases",
    ),
    (
        "Wave 2 - Core business",
        "Core databases and the applications on them",
    ),
    ("Wave 3 - Remaining estate", "Everything else that migrates"),
];

/// The wave (0..4) of every migrating asset, by asset index; `None` for retire/retain.
pub fn assignment(ctx: &Ctx, t: &Tenant, assets: &[dataset::PlannedAsset]) -> Vec<Option<usize>> {
    let strategies = dataset::strategies(ctx, t, assets);
    let edges = dataset::edges(ctx, t, assets);
    let mut rng = ctx.rng(ID, t);
    let mut wave: Vec<Option<usize>> = vec![None; assets.len()];
    // Infrastructure first: servers spread over all waves (the first two are the pilot),
    // network in wave 1, databases in waves 0-2.
    let mut n_server = 0;
    for a in assets {
        if !dataset::migrates(strategies[a.index]) {
            continue;
        }
        wave[a.index] = match a.kind {
            AssetType::Server => {
                n_server += 1;
                Some(if n_server <= 2 {
                    0
                } else {
                    rng.random_range(1..4)
                })
            }
            AssetType::NetworkDevice => Some(1),
            AssetType::Database => Some(rng.random_range(0..3)),
            _ => None,
        };
    }
    // Applications: a random preference, pushed back behind their databases.
    for a in assets.iter().filter(|a| a.kind == AssetType::Application) {
        if !dataset::migrates(strategies[a.index]) {
            continue;
        }
        let after_dbs = edges
            .iter()
            .filter(|e| e.source == a.index && assets[e.target].kind == AssetType::Database)
            .filter_map(|e| wave[e.target])
            .max()
            .unwrap_or(0);
        wave[a.index] = Some(rng.random_range(1..4usize).max(after_dbs));
    }
    wave
}

/// When the waves were planned.
fn planned_at(ctx: &Ctx) -> Option<chrono::DateTime<chrono::Utc>> {
    Some(ts(ctx.as_of, 10, 16 * 3600))
}

/// The ids of a tenant's waves, by wave number.
fn wave_ids(t: &Tenant) -> Vec<uuid::Uuid> {
    (0..WAVES.len())
        .map(|n| id("migration_wave", &format!("{}/{n}", t.slug)))
        .collect()
}

/// A tenant's waves. Waves and members are generated tenant by tenant, each by its own
/// function (the waves need no asset plan), so memory does not grow with `--scale`.
fn tenant_waves(ctx: &Ctx, t: &Tenant) -> Vec<NewMigrationWave> {
    let at = planned_at(ctx);
    let (eng, _) = main_engagement(ctx, t);
    WAVES
        .iter()
        .zip(wave_ids(t))
        .enumerate()
        .map(|(n, ((name, desc), wave_id))| NewMigrationWave {
            id: wave_id,
            client_account_id: t.id,
            engagement_id: eng,
            wave_number: n as i32,
            name: name.to_string(),
            description: Some(desc.to_string()),
            status: WaveStatus::Planned,
            is_pilot: n == 0,
            planned_start_date: date(ctx.as_of, 30 + 42 * n as i64),
            planned_end_date: date(ctx.as_of, 30 + 42 * n as i64 + 35),
            actual_start_date: None,
            actual_end_date: None,
            created_at: at,
            updated_at: at,
        })
        .collect()
}

/// A tenant's wave members, in sequence inside each wave: infrastructure and databases before
/// applications.
fn tenant_members(ctx: &Ctx, t: &Tenant) -> Vec<NewWaveAsset> {
    let at = planned_at(ctx);
    let assets = dataset::assets(ctx, t);
    let strategies = dataset::strategies(ctx, t, &assets);
    let assigned = assignment(ctx, t, &assets);
    let wave_ids = wave_ids(t);
    let mut members = Vec::new();
    let mut order = vec![0i32; WAVES.len()];
    let mut by_rank: Vec<&dataset::PlannedAsset> = assets.iter().collect();
    by_rank.sort_by_key(|a| (a.kind == AssetType::Application, a.index));
    for a in by_rank {
        if let Some(w) = assigned[a.index] {
            members.push(NewWaveAsset {
                id: id("wave_asset", &format!("{}/{}", t.slug, a.name)),
                client_account_id: t.id,
                wave_id: wave_ids[w],
                asset_id: a.id,
                strategy: strategies[a.index],
                sequence_order: order[w],
                created_at: at,
                updated_at: at,
            });
            order[w] += 1;
        }
    }
    members
}

const INFO: StageInfo = StageInfo {
    id: ID,
    description: "4 waves per tenant (pilot first); every migrating asset in exactly one wave, databases before their apps",
    prerequisites: &[stage_id::DEPENDENCIES, stage_id::ASSESSMENTS],
    tables: TABLES,
    ..StageInfo::DEFAULT
};

/// Stage 09: see the module docs.
pub struct MigrationWaves;

impl Stage for MigrationWaves {
    fn info(&self) -> &'static StageInfo {
        &INFO
    }
    fn expected<'a>(&self, ctx: &'a Ctx) -> Vec<Expected<'a>> {
        vec![
            Expected::bulk(
                &MIGRATION_WAVES,
                ctx.tenants()
                    .into_iter()
                    .flat_map(move |t| tenant_waves(ctx, &t)),
            ),
            Expected::bulk(
                &WAVE_ASSETS,
                ctx.tenants()
                    .into_iter()
                    .flat_map(move |t| tenant_members(ctx, &t)),
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
            // Natural keys: (tenant, engagement, wave number); (tenant, asset): one wave per asset.
            // Both streamed through the bulk loader (see crate::write::bulk) inside this stage's
            // transaction; waves first, since wave_assets references them.
            let waves = ctx
                .tenants()
                .into_iter()
                .flat_map(|t| tenant_waves(ctx, &t));
            ctx.bulk_load(conn, &MIGRATION_WAVES, waves, &mut out)
                .await?;
            let members = ctx
                .tenants()
                .into_iter()
                .flat_map(|t| tenant_members(ctx, &t));
            ctx.bulk_load(conn, &WAVE_ASSETS, members, &mut out).await?;
            Ok(out)
        })
    }
}
