//! Factories: deterministic data on top of the demo dataset — one more tenant with N assets and
//! a dependency graph of a given shape, or a discovery flow stuck in a given state.
//!
//! A factory does not have generators of its own. It describes a tenant (a [`Custom`] on a
//! [`Tenant`]) and runs the seed stages for that tenant only, so its rows come from the same
//! generators as the demo dataset: the same UUIDv5 ids of natural keys, the same random
//! streams (the run's `--rng-seed` and `--as-of`), the same composite tenant keys and
//! foreign keys. Each stage runs in its own transaction under the stage's lock, like a seed
//! run, but writes no ledger row: the ledger describes the seeded dataset, and a factory's
//! rows are not part of it (`seed verify` reports them apart; `seed --prune` leaves other
//! tenants alone).

use crate::dataset::custom::{Custom, GraphShape, MAX_ASSETS, StuckFlow};
use crate::dataset::{Dataset, PHASES, Tenant, account_id, stage_id};
use crate::error::{Result, SeedError};
use crate::ledger;
use crate::runner::stage_lock_key;
use crate::stages::STAGES;
use crate::stages::stage::{Ctx, Stage, StageCtx};
use crate::write::{Counts, Loader};
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::enums::FlowStatus;
use groundwork_migrate::ConnInfo;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Longest slug: it becomes part of host names, e-mail domains and natural keys.
const MAX_SLUG: usize = 40;

/// One more tenant: its slug (the natural key its id derives from), how many assets and the
/// shape of their dependency graph.
#[derive(Debug, Clone)]
pub struct TenantFactory {
    slug: String,
    custom: Custom,
}

impl TenantFactory {
    /// A tenant with the side tenants' shape (12 assets, the standard graph, one flow).
    pub fn new(slug: impl Into<String>) -> Self {
        TenantFactory {
            slug: slug.into(),
            custom: Custom::default(),
        }
    }

    /// `n` assets (1..=10 000), split over the kinds like the demo tenant's.
    pub fn assets(mut self, n: usize) -> Self {
        self.custom.assets = Some(n);
        self
    }

    /// The shape of the dependency graph.
    pub fn graph(mut self, shape: GraphShape) -> Self {
        self.custom.graph = shape;
        self
    }

    /// The tenant this factory describes, checked against the seeded ones.
    pub fn tenant(&self, ds: &Dataset) -> Result<Tenant> {
        check_slug(&self.slug)?;
        if ds.seeded_tenants().iter().any(|t| t.slug == self.slug) {
            return Err(SeedError::Usage(format!(
                "tenant {:?} is one of the seeded tenants; `seed add tenant` makes a new one. Pick another slug, or use `seed add flow --tenant {}` to add to it.",
                self.slug, self.slug
            )));
        }
        if let Some(n) = self.custom.assets
            && !(1..=MAX_ASSETS).contains(&n)
        {
            return Err(SeedError::Usage(format!(
                "--assets {n} is out of range: a factory tenant has 1..={MAX_ASSETS} assets (use --scale for more tenants)."
            )));
        }
        Ok(factory_tenant(&self.slug, Some(self.custom.clone())))
    }
}

/// A flow stopped at `phase` with `status`, checked.
pub fn stuck(status: FlowStatus, phase: &str) -> Result<StuckFlow> {
    let Some(phase) = PHASES.iter().copied().find(|p| *p == phase) else {
        return Err(SeedError::Usage(format!(
            "--phase {phase:?} is not a discovery phase; expected one of: {}.",
            PHASES.join(", ")
        )));
    };
    Ok(StuckFlow {
        phase,
        status,
        days_ago: 3,
    })
}

/// A tenant a factory made (or makes): not in the core file, not a `--scale` tenant.
fn factory_tenant(slug: &str, custom: Option<Custom>) -> Tenant {
    let id = account_id(slug);
    // Past the synthetic tenants' 1000 + N: the generators read "not from the core file"
    // from the index, and its low digits pick the tenant's private subnet.
    let b = id.as_bytes();
    let spread = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize % 1_000_000;
    Tenant {
        slug: slug.to_string(),
        id,
        index: 1_000_000 + spread,
        demo_shaped: false,
        custom: custom.map(Arc::new),
    }
}

/// Slugs become host names, e-mail domains and natural keys: lower-case letters, digits
/// and inner hyphens only, and never the `--scale` tenants' `synthetic-` prefix.
fn check_slug(slug: &str) -> Result<()> {
    let ok_chars = slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let well_formed = !slug.is_empty()
        && slug.len() <= MAX_SLUG
        && ok_chars
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if !well_formed {
        return Err(SeedError::Usage(format!(
            "tenant slug {slug:?} is not valid: use 1..={MAX_SLUG} lower-case letters, digits and inner hyphens (e.g. acme-retail)."
        )));
    }
    if slug.starts_with("synthetic-") {
        return Err(SeedError::Usage(format!(
            "tenant slug {slug:?} uses the prefix of the --scale tenants (synthetic-); pick another slug."
        )));
    }
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct Found {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The tenant `slug` of this database, for adding to it: a seeded tenant, or one a factory
/// made earlier (with the shape it was generated with: only `flows` are added).
pub async fn existing_tenant(
    conn: &mut AsyncPgConnection,
    ds: &Dataset,
    slug: &str,
) -> Result<Tenant> {
    if let Some(t) = ds.seeded_tenants().into_iter().find(|t| t.slug == slug) {
        return Ok(t);
    }
    check_slug(slug)?;
    let found: Found =
        diesel::sql_query("SELECT count(*) AS n FROM client_accounts WHERE slug = $1")
            .bind::<Text, _>(slug)
            .get_result(conn)
            .await
            .map_err(SeedError::db(format!("looking up tenant {slug}")))?;
    if found.n == 0 {
        return Err(SeedError::Usage(format!(
            "there is no tenant {slug:?} in this database: name a seeded tenant (e.g. {}) or one made with `seed add tenant`.",
            ds.core.main_account().slug.get_ref()
        )));
    }
    Ok(factory_tenant(slug, None))
}

/// Which stages a factory runs: every stage that writes tenant rows (not the reference data),
/// or only the flows' stage.
pub fn tenant_stages() -> Vec<&'static dyn Stage> {
    STAGES
        .iter()
        .copied()
        .filter(|s| s.id() != stage_id::REFERENCE_DATA)
        .collect()
}

/// The flows' stage.
pub fn flow_stages() -> Vec<&'static dyn Stage> {
    STAGES
        .iter()
        .copied()
        .filter(|s| s.id() == stage_id::DISCOVERY_FLOWS)
        .collect()
}

/// Runs `stages`, in order, for `ctx`'s tenants (a factory's: `ctx.only`), each in its own
/// transaction under the stage's lock; returns the rows per table.
pub async fn run(
    url: &ConnInfo,
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    stages: &[&'static dyn Stage],
) -> Result<BTreeMap<String, Counts>> {
    if ctx.only.is_none() {
        return Err(SeedError::Internal(
            "a factory run without its tenants would reseed every tenant".into(),
        ));
    }
    // The generators read the reference data (technology catalogue, 6R strategies) by id.
    if !ledger::exists(conn).await?
        || ledger::last_success(conn, stage_id::REFERENCE_DATA)
            .await?
            .is_none()
    {
        return Err(SeedError::Refused(format!(
            "this database has no reference data yet, and factories add to a seeded database. Run `seed` (or at least `seed --stage {}`) first. Nothing was written.",
            stage_id::REFERENCE_DATA
        )));
    }
    let loader = Loader::new(url);
    let mut total: BTreeMap<String, Counts> = BTreeMap::new();
    for stage in stages {
        let id = stage.id();
        let output = conn
            .transaction::<_, SeedError, _>(async |c| {
                diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                    .bind::<BigInt, _>(stage_lock_key(id))
                    .execute(c)
                    .await
                    .map_err(SeedError::db(format!("waiting for the lock of stage {id}")))?;
                stage.run(&StageCtx::new(ctx, id, &loader), c).await
            })
            .await;
        if let Ok(l) = loader.get().await {
            // A failed load's staging tables; the next run would sweep them too.
            let _ = l.cleanup().await;
        }
        let output = output?;
        for (table, c) in output.counts {
            if c.rows > 0 {
                ctx.reporter.insert(id, &table, &c);
            }
            total.entry(table).or_default().add(&c);
        }
    }
    Ok(total)
}
