//! Command-line surface of `seed` (clap derive).

use crate::dataset::custom::GraphShape;
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use domain::enums::FlowStatus;
use groundwork_migrate::Environment;
// One format type for logs and output in both binaries (see [`CommonArgs::output_format`]).
pub use groundwork_migrate::policy::LogFormat;
use groundwork_migrate::policy::int_in;
use std::path::PathBuf;

/// Most `--jobs`: each job holds a connection and a busy backend.
pub const JOBS_MAX: u32 = 64;
/// Most `--scale`: 100 000 demo-shaped tenants is far beyond any volume test.
pub const SCALE_MAX: u32 = 100_000;
/// Earliest `--as-of`: the dataset reaches years back from it.
pub const AS_OF_MIN: NaiveDate = NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid date");
/// Latest `--as-of`: far enough ahead, and far from chrono's and PostgreSQL's limits so date
/// arithmetic on it can never overflow.
pub const AS_OF_MAX: NaiveDate = NaiveDate::from_ymd_opt(2100, 12, 31).expect("a valid date");

/// `--as-of`: an ISO date (YYYY-MM-DD) between [`AS_OF_MIN`] and [`AS_OF_MAX`].
pub fn parse_as_of(text: &str) -> Result<NaiveDate, String> {
    let range = format!("{AS_OF_MIN}..={AS_OF_MAX}");
    let d = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|e| {
        format!("`{text}` is not a date ({e}); use YYYY-MM-DD, e.g. 2026-01-15, between {range}")
    })?;
    if d < AS_OF_MIN || d > AS_OF_MAX {
        return Err(format!(
            "`{text}` is outside the allowed range {range}; pick a date in it"
        ));
    }
    Ok(d)
}

const EXAMPLES: &str = "\
Examples:
  seed --stage all                 build the whole demo dataset (migrates a dev/test database first)
  seed --stage 06_assets           rerun one stage (also --stage 6 or --stage assets)
  seed --stage 0,1,2 --force       re-apply stages even if the ledger says they are unchanged
  seed --list                      show the stages and whether each has run on this database
  seed verify                      check the database against the catalogue (exit 9 when off)
  seed --stage 06_assets --prune   also delete rows the stage would not generate (dev/test)
  seed reset                       restore from the matching snapshot, else empty the tables and reseed
  seed reset --hard                revert all migrations, migrate up, reseed
  seed reset --in-place            empty the tables and reseed without dropping the database
  seed snapshot list               the snapshots `seed reset` restores from
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

    /// Stages to run at the same time (default: one per CPU; 1..=64). A stage starts once the
    /// stages it depends on have committed; each keeps its own transaction. `--jobs 1` runs them one by one.
    #[arg(long, short = 'j', env = "SEED_JOBS", value_name = "N", value_parser = int_in(1, JOBS_MAX), allow_negative_numbers = true)]
    pub jobs: Option<u32>,

    /// Replace the test agent API key (stage 01) with a new one and print it once.
    #[arg(long)]
    pub rotate_key: bool,

    /// Write a newly created API key into `.env` (or `--write-env=FILE`) as TEST_AGENT_KEY (mode 0600, other lines kept).
    #[arg(long, global = true, value_name = "FILE", num_args = 0..=1, require_equals = true, default_missing_value = ".env")]
    pub write_env: Option<PathBuf>,

    /// Delete rows of the selected stages' tables that the stages would not generate for the
    /// seeded tenants (dev/test only), inside each stage's transaction, so the rerun leaves
    /// exactly the generated rows. Rows of other tenants are never touched.
    #[arg(long)]
    pub prune: bool,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Restore the database from the matching snapshot, else empty the demo tables and reseed (refused in prod).
    Reset {
        /// Revert all migrations, migrate up again, then seed: a full rebuild.
        #[arg(long, conflicts_with = "in_place")]
        hard: bool,
        /// Empty the tables and reseed inside the database instead of restoring it from a
        /// snapshot (for a database that cannot be dropped).
        #[arg(long)]
        in_place: bool,
        /// Restoring from a snapshot drops the database: disconnect other sessions without asking.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Manage the snapshots (template databases) `seed reset` restores from (dev/test only).
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Check the database against the catalogue; exit 9 with a report when anything is off.
    ///
    /// Every stage's tables are compared row by row with what the stage generates: the report
    /// names edited rows (id, column, expected and actual value; never a secret), missing and
    /// extra rows, and the stage rerun that repairs them. --scale, --rng-seed and --as-of
    /// default to what the seed ledger recorded.
    Verify,
    /// Add deterministic data on top of the demo dataset (dev/test): a tenant, a stuck flow.
    #[command(subcommand)]
    Add(Add),
}

/// What `seed add` adds.
#[derive(Debug, Subcommand)]
pub enum Add {
    /// One more tenant, generated like the seeded ones: users, engagements, tags, a discovery
    /// flow, N assets and their dependency graph, assessments and waves. Rerunning it with the
    /// same flags changes nothing.
    Tenant {
        /// The tenant's slug (its id is derived from it): lower-case letters, digits, hyphens.
        slug: String,
        /// How many assets (1..=10000), split over the kinds like the demo tenant's.
        #[arg(long, value_parser = int_in(1, crate::dataset::custom::MAX_ASSETS as u64), allow_negative_numbers = true, value_name = "N")]
        assets: Option<u64>,
        /// The shape of the assets' dependency graph.
        #[arg(long, value_enum, default_value_t = GraphShape::Standard)]
        graph: GraphShape,
    },
    /// A discovery flow stopped at a phase with a status, on a seeded or added tenant.
    Flow {
        /// The tenant's slug.
        #[arg(long, value_name = "SLUG")]
        tenant: String,
        /// Its status (initialized, in_progress, paused, completed, failed, cancelled).
        #[arg(long, value_parser = parse_flow_status)]
        status: FlowStatus,
        /// The phase it stopped at (initialization, data_import, field_mapping, data_cleansing,
        /// asset_inventory, dependency_analysis, tech_debt_analysis).
        #[arg(long)]
        phase: String,
    },
}

fn parse_flow_status(text: &str) -> Result<FlowStatus, String> {
    text.parse::<FlowStatus>().map_err(|e| e.to_string())
}

/// `--snapshots`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Snapshots {
    Auto,
    Off,
}

/// `seed snapshot …`.
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// List the snapshots on the server: name, key inputs, size, created, last used (--json for JSON).
    List,
    /// Drop the least recently used snapshots, keeping the N used (or made) last.
    Prune {
        /// How many snapshots to keep.
        #[arg(long, default_value_t = 3, value_name = "N", value_parser = int_in(0u32, 10_000u32), allow_negative_numbers = true)]
        keep: u32,
    },
    /// Drop one snapshot by name, or every snapshot (and half-made copies) with --all.
    Drop {
        /// The snapshot's name, as `seed snapshot list` shows it.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// Drop every snapshot.
        #[arg(long)]
        all: bool,
    },
    /// The work a restore leaves, done by a detached child of `seed` (not for users): make
    /// the snapshot's next spare copy, drop the replaced database.
    #[command(hide = true)]
    Maintain(Maintain),
}

/// What one `seed snapshot maintain` does (the child gets the server from DATABASE_URL).
#[derive(Debug, Clone, Args)]
pub struct Maintain {
    /// The database a restore replaced (renamed aside), to drop.
    #[arg(long, value_name = "NAME")]
    pub replaced: Option<String>,
    /// The snapshot to make a spare copy of.
    #[arg(long, value_name = "NAME", requires = "owner")]
    pub spare_of: Option<String>,
    /// The role that owns the databases the spare will replace.
    #[arg(long, value_name = "ROLE", requires = "spare_of")]
    pub owner: Option<String>,
}

/// Settings shared by every subcommand.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Read settings from this file instead of ./.env (it must exist; real environment variables win).
    #[arg(long, global = true, value_name = "PATH")]
    pub env_file: Option<PathBuf>,

    /// The database: a postgres:// URL or a libpq key=value string, e.g.
    /// postgres://USER[:PASSWORD]@HOST:5432/DB (the password is never printed).
    #[arg(
        long,
        env = "DATABASE_URL",
        global = true,
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,

    /// How long connecting may take, TCP connect and startup/authentication handshake together,
    /// before the run gives up with exit 3 (1s..=10m). Wins over connect_timeout in
    /// DATABASE_URL, which wins over the default of 10s.
    #[arg(long, env = "DATABASE_CONNECT_TIMEOUT", global = true, value_name = "DURATION", value_parser = groundwork_migrate::policy::parse_connect_timeout, allow_hyphen_values = true)]
    pub connect_timeout: Option<std::time::Duration>,

    /// Which environment the database is (dev, test, staging, prod); must match its stamp.
    /// Without it: APP_ENV, else the database's stamp, else dev for an empty database.
    /// A database with tables but no stamp is refused: stamp it with `migrate --env ENV up`.
    // No `env = "APP_ENV"`: the run must know whether --env was typed (see resolve_env).
    #[arg(long, global = true, value_enum, value_name = "ENV")]
    pub env: Option<Environment>,

    /// Seed of every random generator; the same seed gives the same rows (0..=18446744073709551615).
    #[arg(long, env = "SEED_RNG_SEED", global = true, default_value_t = 42, value_parser = int_in(0, u64::MAX), allow_negative_numbers = true)]
    pub rng_seed: u64,

    /// The "today" of the dataset: every date and timestamp is derived from it, never from the
    /// clock (YYYY-MM-DD, 2000-01-01..=2100-12-31).
    #[arg(long, env = "SEED_AS_OF", global = true, default_value = "2026-01-15", value_parser = parse_as_of, allow_hyphen_values = true)]
    pub as_of: NaiveDate,

    /// Number of demo-shaped tenants (1 = the demo dataset; more for volume tests; 1..=100000).
    #[arg(long, env = "SEED_SCALE", global = true, default_value_t = 1, value_parser = int_in(1, SCALE_MAX), allow_negative_numbers = true)]
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

    /// Print machine-readable JSON on stdout instead of text: one event per line.
    #[arg(long, global = true)]
    pub json: bool,

    /// Format of log lines on stderr (text, or one JSON object per line); --json is for stdout.
    /// `json` also still turns on --json, as it did before --json existed.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,

    /// Snapshots: `auto` restores `seed reset` and `seed --stage all` into an empty database
    /// from the matching snapshot and keeps one after a full seed (dev/test); `off` always seeds
    /// every stage and keeps none.
    #[arg(long, env = "SEED_SNAPSHOTS", global = true, value_enum, default_value_t = Snapshots::Auto, value_name = "MODE")]
    pub snapshots: Snapshots,

    /// Print only errors (and a newly created API key).
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
}

impl CommonArgs {
    /// The format of stdout: JSON with `--json`, and with `--log-format json`, the spelling
    /// scripts used before `--json` existed.
    pub fn output_format(&self) -> LogFormat {
        if self.json || self.log_format == LogFormat::Json {
            LogFormat::Json
        } else {
            LogFormat::Text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn usage_error(args: &[&str], range: &str) {
        let e = Cli::try_parse_from(std::iter::once("seed").chain(args.iter().copied()))
            .expect_err("a usage error");
        assert_eq!(e.exit_code(), 2, "{args:?}");
        let text = e.to_string();
        assert!(text.contains(range), "{args:?}: {text}");
        assert!(!text.contains("unexpected argument"), "{args:?}: {text}");
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_numeric_flag_names_its_range() {
        usage_error(&["--jobs", "-1"], "1..=64");
        usage_error(&["--jobs", "0"], "1..=64");
        usage_error(&["--jobs", "99999999999999999999"], "1..=64");
        usage_error(&["--scale", "-1"], "1..=100000");
        usage_error(&["--scale", "100001"], "1..=100000");
        usage_error(&["--rng-seed", "-1"], "0..=18446744073709551615");
        usage_error(
            &["--rng-seed", "18446744073709551616"],
            "0..=18446744073709551615",
        );
        usage_error(&["--as-of", "1999-12-31"], "2000-01-01..=2100-12-31");
        usage_error(&["--as-of", "+262143-12-31"], "2000-01-01..=2100-12-31");
        usage_error(&["--as-of", "-0001-01-01"], "2000-01-01..=2100-12-31");
        usage_error(&["--as-of", "yesterday"], "2000-01-01..=2100-12-31");
    }

    #[test]
    fn json_output_has_one_flag_and_keeps_its_old_spelling() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("seed").chain(args.iter().copied()))
                .expect("valid")
                .common
        };
        let plain = parse(&[]);
        assert_eq!(plain.output_format(), LogFormat::Text);
        assert_eq!(plain.log_format, LogFormat::Text);
        let json = parse(&["--json"]);
        assert_eq!(json.output_format(), LogFormat::Json);
        assert_eq!(
            json.log_format,
            LogFormat::Text,
            "--json leaves stderr alone"
        );
        let old = parse(&["--log-format", "json"]);
        assert_eq!(old.output_format(), LogFormat::Json);
        assert_eq!(old.log_format, LogFormat::Json);
    }

    #[test]
    fn values_in_range_parse() {
        let cli = Cli::try_parse_from([
            "seed",
            "--jobs",
            "64",
            "--scale",
            "100000",
            "--rng-seed",
            "18446744073709551615",
            "--as-of",
            "2100-12-31",
        ])
        .expect("valid");
        assert_eq!(cli.jobs, Some(64));
        assert_eq!(cli.common.scale, 100_000);
        assert_eq!(cli.common.rng_seed, u64::MAX);
        assert_eq!(cli.common.as_of, AS_OF_MAX);
    }
}
