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
//! connect, environment rule, exit codes, tracing, stdout, `.env`); [`Session`] for finer
//! control (its type enforces the safety order: lock, stamp, verify, plan, execute, finish).
//!
//! Modules import only downwards (`scripts/check-module-cycles.py` keeps it so): at the
//! bottom the shared vocabulary (`env`, `sql`, `identity`, `summary`, `split`), then `error`,
//! then `store` (the bookkeeping tables), the [`policy`] core, the inputs (`source`, `backup`,
//! `lint`, `config`, `drops`), the `engine`, and the `commands` on top.
#![warn(missing_docs)]

mod backup;
mod cli;
mod commands;
mod config;
mod drops;
mod engine;
mod env;
mod error;
mod identity;
mod lint;
mod locks;
pub mod policy;
mod rehearse;
mod schema_catalog;
mod scratch;
mod script;
mod source;
mod split;
mod sql;
mod store;
mod summary;
mod tenancy;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

pub use engine::{
    ChangedMigration, DEFAULT_STATEMENT_TIMEOUT, Done, Event, Leftover, Locked, MigrationStatus,
    Plan, PlanKind, RevertTarget, RunOptions, Session, Status, Verification,
};
pub use error::{Direction, MigrateError};
pub use policy::{ConnInfo, Environment, Settings, redact};
pub use source::{Migration, MigrationSource};
pub use store::{
    AppliedRecord, BackupInfo, Blocker, LockHolder, MIGRATION_LOCK_KEY, NamedIndex, PartialFailure,
    RunRecord,
};

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
    let session = open_session(
        settings,
        source,
        command,
        policy::Intent::Change,
        "migrating from another tool",
    )
    .await?;
    let mut locked = session.lock(LIBRARY_LOCK_WAIT, &mut |_, _| {}).await?;
    let result = async {
        let plan = locked.plan_up(None).await?;
        locked.execute(plan, &mut |_| {}).await
    }
    .await;
    locked.finish(&result).await;
    result
}

/// Reverts every applied migration (for `seed reset --hard`), with the lock and environment
/// guards and an audit entry named `command`. Refused outside dev and test.
pub async fn revert_all(
    settings: &Settings,
    source: &MigrationSource,
    command: &str,
) -> Result<Vec<Done>, MigrateError> {
    let session = open_session(
        settings,
        source,
        command,
        policy::Intent::Destroy,
        "reverting every migration",
    )
    .await?;
    let mut locked = session.lock(LIBRARY_LOCK_WAIT, &mut |_, _| {}).await?;
    let result = async {
        let plan = locked.plan_revert(&RevertTarget::All).await?;
        locked.execute(plan, &mut |_| {}).await
    }
    .await;
    locked.finish(&result).await;
    result
}

/// The environment stamp of the database at `settings` (none if it was never migrated).
/// Connects, reads, disconnects; changes nothing.
pub async fn environment_stamp(settings: &Settings) -> Result<Option<Environment>, MigrateError> {
    let mut conn = policy::connect(&settings.conn, &policy::application_name()).await?;
    store::read_stamp(&mut conn).await
}

/// Loads the migrations, connects, applies the environment rule for `intent` and refuses
/// anything but dev and test; the session runs in the effective environment.
async fn open_session(
    settings: &Settings,
    source: &MigrationSource,
    command: &str,
    intent: policy::Intent,
    what: &str,
) -> Result<Session, MigrateError> {
    let migrations = source.load_migrations()?;
    let mut conn = policy::connect(&settings.conn, &policy::application_name()).await?;
    let requested = policy::Requested {
        env: settings.env,
        source: settings.env_source,
    };
    let (decision, _) = policy::resolve(&mut conn, requested, intent).await?;
    policy::require_disposable(decision.env, policy::DisposableOnly::Library(what))?;
    let mut session = Session::from_parts(
        conn,
        migrations,
        source.describe(),
        RunOptions::new(decision.env, command),
    );
    session.set_probe_conn(&settings.conn);
    Ok(session)
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
