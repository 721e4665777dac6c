//! The command line: flags, subcommands and their help.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::settings::Environment;

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
  migrate plan                                what `up` would run, with warnings and the SQL
  migrate verify                              checksums and drift (exit 5 on drift)
  migrate accept-checksum 20260110090000      accept a known-good edit of an applied migration
  migrate history                             the audit log of runs
  migrate --env prod --require-backup --yes up
                                              production: verify, plan, backup, then apply
  migrate --env prod --require-backup --yes up --repair
                                              after a killed CREATE INDEX CONCURRENTLY: drop
                                              its INVALID index and apply again

Settings come from flags, then the environment, then .env: DATABASE_URL, APP_ENV,
MIGRATE_LOCK_WAIT, MIGRATE_LOCK_TIMEOUT, MIGRATE_BACKUP_DIR.
Logs go to stderr and honour RUST_LOG (e.g. RUST_LOG=debug).
Exit codes: 0 ok, 1 internal, 2 usage, 3 connect, 4 refused, 5 drift, 6 lock timeout,
7 backup failed, 8 migration failed (see docs/exit-codes.md).";

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
    /// PostgreSQL URL, e.g. postgres://USER[:PASSWORD]@HOST:5432/DB (the password is never printed).
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,

    /// Run this diesel-format migrations folder instead of the migrations embedded in the binary.
    #[arg(long, global = true, value_name = "DIR")]
    pub migrations_dir: Option<PathBuf>,

    /// Which environment the database is (dev, test, staging, prod); must match its stamp.
    /// Without it: APP_ENV, else the database's stamp, else dev for an empty database. Only
    /// this flag (not APP_ENV) may stamp a database that has tables but no stamp.
    // No `env = "APP_ENV"` here: Settings reads APP_ENV itself, so it knows the flag was typed.
    #[arg(long, global = true, value_enum, value_name = "ENV")]
    pub env: Option<Environment>,

    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Format of log lines on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,

    /// Print only errors (no line per migration).
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// How long to wait for another migration run to release the migration lock (e.g. 30s, 2m).
    #[arg(long, global = true, env = "MIGRATE_LOCK_WAIT", default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub lock_wait: Duration,

    /// PostgreSQL lock_timeout for every statement (e.g. 5s). Default: 5s in staging and prod, none in dev/test.
    #[arg(long, global = true, env = "MIGRATE_LOCK_TIMEOUT", value_parser = parse_duration, value_name = "DURATION")]
    pub lock_timeout: Option<Duration>,

    /// How many times a statement that hit lock_timeout is retried (with doubling pauses from 1s).
    #[arg(long, global = true, default_value_t = 3, value_name = "N")]
    pub lock_retries: u32,

    /// Answer yes to the production confirmation (for pipelines without a terminal).
    #[arg(short, long, global = true)]
    pub yes: bool,

    /// Take a verified pg_dump backup before changing anything (required in prod).
    #[arg(long, global = true)]
    pub require_backup: bool,

    /// Folder for --require-backup dumps.
    #[arg(
        long,
        global = true,
        env = "MIGRATE_BACKUP_DIR",
        default_value = "backups",
        value_name = "DIR"
    )]
    pub backup_dir: PathBuf,
}

/// Parses `500ms`, `5s`, `2m`, `1h`, or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; use e.g. 500ms, 5s, 2m or 1h"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" | "sec" | "secs" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("`{text}` has an unknown unit; use ms, s, m or h")),
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("`{text}` must be a non-negative duration"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
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
    },

    /// Revert applied migrations, newest first (default: the newest one).
    Down {
        /// Revert the newest N migrations.
        #[arg(long, value_name = "N", conflicts_with_all = ["to", "all"])]
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
        /// How many migrations to redo.
        #[arg(long, value_name = "N", default_value_t = 1)]
        steps: usize,
    },

    /// Create the database if it does not exist, then apply every pending migration (dev/test only).
    Setup,

    /// Show what `up` would run: each pending migration, whether it runs in a transaction,
    /// warnings for operations that lock or rewrite big tables, and its SQL. Changes nothing.
    Plan {
        /// Plan only up to and including this version.
        #[arg(long, value_name = "VERSION")]
        to: Option<String>,
    },

    /// Compare applied migrations with the source: changed files (drift), migrations the
    /// source does not know (database ahead), and leftovers of failed non-transactional
    /// migrations. Exits 5 on drift. Read-only: migrations applied by diesel_cli are listed as
    /// unrecorded, and the next `up` records their checksums.
    Verify,

    /// Accept the current up.sql of an applied migration as known-good (e.g. only a comment
    /// changed): replaces its recorded checksum and writes the change to the audit log.
    AcceptChecksum {
        /// The migration's version.
        version: String,
    },

    /// Show the audit log: runs, who ran them, their outcome, backups and migrations.
    History {
        /// How many runs to show, newest first.
        #[arg(long, default_value_t = 20, value_name = "N")]
        limit: i64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }
}
