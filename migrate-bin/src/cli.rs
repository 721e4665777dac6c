//! The command line: flags, subcommands and their help.

use std::path::PathBuf;

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

Settings come from flags, then the environment, then .env: DATABASE_URL, APP_ENV.
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

    /// Which environment the database is (dev, test, staging, prod). Default: dev.
    #[arg(long, global = true, env = "APP_ENV", value_enum, value_name = "ENV")]
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
