//! `groundwork_migrate`: the migration engine behind the `migrate` binary, also used by
//! `seed` to bring demo databases up to date, and the [`policy`] core both binaries share.
//!
//! The engine runs diesel-format migrations (embedded in the binary, or from a folder) on a
//! dedicated `diesel-async` connection, keeps diesel_cli's `__diesel_schema_migrations` table
//! so both tools agree, and records a checksum of every applied migration in the `groundwork`
//! schema.
//!
//! For other binaries the small API is: [`Settings::resolve`], [`apply_pending`],
//! [`revert_all`], [`environment_stamp`], and the [`policy`] module (connection target and
//! connect, environment rule, exit codes, tracing, stdout, `.env`); [`Engine`] for finer
//! control.
#![warn(missing_docs)]

pub mod audit;
pub mod backup;
mod cli;
mod commands;
pub mod db;
pub mod drops;
pub mod engine;
pub mod error;
pub mod guard;
pub mod lint;
pub mod policy;
pub mod source;
pub mod split;
mod summary;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

// The engine's and the commands' paths to the policy core.
use policy::{environment, settings, target as conninfo};

pub use engine::{Done, Engine, Event, RevertTarget, RunOptions, Status, Verification};
pub use error::MigrateError;
pub use guard::MIGRATION_LOCK_KEY;
pub use policy::{ConnInfo, Environment, Settings, redact};
pub use source::{Migration, MigrationSource};

/// How long library callers wait for another migration run to finish.
const LIBRARY_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Applies every pending migration of `source` to the database of `settings`, with the
/// same guards as `migrate up` (environment rule, lock, stamp, drift) and an audit entry
/// named `command` (e.g. `"seed"`). Only for dev and test databases: a prod or staging
/// database is migrated by ops with `migrate`. Returns what was applied.
pub async fn apply_pending(
    settings: &Settings,
    source: &MigrationSource,
    command: &str,
) -> Result<Vec<Done>, MigrateError> {
    let mut engine = open_engine(
        settings,
        source,
        command,
        environment::Intent::Change,
        "migrating from another tool",
    )
    .await?;
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
    let mut engine = open_engine(
        settings,
        source,
        command,
        environment::Intent::Destroy,
        "reverting every migration",
    )
    .await?;
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
    let mut conn = db::connect(&settings.conn, &engine::application_name()).await?;
    guard::read_stamp(&mut conn).await
}

/// Loads the migrations, connects, applies the environment rule for `intent` and refuses
/// anything but dev and test; the engine runs in the effective environment.
async fn open_engine(
    settings: &Settings,
    source: &MigrationSource,
    command: &str,
    intent: environment::Intent,
    what: &str,
) -> Result<Engine, MigrateError> {
    let migrations = source.load_migrations()?;
    let mut conn = db::connect(&settings.conn, &engine::application_name()).await?;
    let requested = environment::Requested {
        env: settings.env,
        source: settings.env_source,
    };
    let (decision, _) = environment::resolve(&mut conn, requested, intent).await?;
    policy::require_disposable(decision.env, policy::DisposableOnly::Library(what))?;
    let mut engine = Engine::from_parts(
        conn,
        migrations,
        source.describe(),
        RunOptions::new(decision.env, command),
    );
    engine.set_probe_conn(&settings.conn);
    Ok(engine)
}

/// Entry point of the `migrate` binary (after `main` loaded `.env`): parses `args`, runs the
/// command, prints errors to stderr and returns the documented exit code.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        // clap prints help/version (exit 0) or the usage error (exit 2) itself.
        Err(e) => e.exit(),
    };
    policy::init_tracing(cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return policy::Code::Internal.into();
        }
    };
    let result = runtime.block_on(commands::dispatch(&cli.global, &cli.command));
    if let Err(e) = &result {
        tracing::debug!(error = ?e, "run failed");
    }
    policy::report(result)
}
