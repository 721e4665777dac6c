//! The `Stage` trait, the run context and `--stage` selection.

use crate::data::CoreData;
use crate::error::{Result, SeedError};
use crate::feedback::Reporter;
use crate::fingerprint::OwnedTable;
use crate::ids;
use chrono::NaiveDate;
use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;
use std::path::PathBuf;
use std::sync::Mutex;
use uuid::Uuid;

/// What a stage is, apart from what it writes: one `const` per stage file.
#[derive(Debug, Clone, Copy)]
pub struct StageInfo {
    /// Full id, `NN_name`; the number gives the order.
    pub id: &'static str,
    /// Bump when the stage's output changes, so the ledger stops skipping it.
    pub version: i32,
    /// One line for `--list`.
    pub description: &'static str,
    /// Ids of the stages that must have succeeded before this one. They usually have lower
    /// numbers; 04 needs 06 (its valid rows point at 06's assets). The runner starts a stage
    /// once these have committed.
    pub prerequisites: &'static [&'static str],
    /// Tables whose rows this stage writes (and `seed reset` empties).
    pub tables: &'static [OwnedTable],
    /// Whether the stage reports its own counts with [`Ctx::record_counts`] (bulk-loaded
    /// stages know them from the merge), sparing the runner a snapshot of every row of its
    /// tables before and after (which costs time and memory that grow with `--scale`).
    pub counts_itself: bool,
    /// Whether the stage may run in production (only reference data).
    pub allowed_in_prod: bool,
}

impl StageInfo {
    /// The defaults a stage's `const` starts from (`..StageInfo::DEFAULT`).
    pub const DEFAULT: StageInfo = StageInfo {
        id: "",
        version: 1,
        description: "",
        prerequisites: &[],
        tables: &[],
        counts_itself: false,
        allowed_in_prod: false,
    };
}

/// One numbered stage of the dataset.
pub trait Stage: Sync {
    /// The stage's description ([`StageInfo`]).
    fn info(&self) -> &'static StageInfo;
    /// Full id, `NN_name`.
    fn id(&self) -> &'static str {
        self.info().id
    }
    /// See [`StageInfo::version`].
    fn version(&self) -> i32 {
        self.info().version
    }
    /// See [`StageInfo::description`].
    fn description(&self) -> &'static str {
        self.info().description
    }
    /// See [`StageInfo::prerequisites`].
    fn prerequisites(&self) -> &'static [&'static str] {
        self.info().prerequisites
    }
    /// See [`StageInfo::tables`].
    fn tables(&self) -> &'static [OwnedTable] {
        self.info().tables
    }
    /// See [`StageInfo::counts_itself`].
    fn counts_itself(&self) -> bool {
        self.info().counts_itself
    }
    /// See [`StageInfo::allowed_in_prod`].
    fn allowed_in_prod(&self) -> bool {
        self.info().allowed_in_prod
    }
    /// Writes the stage's rows; the runner wraps this in one transaction.
    fn run<'a>(
        &'a self,
        ctx: &'a Ctx,
        conn: &'a mut AsyncPgConnection,
    ) -> BoxFuture<'a, Result<()>>;
}

/// The number of a stage id (`06_assets` → 6).
pub fn number(id: &str) -> Option<u32> {
    id.split_once('_').and_then(|(n, _)| n.parse().ok())
}

/// The short name of a stage id (`06_assets` → `assets`).
pub fn short_name(id: &str) -> &str {
    id.split_once('_').map_or(id, |(_, s)| s)
}

/// Resolves `--stage` into stages in registry order.
pub fn select(
    spec: &str,
    stages: &'static [&'static dyn Stage],
) -> Result<Vec<&'static dyn Stage>> {
    let mut chosen = vec![false; stages.len()];
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part.eq_ignore_ascii_case("all") {
            chosen.iter_mut().for_each(|c| *c = true);
            continue;
        }
        let wanted_number = part.parse::<u32>().ok();
        let pos = stages.iter().position(|s| {
            s.id().eq_ignore_ascii_case(part)
                || short_name(s.id()).eq_ignore_ascii_case(part)
                || (wanted_number.is_some() && number(s.id()) == wanted_number)
        });
        match pos {
            Some(i) => chosen[i] = true,
            None => {
                let valid: Vec<_> = stages.iter().map(|s| s.id()).collect();
                return Err(SeedError::Usage(format!(
                    "unknown stage `{part}`. Valid stages: all, {} (or their numbers / short names, comma-separated).",
                    valid.join(", ")
                )));
            }
        }
    }
    let picked: Vec<_> = stages
        .iter()
        .zip(chosen)
        .filter(|(_, c)| *c)
        .map(|(s, _)| *s)
        .collect();
    if picked.is_empty() {
        return Err(SeedError::Usage(
            "--stage is empty; name at least one stage or `all`".into(),
        ));
    }
    Ok(picked)
}

/// A tenant to generate data for.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Natural key of the account.
    pub slug: String,
    /// Its id (UUIDv5 of the slug).
    pub id: Uuid,
    /// Position in the core file, or 1000+ for synthetic tenants.
    pub index: usize,
    /// Demo-shaped (the full Democorp dataset) or a small side tenant.
    pub demo_shaped: bool,
}

/// Everything a stage needs besides its connection.
pub struct Ctx {
    pub rng_seed: u64,
    pub as_of: NaiveDate,
    pub scale: u32,
    pub core: CoreData,
    pub artifacts_dir: PathBuf,
    pub rotate_key: bool,
    /// Local password for the core file's users (from `SEED_DEMO_PASSWORD`), stored hashed.
    pub demo_password: Option<String>,
    pub reporter: Reporter,
    /// A newly created API key, printed by the runner as soon as its stage committed.
    pub new_key: Mutex<Option<String>>,
    /// `--write-env`: where the runner writes a new key (checked before any stage ran).
    pub write_env: Option<PathBuf>,
    /// Why a committed key could not be written with `--write-env`; the run reports it at the
    /// end (it was printed, and the stages after 01 still run).
    pub key_error: Mutex<Option<crate::error::SeedError>>,
    /// The connection settings, for the bulk loader's own connections.
    pub conn: groundwork_migrate::ConnInfo,
    /// The bulk loader of this run, connected by the first stage that needs it.
    pub bulk: tokio::sync::OnceCell<crate::bulk::BulkLoader>,
    /// Counts reported by the running stage (see [`Stage::counts_itself`]).
    pub counts: Mutex<std::collections::BTreeMap<String, crate::feedback::TableCounts>>,
}

/// Parallel `COPY` streams of the bulk loader: one per CPU, at most this many connections.
pub const MAX_BULK_STREAMS: u32 = 8;

impl Ctx {
    /// Records what a bulk load did to `table` (added to earlier loads of the same table).
    pub fn record_counts(&self, table: &str, c: &crate::bulk::MergeCounts) {
        if let Ok(mut all) = self.counts.lock() {
            let t = all.entry(table.to_string()).or_default();
            t.rows += c.rows;
            t.inserted += c.inserted;
            t.updated += c.updated;
            t.unchanged += c.unchanged;
        }
    }

    /// Loads `rows` into `table` through the run's bulk loader inside the stage's transaction,
    /// with a rows/s progress bar, and records the counts for the runner.
    pub async fn bulk_load<R, I>(
        &self,
        conn: &mut AsyncPgConnection,
        table: &crate::bulk::BulkTable,
        rows: I,
    ) -> Result<()>
    where
        R: crate::bulk::BulkRow,
        I: IntoIterator<Item = R>,
    {
        let stage = crate::stages::STAGES
            .iter()
            .find(|s| s.tables().iter().any(|t| t.name == table.table))
            .map_or("", |s| s.id());
        let progress = self.reporter.rows_progress(stage, table.table);
        let counts = self
            .bulk()
            .await?
            .upsert_rows(conn, table, rows, progress)
            .await?;
        self.record_counts(table.table, &counts);
        Ok(())
    }

    /// The run's bulk loader (connects on first use; see `crate::bulk`).
    pub async fn bulk(&self) -> Result<&crate::bulk::BulkLoader> {
        self.bulk
            .get_or_try_init(|| {
                crate::bulk::BulkLoader::connect_with(
                    &self.conn,
                    crate::bulk::default_streams(MAX_BULK_STREAMS),
                )
            })
            .await
            .map_err(SeedError::from)
    }

    /// The tenants of this run: the core file's accounts (the first is demo-shaped) and, with
    /// `--scale N`, N-1 synthetic demo-shaped tenants.
    pub fn tenants(&self) -> Vec<Tenant> {
        let mut out: Vec<Tenant> = self
            .core
            .file
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| Tenant {
                slug: a.slug.get_ref().clone(),
                id: account_id(a.slug.get_ref()),
                index: i,
                demo_shaped: i == 0,
            })
            .collect();
        for n in 2..=self.scale {
            let slug = format!("synthetic-{n:05}");
            out.push(Tenant {
                id: account_id(&slug),
                slug,
                index: 1000 + n as usize,
                demo_shaped: true,
            });
        }
        out
    }

    /// The stage's generator for one tenant.
    pub fn rng(&self, stage: &str, tenant: &Tenant) -> rand_chacha::ChaCha8Rng {
        ids::rng(self.rng_seed, stage, &tenant.slug)
    }
}

/// The id of an account from its slug.
pub fn account_id(slug: &str) -> Uuid {
    ids::id("client_account", slug)
}
