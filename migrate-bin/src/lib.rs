//! `groundwork_migrate`: the migration engine behind the `migrate` binary, also used by
//! `seed` to bring demo databases up to date.
//!
//! The engine runs diesel-format migrations (embedded in the binary, or from a folder) on a
//! dedicated `diesel-async` connection, keeps diesel_cli's `__diesel_schema_migrations` table
//! so both tools agree, and records a checksum of every applied migration in the `groundwork`
//! schema.
//!
//! For other binaries the small API is: [`Settings::resolve`], [`apply_pending`],
//! [`revert_all`], [`environment_stamp`], [`redact`], [`init_tracing`], and
//! [`conninfo::ConnInfo`] with [`db::connect`] / [`db::connect_client`] for every
//! connection (one parser, one redactor, one connect deadline); [`Session`] for finer
//! control (its type enforces the safety order: lock, stamp, verify, plan, execute, finish).
#![warn(missing_docs)]

pub mod backup;
mod cli;
mod commands;
pub mod conninfo;
pub mod db;
pub mod dotenv;
pub mod drops;
mod engine;
pub mod environment;
pub mod error;
pub mod exit;
pub mod flags;
pub mod lint;
mod redact;
pub mod settings;
pub mod source;
pub mod split;
mod store;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

pub use conninfo::ConnInfo;
pub use engine::{
    ChangedMigration, DEFAULT_STATEMENT_TIMEOUT, Done, Event, Leftover, Locked, MigrationStatus,
    Plan, PlanKind, RevertTarget, RunOptions, Session, Status, Verification,
};
pub use error::MigrateError;
pub use redact::redact;
pub use settings::{Environment, Settings};
pub use source::{Migration, MigrationSource};
pub use store::{
    AppliedRecord, Blocker, LockHolder, MIGRATION_LOCK_KEY, NamedIndex, PartialFailure, RunRecord,
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
        environment::Intent::Change,
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
        environment::Intent::Destroy,
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
    let mut conn = db::connect(&settings.conn, &db::application_name()).await?;
    store::read_stamp(&mut conn).await
}

/// Loads the migrations, connects, applies the environment rule for `intent` and refuses
/// anything but dev and test; the session runs in the effective environment.
async fn open_session(
    settings: &Settings,
    source: &MigrationSource,
    command: &str,
    intent: environment::Intent,
    what: &str,
) -> Result<Session, MigrateError> {
    let migrations = source.load_migrations()?;
    let mut conn = db::connect(&settings.conn, &db::application_name()).await?;
    let requested = environment::Requested {
        env: settings.env,
        source: settings.env_source,
    };
    let (decision, _) = environment::resolve(&mut conn, requested, intent).await?;
    if !decision.env.is_disposable() {
        return Err(MigrateError::Refused(format!(
            "{what} is allowed only on dev and test databases, not {}; use `migrate` for staging and prod. Nothing was changed",
            decision.env
        )));
    }
    let mut session = Session::from_parts(
        conn,
        migrations,
        source.describe(),
        RunOptions::new(decision.env, command),
    );
    session.set_probe_conn(&settings.conn);
    Ok(session)
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
    init_tracing(cli.global.log_format == cli::LogFormat::Json);
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

/// Targets whose debug/trace events print the values bound to statements (tokio-postgres
/// logs "executing statement … with parameters: […]"), which include API-key and password
/// hashes. Capped at INFO whatever RUST_LOG says: a debug log is shared and pasted, and
/// "debug logs never show secret-bearing values" must not depend on how RUST_LOG is written.
const BOUND_VALUE_TARGETS: &[&str] = &["tokio_postgres::query"];

fn shows_bound_values(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() > tracing::Level::INFO
        && BOUND_VALUE_TARGETS
            .iter()
            .any(|t| meta.target().starts_with(t))
}

/// The tracing set-up of both binaries: logs on stderr, filtered by `RUST_LOG` (default
/// `warn`), as text or one JSON object per line, with [`BOUND_VALUE_TARGETS`] capped.
/// The driver logs through the `log` crate; this also routes it here, so the cap applies
/// before the driver even formats its parameters. A second call is a no-op.
pub fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let cap = tracing_subscriber::filter::filter_fn(|meta| !shows_bound_values(meta));
    let registry = tracing_subscriber::registry().with(filter).with(cap);
    // Colour codes only on a terminal: CI logs and files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    // A second initialisation (tests calling run twice) is harmless; ignore it.
    let _ = if json {
        registry.with(layer.json()).try_init()
    } else {
        registry.with(layer).try_init()
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn bound_values_are_capped_at_info() {
        use tracing::Level;
        assert!(Level::DEBUG > Level::INFO && Level::TRACE > Level::INFO);
        assert!(super::BOUND_VALUE_TARGETS.contains(&"tokio_postgres::query"));
    }
}
