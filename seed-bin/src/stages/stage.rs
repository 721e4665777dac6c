//! The `Stage` trait, the run and stage contexts, a stage's output and `--stage` selection.

use super::expected::Expected;
use crate::dataset::{Dataset, stage_id};
use crate::error::{Result, SeedError};
use crate::feedback::Reporter;
use crate::fingerprint::OwnedTable;
use crate::write::bulk::{BulkRow, BulkTable};
use crate::write::{Counts, Loader};
use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a stage is, apart from what it writes: one `const` per stage file.
#[derive(Debug, Clone, Copy)]
pub struct StageInfo {
    /// Full id, `NN_name`; the number gives the order.
    pub id: &'static str,
    /// Bump when the stage's output changes, so the ledger stops skipping it.
    pub version: i32,
    /// One line for `--list`.
    pub description: &'static str,
    /// Ids of the stages that must have succeeded before this one (constants of
    /// `dataset::stage_id`), all with lower numbers. The runner starts a stage once these
    /// have committed.
    pub prerequisites: &'static [&'static str],
    /// Tables whose rows this stage writes (and `seed reset` empties).
    pub tables: &'static [OwnedTable],
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
    /// See [`StageInfo::allowed_in_prod`].
    fn allowed_in_prod(&self) -> bool {
        self.info().allowed_in_prod
    }
    /// Whether this run must write the stage even when its last run left the same result
    /// (stage 01 with `--rotate-key`).
    fn must_run(&self, _ctx: &Ctx) -> bool {
        false
    }
    /// Writes the stage's rows and says what it did; the runner wraps this in one transaction.
    fn run<'a>(
        &'a self,
        ctx: &'a StageCtx<'a>,
        conn: &'a mut AsyncPgConnection,
    ) -> BoxFuture<'a, Result<StageOutput>>;
    /// The rows `run` writes, one entry per table of [`StageInfo::tables`], from the same
    /// generators (what `seed verify` compares the tables with and `seed --prune` keeps).
    fn expected<'a>(&self, ctx: &'a Ctx) -> Vec<Expected<'a>>;
}

/// What a stage hands back to the runner.
#[derive(Debug, Default)]
pub struct StageOutput {
    /// What it did to each of its tables.
    pub counts: BTreeMap<String, Counts>,
    /// A secret it created (stage 01's new test agent key): the runner shows it once, as soon
    /// as the stage's transaction commits, and never when it rolls back.
    pub secret: Option<String>,
}

impl StageOutput {
    /// Adds a write's counts to its table's.
    pub fn add(&mut self, table: &str, c: &Counts) {
        self.counts.entry(table.to_string()).or_default().add(c);
    }
}

/// The context of one running stage: the run's [`Ctx`] (it dereferences to it) and the
/// stage's own id.
pub struct StageCtx<'a> {
    run: &'a Ctx,
    id: &'static str,
    loader: &'a Loader,
}

impl<'a> StageCtx<'a> {
    /// The context of stage `id` in the run `run`, loading through `loader`.
    pub fn new(run: &'a Ctx, id: &'static str, loader: &'a Loader) -> Self {
        StageCtx { run, id, loader }
    }

    /// Loads `rows` into `table` through the run's bulk loader inside the stage's transaction
    /// (the writer's COPY path), with a rows/s progress bar, and records what it did under the
    /// table's name in `out`.
    pub async fn bulk_load<R, I>(
        &self,
        conn: &mut AsyncPgConnection,
        table: &BulkTable,
        rows: I,
        out: &mut StageOutput,
    ) -> Result<()>
    where
        R: BulkRow,
        I: IntoIterator<Item = R>,
    {
        let progress = self.run.reporter.rows_progress(self.id, table.table);
        let counts = self
            .loader
            .get()
            .await?
            .load_rows(conn, table, rows, progress)
            .await?;
        out.add(table.table, &counts);
        Ok(())
    }
}

impl std::ops::Deref for StageCtx<'_> {
    type Target = Ctx;
    fn deref(&self) -> &Ctx {
        self.run
    }
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
                if let Some(new) = stage_id::renamed(part) {
                    return Err(SeedError::Usage(format!(
                        "stage `{part}` is now {new} (renumbered so that every stage runs after its prerequisites). Use `--stage {new}` (or `{}`).",
                        number(new).map_or_else(|| new.to_string(), |n| n.to_string())
                    )));
                }
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

/// The run's context, shared by every stage: the dataset inputs and the run's flags.
pub struct Ctx {
    /// The inputs of the generated data (seed, `--as-of`, `--scale`, core file); `Ctx`
    /// dereferences to it, so stages read `ctx.as_of` and call `ctx.tenants()`.
    pub dataset: Dataset,
    pub artifacts_dir: PathBuf,
    pub rotate_key: bool,
    /// Local password for the core file's users (from `SEED_DEMO_PASSWORD`), stored hashed.
    pub demo_password: Option<String>,
    pub reporter: Reporter,
    /// `--write-env`: where the runner writes a new key (checked before any stage ran).
    pub write_env: Option<PathBuf>,
    /// Whether a new API key is shown (and written with `--write-env`). Off only while a
    /// snapshot is built: its key is made unusable before anyone could see it.
    pub deliver_keys: bool,
    /// `--prune`: the database, for the comparison that finds the rows each stage deletes
    /// before it writes (on a connection of its own; the deletes run in the stage's transaction).
    pub prune: Option<groundwork_migrate::ConnInfo>,
}

impl std::ops::Deref for Ctx {
    type Target = Dataset;
    fn deref(&self) -> &Dataset {
        &self.dataset
    }
}
