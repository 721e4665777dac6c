//! `groundwork_migrate`: the migration engine behind the `migrate` binary, also used by
//! `seed` to bring demo databases up to date.
//!
//! The engine runs diesel-format migrations (embedded in the binary, or from a folder) on a
//! dedicated `diesel-async` connection, keeps diesel_cli's `__diesel_schema_migrations` table
//! so both tools agree, and records a checksum of every applied migration in the `groundwork`
//! schema.
//!
//! For other binaries the small API is: [`Settings::resolve`], [`apply_pending`],
//! [`revert_all`], [`environment_stamp`] and [`redact`]; [`Engine`] for finer control.
#![warn(missing_docs)]

pub mod audit;
pub mod backup;
mod cli;
mod commands;
pub mod conninfo;
pub mod db;
pub mod dotenv;
pub mod engine;
pub mod error;
pub mod exit;
pub mod flags;
pub mod guard;
pub mod lint;
mod redact;
pub mod settings;
pub mod source;
pub mod split;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

pub use engine::{Done, Engine, Event, RevertTarget, RunOptions, Status, Verification};
pub use error::MigrateError;
pub use guard::MIGRATION_LOCK_KEY;
pub use redact::redact;
pub use settings::{Environment, Settings};
pub use source::{Migration, MigrationSource};

/// How long library callers wait for another migration run to finish.
const LIBRARY_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Applies every pending migration of `source` to the database of `settings`, with the
/// same guards as `migrate up` (lock, environment stamp, drift) and an audit entry named
/// `command` (e.g. `"seed"`). Only for dev and test databases: a prod or staging database
/// is migrated by ops with `migrate`. Returns what was applied.
pub async fn apply_pending(
    settings: &Settings,
    source: &MigrationSource,
    command: &str,
) -> Result<Vec<Done>, MigrateError> {
    refuse_unless_disposable(settings, "migrating from another tool")?;
    let mut engine =
        Engine::connect(settings, source, RunOptions::new(settings.env, command)).await?;
    let result = async {
        engine.lock(LIBRARY_LOCK_WAIT, &mut |_, _| {}).await?;
        engine.check_environment().await?;
        if let Some(err) = engine.verify().await?.to_error(engine.source_desc()) {
            return Err(err);
        }
        engine.apply_pending(None, &mut |_| {}).await
    }
    .await;
    engine.finish(&result).await;
    result
}

/// Reverts every applied migration (for `seed reset --hard`), with the lock and environment
/// guards and an audit entry named `command`. Refused outside dev and test.
pub async fn revert_all(
    settings: &Settings,
    source: &MigrationSource,
    command: &str,
) -> Result<Vec<Done>, MigrateError> {
    refuse_unless_disposable(settings, "reverting every migration")?;
    let mut engine =
        Engine::connect(settings, source, RunOptions::new(settings.env, command)).await?;
    let result = async {
        engine.lock(LIBRARY_LOCK_WAIT, &mut |_, _| {}).await?;
        engine.check_environment().await?;
        engine.revert(&RevertTarget::All, &mut |_| {}).await
    }
    .await;
    engine.finish(&result).await;
    result
}

/// The environment stamp of the database at `settings` (none if it was never migrated).
/// Connects, reads, disconnects; changes nothing.
pub async fn environment_stamp(settings: &Settings) -> Result<Option<Environment>, MigrateError> {
    let mut conn = db::connect(&settings.database_url, &engine::application_name()).await?;
    guard::read_stamp(&mut conn).await
}

fn refuse_unless_disposable(settings: &Settings, what: &str) -> Result<(), MigrateError> {
    if settings.env.is_disposable() {
        return Ok(());
    }
    Err(MigrateError::Refused(format!(
        "{what} is allowed only on dev and test databases, not {}; use `migrate` for staging and prod",
        settings.env
    )))
}

/// Entry point of the `migrate` binary: parses `args`, runs the command, prints errors to
/// stderr and returns the documented exit code.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    // .env first, so clap's `env = ...` sees it; it never overrides real variables.
    if let Err(message) = dotenv::load(&args) {
        eprintln!("error: {message}");
        return ExitCode::from(exit::USAGE);
    }
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        // clap prints help/version (exit 0) or the usage error (exit 2) itself.
        Err(e) => e.exit(),
    };
    init_tracing(cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::INTERNAL);
        }
    };
    let result = runtime.block_on(commands::dispatch(&cli.global, &cli.command));
    if let Err(e) = &result {
        tracing::debug!(error = ?e, "run failed");
        eprintln!("error: {e}");
    }
    exit::exit_code(&result)
}

fn init_tracing(format: cli::LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (tests calling run twice) is harmless; ignore it.
    let _ = match format {
        cli::LogFormat::Text => builder.try_init(),
        cli::LogFormat::Json => builder.json().try_init(),
    };
}
