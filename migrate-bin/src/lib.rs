//! `groundwork_migrate`: the migration engine behind the `migrate` binary, also used by
//! `seed` to bring demo databases up to date.
//!
//! The engine runs diesel-format migrations (embedded in the binary, or from a folder) on a
//! dedicated `diesel-async` connection, keeps diesel_cli's `__diesel_schema_migrations` table
//! so both tools agree, and records a checksum of every applied migration in the `groundwork`
//! schema.
//!
//! For other binaries the small API is: [`Settings::resolve`], [`Engine::connect`],
//! [`apply_pending`], [`revert_all`] and [`redact`].
#![warn(missing_docs)]

mod cli;
mod commands;
pub mod db;
pub mod engine;
pub mod error;
pub mod exit;
mod redact;
pub mod settings;
pub mod source;
pub mod split;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

pub use engine::{Done, Engine, Event, RevertTarget, Status};
pub use error::MigrateError;
pub use redact::redact;
pub use settings::{Environment, Settings};
pub use source::{Migration, MigrationSource};

/// Applies every pending migration of `source` to the database of `settings` (used by
/// `seed` on dev/test databases). Returns what was applied.
pub async fn apply_pending(
    settings: &Settings,
    source: &MigrationSource,
) -> Result<Vec<Done>, MigrateError> {
    let mut engine = Engine::connect(settings, source).await?;
    engine.apply_pending(None, &mut |_| {}).await
}

/// Reverts every applied migration (used by `seed reset --hard`). Refused outside dev/test.
pub async fn revert_all(
    settings: &Settings,
    source: &MigrationSource,
) -> Result<Vec<Done>, MigrateError> {
    if !settings.env.is_disposable() {
        return Err(MigrateError::Refused(format!(
            "reverting every migration destroys all data and is allowed only in dev and test, not {}",
            settings.env
        )));
    }
    let mut engine = Engine::connect(settings, source).await?;
    engine.revert(&RevertTarget::All, &mut |_| {}).await
}

/// Entry point of the `migrate` binary: parses `args`, runs the command, prints errors to
/// stderr and returns the documented exit code.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    // .env first, so clap's `env = ...` sees it; it never overrides real variables.
    let _ = dotenvy::dotenv();
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
