//! The command line: flags, subcommands and their help.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::env::Environment;
use crate::policy::{LogFormat, duration_in, int_in};

const AFTER_HELP: &str = "\
For example:
  migrate status                              applied and pending migrations
  migrate up                                  apply every pending migration
  migrate up --to 20260110090000              apply up to and including that version
  migrate down                                revert the newest migration
  migrate down --all                          revert everything (dev/test)
  migrate redo                                revert and reapply the newest migration
  migrate setup                               create the database if missing, then migrate
  migrate --migrations-dir ./migrations up    run a diesel-format folder instead of the embedded set
  migrate --json status                       machine-readable output
  migrate plan                                what `up` would run, with lint findings and the SQL
  migrate verify                              checksums and drift (exit 5 on drift)
  migrate verify --schema                     the live schema against the migrations' (as DDL)
  migrate accept-checksum 20260110090000      accept a known-good edit of an applied migration
  migrate history                             the audit log of runs
  migrate rehearse --max-lock 2s              pending migrations on a restored copy of the latest
                                              backup: locks, rewrites, down.sql (exit 11 on findings)
  migrate lint                                lint the pending migrations (exit 10 on errors)
  migrate lint --all --deny warnings          lint every migration without a database, as CI does
  migrate plan --sql-script deploy.sql        what `up` would do, as a psql script for a DBA
  migrate resolve 20260112090000 --applied    a failed non-transactional migration, finished by hand
  migrate --env prod --require-backup --yes up
                                              production: verify, plan, backup, then apply
  migrate --env prod --require-backup --yes up --repair
                                              after a killed CREATE INDEX CONCURRENTLY: drop
                                              its INVALID index and apply again

Settings come from flags, then the environment, then ./.env (or --env-file PATH; never a
parent folder's .env): DATABASE_URL, APP_ENV, DATABASE_CONNECT_TIMEOUT, MIGRATE_LOCK_WAIT,
MIGRATE_LOCK_TIMEOUT, MIGRATE_STATEMENT_TIMEOUT, MIGRATE_BACKUP_DIR. DATABASE_URL may be a URL
or a libpq key=value string; its password reaches pg_dump/pg_restore through their environment
only and is never printed. Lint severities, accepted findings and rehearsal thresholds come
from --config PATH (MIGRATE_CONFIG), else ./migrate.toml, else the one built in (docs/lint.md).
Logs go to stderr and honour RUST_LOG (e.g. RUST_LOG=debug).
Exit codes: 0 ok, 1 internal, 2 usage, 3 connect, 4 refused, 5 drift, 6 lock timeout,
7 backup failed, 8 migration failed, 10 lint failed, 11 rehearsal findings
(see docs/exit-codes.md).";

/// Applies, reverts and inspects the groundwork database schema.
///
/// Migrations are embedded in this binary; --migrations-dir runs any diesel-format folder
/// instead. Bookkeeping stays compatible with diesel_cli (__diesel_schema_migrations).
#[derive(Debug, Parser)]
#[command(name = "migrate", version, after_long_help = AFTER_HELP, after_help = "For more, and examples, see --help.")]
pub struct Cli {
    /// Options every subcommand accepts.
    #[command(flatten)]
    pub global: GlobalArgs,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The database: a postgres:// URL or a libpq key=value string, e.g.
    /// postgres://USER[:PASSWORD]@HOST:5432/DB (the password is never printed).
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,

    /// Read settings from this file instead of ./.env (it must exist; real environment variables win).
    #[arg(long, global = true, value_name = "PATH")]
    pub env_file: Option<PathBuf>,

    /// Run this diesel-format migrations folder instead of the migrations embedded in the binary.
    #[arg(long, global = true, value_name = "DIR")]
    pub migrations_dir: Option<PathBuf>,

    /// Which environment the database is (dev, test, staging, prod); must match its stamp.
    /// Without it: APP_ENV, else the database's stamp, else dev for an empty database.
    /// Only this flag (not APP_ENV) may stamp a database that has tables but no stamp.
    // No `env = "APP_ENV"` here: Settings reads APP_ENV itself, so it knows the flag was typed.
    #[arg(long, global = true, value_enum, value_name = "ENV")]
    pub env: Option<Environment>,

    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Format of log lines on stderr (text, or one JSON object per line); --json is for stdout.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,

    /// Print only errors (no line per migration).
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// How long to wait for another migration run to release the migration lock (e.g. 30s, 2m; 0s..=24h).
    #[arg(long, global = true, env = "MIGRATE_LOCK_WAIT", default_value = "60s", value_parser = lock_wait_range(), allow_hyphen_values = true, value_name = "DURATION")]
    pub lock_wait: Duration,

    /// PostgreSQL lock_timeout for every statement (e.g. 5s; 0s = none; 0s..=1h). Default: 5s in staging and prod, none in dev/test.
    #[arg(long, global = true, env = "MIGRATE_LOCK_TIMEOUT", value_parser = lock_timeout_range(), allow_hyphen_values = true, value_name = "DURATION")]
    pub lock_timeout: Option<Duration>,

    /// How long connecting may take, TCP connect and startup/authentication handshake
    /// together, before the run gives up with exit 3 (1s..=10m). Wins over connect_timeout
    /// in DATABASE_URL, which wins over the default of 10s.
    #[arg(long, global = true, env = "DATABASE_CONNECT_TIMEOUT", value_parser = crate::policy::parse_connect_timeout, allow_hyphen_values = true, value_name = "DURATION")]
    pub connect_timeout: Option<Duration>,

    /// PostgreSQL statement_timeout for migration statements (0 or 1s..=24h; 0 turns it off).
    /// Default: 1h in staging and prod, off in dev/test. An hour lets a CREATE INDEX
    /// CONCURRENTLY on a large table finish, yet a migration stuck behind something never
    /// holds its locks for the rest of the day; raise it for known long migrations.
    #[arg(long, global = true, env = "MIGRATE_STATEMENT_TIMEOUT", value_parser = parse_statement_timeout, allow_hyphen_values = true, value_name = "DURATION")]
    pub statement_timeout: Option<Duration>,

    /// How many times a statement that hit lock_timeout is retried (with doubling pauses from 1s; 0..=10).
    #[arg(long, global = true, default_value_t = 3, value_parser = int_in(0, LOCK_RETRIES_MAX), allow_negative_numbers = true, value_name = "N")]
    pub lock_retries: u32,

    /// Answer yes to the production confirmation (for pipelines without a terminal).
    #[arg(short, long, global = true)]
    pub yes: bool,

    /// Take a verified pg_dump backup before changing anything (required in prod).
    #[arg(long, global = true)]
    pub require_backup: bool,

    /// An empty database to use as the scratch database (verify --schema, the schema check
    /// of a prod `up`) instead of creating one on the server: for roles without CREATEDB. It
    /// is refused unless empty, and emptied again after use (the password is never printed).
    #[arg(
        long,
        global = true,
        env = "MIGRATE_SCRATCH_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub scratch_url: Option<String>,

    /// Folder for --require-backup dumps.
    #[arg(
        long,
        global = true,
        env = "MIGRATE_BACKUP_DIR",
        default_value = "backups",
        value_name = "DIR"
    )]
    pub backup_dir: PathBuf,

    /// The project's config file: lint rule severities, accepted findings, rehearsal
    /// thresholds (it must exist). Default: ./migrate.toml if present, else the repository's
    /// migrate.toml built into this binary.
    #[arg(long, global = true, env = "MIGRATE_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// Longest `--lock-wait`: a deploy that waits a day for another migrator
/// is stuck, not patient.
pub const LOCK_WAIT_MAX: Duration = Duration::from_secs(24 * 3600);
/// Longest `--lock-timeout`: a migration statement queued behind a lock for
/// longer blocks every query behind it; PostgreSQL itself caps it at ~24 days.
pub const LOCK_TIMEOUT_MAX: Duration = Duration::from_secs(3600);
/// Most `--lock-retries`: pauses double from 1 s, so 10 retries already wait ~17 min.
pub const LOCK_RETRIES_MAX: u32 = 10;
/// Most migrations one `down --steps` / `redo --steps` may touch.
pub const STEPS_MAX: usize = 10_000;
/// Most runs `history --limit` shows.
pub const HISTORY_LIMIT_MAX: i64 = 100_000;

fn lock_wait_range() -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    duration_in(Duration::ZERO, LOCK_WAIT_MAX)
}

fn lock_timeout_range() -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static
{
    duration_in(Duration::ZERO, LOCK_TIMEOUT_MAX)
}

/// Parses `--statement-timeout`: `0` turns the timeout off, anything else must be 1s..=24h.
pub fn parse_statement_timeout(text: &str) -> Result<Duration, String> {
    if text
        .trim()
        .trim_end_matches(|c: char| c.is_ascii_alphabetic())
        == "0"
    {
        return Ok(Duration::ZERO);
    }
    duration_in(Duration::from_secs(1), Duration::from_secs(86_400))(text)
        .map_err(|e| format!("{e} (or 0 to turn the timeout off)"))
}

/// An override's reason: what the audit log keeps, so it must say something.
fn non_blank_reason(text: &str) -> Result<String, String> {
    let reason = text.trim();
    if reason.is_empty() {
        return Err("the reason is empty; say why the override is needed (it is audited)".into());
    }
    Ok(reason.to_string())
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show applied and pending migrations, with the dates they were applied.
    Status,

    /// Apply pending migrations, oldest first.
    ///
    /// Each migration runs in its own transaction together with its bookkeeping (unless its
    /// metadata.toml says run_in_transaction = false). On failure the failed migration is
    /// rolled back and the ones before it stay applied.
    Up {
        /// Apply only up to and including this version.
        #[arg(long, value_name = "VERSION")]
        to: Option<String>,

        /// Drop the INVALID indexes an interrupted non-transactional migration left (its own
        /// CREATE INDEX names only) and apply it again, audited. Needed in staging and prod;
        /// dev and test repair without asking.
        #[arg(long)]
        repair: bool,

        /// In prod, apply although the live schema differs from what the applied migrations
        /// make (the check `verify --schema` runs, done first by every prod `up`); REASON is
        /// required and written to the audit log. For emergencies only.
        #[arg(long, value_name = "REASON", value_parser = non_blank_reason)]
        allow_schema_drift: Option<String>,
        /// Apply pending migrations older than the newest applied one (merged late). Needed
        /// in staging and prod, where the run is otherwise refused; recorded in the audit log.
        /// Dev and test apply them with a warning.
        #[arg(long)]
        allow_out_of_order: bool,
    },

    /// Revert applied migrations, newest first (default: the newest one).
    Down {
        /// Revert the newest N migrations (1..=10000).
        #[arg(long, value_name = "N", conflicts_with_all = ["to", "all"], value_parser = int_in(1, STEPS_MAX), allow_negative_numbers = true)]
        steps: Option<usize>,

        /// Revert every migration newer than VERSION (VERSION stays applied).
        #[arg(long, value_name = "VERSION", conflicts_with = "all")]
        to: Option<String>,

        /// Revert every applied migration.
        #[arg(long)]
        all: bool,
    },

    /// Revert the newest N migrations and apply them again (checks that down.sql works).
    Redo {
        /// How many migrations to redo (1..=10000).
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = int_in(1, STEPS_MAX), allow_negative_numbers = true)]
        steps: usize,
    },

    /// Create the database if it does not exist, then apply every pending migration (dev/test only).
    Setup,

    /// Show what `up` would run: each pending migration, whether it runs in a transaction,
    /// its lint findings (as `migrate lint` reports them), the lock each statement takes with
    /// the live size of its table, migrations that would run out of order, and its SQL.
    /// Changes nothing in the database.
    Plan {
        /// Plan only up to and including this version.
        #[arg(long, value_name = "VERSION")]
        to: Option<String>,

        /// Also write a psql script of exactly what `up` would do (each migration's SQL, its
        /// transaction, the bookkeeping and audit rows) to this new file (mode 0600; an
        /// existing file or a symbolic link is refused). Apply it with
        /// `psql -v ON_ERROR_STOP=1 -f FILE`.
        #[arg(long, value_name = "FILE")]
        sql_script: Option<PathBuf>,

        /// With --sql-script in staging/prod: include pending migrations older than the
        /// newest applied one (otherwise refused, as `up` refuses them).
        #[arg(long)]
        allow_out_of_order: bool,
    },

    /// Compare applied migrations with the source: changed files (drift), migrations the
    /// source does not know (database ahead), and leftovers of failed non-transactional
    /// migrations. Exits 5 on drift. Read-only: migrations applied by diesel_cli are listed as
    /// unrecorded, and the next `up` records their checksums.
    Verify {
        /// Compare the live schema instead: apply the migrations the database has applied
        /// into a scratch database on the same server (see --scratch-url) and list what is
        /// extra, missing or different (tables, columns, constraints, indexes incl. INVALID
        /// ones, enums, functions, triggers, extensions) as DDL. Exits 5 on drift.
        #[arg(long)]
        schema: bool,
    },

    /// Accept the current up.sql of an applied migration as known-good (e.g. only a comment
    /// changed): replaces its recorded checksum and writes the change to the audit log.
    AcceptChecksum {
        /// The migration's version.
        version: String,
    },

    /// Record the outcome of a failed non-transactional migration that was finished or undone
    /// by hand: --applied marks it applied, --rolled-back clears the failure so the next `up`
    /// runs it again. Refused when the database contradicts the claim (e.g. --applied while an
    /// index its up.sql creates is INVALID or missing). Confirmed in prod, audited.
    #[command(group(clap::ArgGroup::new("outcome").required(true).args(["applied", "rolled_back"])))]
    Resolve {
        /// The migration's version.
        version: String,

        /// Its statements all took effect (finished by hand): record it as applied.
        #[arg(
            long,
            required_unless_present = "rolled_back",
            conflicts_with = "rolled_back"
        )]
        applied: bool,

        /// None of its statements is in effect any more (undone by hand): clear the failure.
        #[arg(long)]
        rolled_back: bool,
    },

    /// Show the audit log: runs, who ran them, their outcome, backups and migrations.
    History {
        /// How many runs to show, newest first (1..=100000).
        #[arg(long, default_value_t = 20, value_name = "N", value_parser = int_in(1, HISTORY_LIMIT_MAX), allow_negative_numbers = true)]
        limit: i64,
    },

    /// Rehearse the pending migrations on a production-shaped copy: restore it into a
    /// scratch database on the same server, apply them statement by statement while a
    /// watcher samples the locks, revert them (down.sql must give back the schema) and
    /// apply them again. Reports per statement its duration, the strongest lock on each
    /// table and how long it was held, and the tables it rewrote with their rows. Exits 11
    /// on findings. Never changes the source database.
    ///
    /// The copy comes from the newest backup in this database's audit log (checked against
    /// its recorded SHA-256), or --from-dump FILE, or --from-db NAME (read with pg_dump).
    /// Thresholds come from the flags, else [rehearse] in the config file.
    #[command(after_long_help = REHEARSE_EXAMPLES)]
    Rehearse(RehearseArgs),

    /// Lint migrations: squawk's rules and ours, at the severities of the config file.
    ///
    /// Default: the pending migrations, which needs the database (DATABASE_URL) to know
    /// what is pending; --all or a VERSION lint without a database. Each finding names the
    /// migration, file:line, the statement, the rule and the fix. Exit 10 on errors (and on
    /// warnings with --deny warnings). A comment `migrate:allow RULE reason: WHY` on the line
    /// before a statement silences that rule there (see docs/lint.md).
    Lint {
        /// Lint only this migration (e.g. 20260209090000); needs no database.
        #[arg(value_name = "VERSION", conflicts_with = "all")]
        version: Option<String>,

        /// Lint every migration of the source, applied or not; needs no database.
        #[arg(long)]
        all: bool,

        /// Fail on warnings too (exit 10), e.g. in CI: --deny warnings.
        #[arg(long, value_enum, value_name = "KIND")]
        deny: Option<Deny>,

        /// List every rule with its severity under the config in use, and exit.
        #[arg(long, conflicts_with_all = ["version", "all", "deny"])]
        rules: bool,
    },
}

const REHEARSE_EXAMPLES: &str = "\
For example:
  migrate rehearse --max-lock 2s --max-rewrite-rows 100000
                                   the newest recorded backup; exit 11 past either limit
  migrate rehearse --from-db groundwork_dev --keep
                                   a seeded database; keep the copy to look at it
  migrate --json rehearse --from-dump backups/groundwork.dump";

/// The options of `migrate rehearse`.
#[derive(Debug, Args)]
pub struct RehearseArgs {
    /// Copy this pg_dump --format=custom file instead of the newest recorded backup.
    #[arg(long, value_name = "FILE", conflicts_with = "from_db")]
    pub from_dump: Option<PathBuf>,

    /// Copy this database of the same server (read with pg_dump, never written to).
    #[arg(long, value_name = "NAME")]
    pub from_db: Option<String>,

    /// Longest a statement may hold a lock that blocks writes (SHARE or stronger), e.g. 2s
    /// (0s..=24h). Default: [rehearse] max_lock in the config file, else no limit.
    #[arg(long, value_name = "DURATION", value_parser = max_lock_range(), allow_hyphen_values = true)]
    pub max_lock: Option<Duration>,

    /// Most rows a table a statement rewrites may have (0..=1000000000000). Default:
    /// [rehearse] max_rewrite_rows in the config file, else no limit.
    #[arg(long, value_name = "N", value_parser = int_in(0, MAX_REWRITE_ROWS_MAX), allow_negative_numbers = true)]
    pub max_rewrite_rows: Option<u64>,

    /// Rehearse only up to and including this version.
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,

    /// Keep the scratch database afterwards (its name is printed) instead of dropping it.
    #[arg(long)]
    pub keep: bool,

    /// Apply without the watcher and the per-statement catalog reads: only for measuring
    /// their cost (bench/rehearse.sh).
    #[arg(long, hide = true)]
    pub no_watcher: bool,
}

/// Longest `--max-lock`: beyond a day, a limit limits nothing.
pub const MAX_LOCK_MAX: Duration = Duration::from_secs(24 * 3600);
/// Most `--max-rewrite-rows`: a trillion rows is beyond any table we will have.
pub const MAX_REWRITE_ROWS_MAX: u64 = 1_000_000_000_000;

fn max_lock_range() -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    duration_in(Duration::ZERO, MAX_LOCK_MAX)
}

/// What `lint --deny` turns into failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Deny {
    /// Warnings fail the run like errors.
    Warnings,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("migrate").chain(args.iter().copied()))
    }

    fn usage_error(args: &[&str], range: &str) {
        let e = parse(args).expect_err("a usage error");
        assert_eq!(e.exit_code(), 2, "{args:?}");
        let text = e.to_string();
        assert!(text.contains(range), "{args:?}: {text}");
        assert!(!text.contains("unexpected argument"), "{args:?}: {text}");
    }

    #[test]
    fn every_numeric_and_duration_flag_names_its_range() {
        usage_error(
            &["--lock-wait", "99999999999999999999", "status"],
            "0s..=24h",
        );
        usage_error(&["--lock-wait", "-1", "status"], "0s..=24h");
        usage_error(&["--lock-timeout", "9999999h", "status"], "0s..=1h");
        usage_error(&["--lock-timeout", "-5s", "status"], "0s..=1h");
        usage_error(&["--lock-retries", "11", "status"], "0..=10");
        usage_error(&["--lock-retries", "-1", "status"], "0..=10");
        usage_error(&["down", "--steps", "-1"], "1..=10000");
        usage_error(&["down", "--steps", "0"], "1..=10000");
        usage_error(&["down", "--steps", "99999999999999999999999"], "1..=10000");
        usage_error(&["redo", "--steps", "-1"], "1..=10000");
        usage_error(&["history", "--limit", "-1"], "1..=100000");
        usage_error(&["history", "--limit", "0"], "1..=100000");
    }

    #[test]
    fn values_in_range_parse() {
        let cli = parse(&[
            "--lock-wait",
            "24h",
            "--lock-timeout",
            "0",
            "--lock-retries",
            "10",
            "redo",
            "--steps",
            "2",
        ])
        .expect("valid");
        assert_eq!(cli.global.lock_wait, LOCK_WAIT_MAX);
        assert_eq!(cli.global.lock_timeout, Some(Duration::ZERO));
        assert_eq!(cli.global.lock_retries, 10);
        assert!(matches!(cli.command, Command::Redo { steps: 2 }));
    }

    #[test]
    fn timeouts_are_range_checked() {
        use crate::policy::parse_connect_timeout;
        assert_eq!(parse_connect_timeout("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_connect_timeout("10"), Ok(Duration::from_secs(10)));
        for bad in [
            "0",
            "500ms",
            "11min",
            "-1",
            "-5s",
            "soon",
            "99999999999999999999h",
        ] {
            let err = parse_connect_timeout(bad).unwrap_err();
            assert!(
                err.contains(bad) && err.contains("1s..=10m"),
                "{bad}: {err}"
            );
        }
        assert!(
            parse_connect_timeout("-1")
                .unwrap_err()
                .contains("negative")
        );
        assert_eq!(parse_statement_timeout("0"), Ok(Duration::ZERO));
        assert_eq!(parse_statement_timeout("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_statement_timeout("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["25h", "-1h", "100ms", "x"] {
            let err = parse_statement_timeout(bad).unwrap_err();
            assert!(
                err.contains(bad) && err.contains("1s..=24h"),
                "{bad}: {err}"
            );
        }
    }
}
