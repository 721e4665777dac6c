//! Adapter to the migration engine (`groundwork_migrate`): environment stamp, pending
//! migrations, apply (dev/test), revert all (`reset --hard`). Every change goes through the
//! engine's session (lock, stamp, verify, plan, execute, finish; see
//! `groundwork_migrate::Session`), so seed never migrates differently from `migrate`.

use crate::error::{Result, SeedError};
use diesel_async::AsyncPgConnection;
use groundwork_migrate::policy::{Decision, Facts, Intent, Requested};
use groundwork_migrate::{ConnInfo, Environment, MigrateError, MigrationSource, Settings};

/// The engine's environment rule applied to this database: the effective environment, or
/// the engine's refusal (exit 4, nothing written). Read-only.
pub async fn environment(
    conn: &mut AsyncPgConnection,
    requested: Requested,
    intent: Intent,
) -> Result<(Decision, Facts)> {
    groundwork_migrate::policy::resolve(conn, requested, intent)
        .await
        .map_err(engine_error)
}

fn settings(info: &ConnInfo, env: Environment) -> Settings {
    // The run's environment was already decided by the engine's rule (see `environment`);
    // the engine sees it as given, so it is passed on as given.
    Settings::new(
        info.clone(),
        env,
        groundwork_migrate::policy::EnvSource::CommandLine,
    )
}

/// Keeps the engine's own exit code (e.g. 5 for drift, 6 for its lock) and message.
fn engine_error(e: MigrateError) -> SeedError {
    SeedError::from(e)
}

/// Versions of the embedded migrations not yet applied (read-only: no lock, no audit entry).
pub async fn pending(info: &ConnInfo, env: Environment) -> Result<Vec<String>> {
    let settings = settings(info, env);
    let opts = groundwork_migrate::RunOptions::new(settings.env, "seed");
    let mut session =
        groundwork_migrate::Session::connect(&settings, &MigrationSource::Embedded, opts)
            .await
            .map_err(engine_error)?;
    let pending = session.pending(None).await.map_err(engine_error)?;
    Ok(pending.into_iter().map(|m| m.version).collect())
}

/// Applies pending migrations (dev/test only; the engine refuses elsewhere), stamping the
/// environment on a fresh database.
pub async fn apply_pending(info: &ConnInfo, env: Environment) -> Result<Vec<String>> {
    let done =
        groundwork_migrate::apply_pending(&settings(info, env), &MigrationSource::Embedded, "seed")
            .await
            .map_err(engine_error)?;
    Ok(done
        .into_iter()
        .map(|d| format!("{}_{}", d.version, d.name))
        .collect())
}

/// Reverts every applied migration (for `seed reset --hard`; dev/test only).
pub async fn revert_all(info: &ConnInfo, env: Environment) -> Result<usize> {
    let done = groundwork_migrate::revert_all(
        &settings(info, env),
        &MigrationSource::Embedded,
        "seed reset --hard",
    )
    .await
    .map_err(engine_error)?;
    Ok(done.len())
}
