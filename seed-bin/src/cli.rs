//! Command-line surface of `seed` (clap derive).

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};
use groundwork_migrate::Environment;
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  seed --stage all                 build the whole demo dataset (migrates a dev/test database first)
  seed --stage 06_assets           rerun one stage (also --stage 6 or --stage assets)
  seed --stage 0,1,2 --force       re-apply stages even if the ledger says they are unchanged
  seed --list                      show the stages and whether each has run on this database
  seed verify                      check the database against the catalogue (exit 9 when off)
  seed reset                       empty the demo tables and reseed
  seed reset --hard                revert all migrations, migrate up, reseed
  seed --env prod --stage 00       the only stage allowed in production";

/// Builds the demo dataset of groundwork in numbered, deterministic, idempotent stages.
///
/// Each stage runs in one transaction and is recorded in `groundwork.seed_ledger`; an
/// unchanged stage is skipped. Settings come from flags, then the environment, then `.env`.
#[derive(Debug, Parser)]
#[command(name = "seed", version, after_help = EXAMPLES)]
pub struct Cli {
    /// What to do; without a subcommand, run the stages chosen by --stage.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Stages to run: `all`, full ids (`06_assets`), numbers (`6`, `06`), short names (`assets`), comma-separated.
    #[arg(long, short = 's', default_value = "all", value_name = "STAGES")]
    pub stage: String,

    /// List the stages with their prerequisites and whether each has run on this database.
    #[arg(long)]
    pub list: bool,

    /// Re-apply stages even when the ledger says they are unchanged (rows stay the same).
    #[arg(long)]
    pub force: bool,

    /// After a stage fails, keep running the stages that do not depend on it; exit non-zero at the end.
    #[arg(long, global = true)]
    pub keep_going: bool,

    /// Stages to run at the same time (default: one per CPU). A stage starts once the stages it
    /// depends on have committed; each keeps its own transaction. `--jobs 1` runs them one by one.
    #[arg(long, short = 'j', env = "SEED_JOBS", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: Option<u32>,

    /// Replace the test agent API key (stage 01) with a new one and print it once.
    #[arg(long)]
    pub rotate_key: bool,

    /// Write a newly created API key into `.env` (or `--write-env=FILE`) as TEST_AGENT_KEY (mode 0600, other lines kept).
    #[arg(long, global = true, value_name = "FILE", num_args = 0..=1, require_equals = true, default_missing_value = ".env")]
    pub write_env: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Empty the demo tables in one transaction and reseed (refused in prod).
    Reset {
        /// Revert all migrations, migrate up again, then seed: a full rebuild.
        #[arg(long)]
        hard: bool,
    },
    /// Check the database against the catalogue; exit 9 with a report when anything is off.
    Verify,
}

/// Settings shared by every subcommand.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Database to seed: a postgres:// URL or a libpq key=value string (the password is never printed).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// How long connecting may take, TCP connect and startup/authentication handshake together,
    /// before the run gives up with exit 3 (1s..=10min). Wins over connect_timeout in
    /// DATABASE_URL, which wins over the default of 10s.
    #[arg(long, env = "DATABASE_CONNECT_TIMEOUT", global = true, value_name = "DURATION", value_parser = groundwork_migrate::conninfo::parse_connect_timeout, allow_hyphen_values = true)]
    pub connect_timeout: Option<std::time::Duration>,

    /// Environment this run targets; must match the database's stamp. Defaults to the stamp, else dev.
    #[arg(long, env = "APP_ENV", global = true, value_enum)]
    pub env: Option<Environment>,

    /// Seed of every random generator; the same seed gives the same rows.
    #[arg(long, env = "SEED_RNG_SEED", global = true, default_value_t = 42)]
    pub rng_seed: u64,

    /// The "today" of the dataset: every date and timestamp is derived from it, never from the clock.
    #[arg(long, env = "SEED_AS_OF", global = true, default_value = "2026-01-15")]
    pub as_of: NaiveDate,

    /// Number of demo-shaped tenants (1 = the demo dataset; more for volume tests).
    #[arg(long, env = "SEED_SCALE", global = true, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub scale: u32,

    /// Folder holding `core.toml` to use instead of the embedded core data.
    #[arg(long, env = "SEED_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,

    /// Folder where stage 03 writes its sample import files.
    #[arg(
        long,
        env = "SEED_ARTIFACTS_DIR",
        global = true,
        default_value = "artifacts"
    )]
    pub artifacts_dir: PathBuf,

    /// Output format of progress events.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Print only errors (and a newly created API key).
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
}

/// How progress is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Progress bars on a terminal, plain lines otherwise, and a summary table.
    Text,
    /// One JSON event per line on stdout.
    Json,
}
