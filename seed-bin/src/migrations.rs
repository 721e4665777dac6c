//! Adapter to the migrations: environment stamp, pending migrations, apply, revert.
//!
//! TODO(migrate): switch `pending`/`apply_pending`/`revert_all` to `groundwork_migrate`'s
//! engine once it lands on main (checksums, audit log, environment stamp). Until then they
//! run domain's embedded migrations through diesel's harness (stack.md §2 variant A) under
//! an advisory lock, and the stamp table is read directly.

use crate::db::redact;
use crate::error::{Result, SeedError};
use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use diesel_migrations::MigrationHarness;

/// Same key as the migrate engine's lock ("migrate" in ASCII), so seed never applies
/// migrations while `migrate` runs, nor two seeders at once.
const MIGRATION_LOCK_KEY: i64 = 0x6d69_6772_6174_65;

#[derive(diesel::QueryableByName)]
struct Present {
    #[diesel(sql_type = Bool)]
    present: bool,
}

#[derive(diesel::QueryableByName)]
struct Stamp {
    #[diesel(sql_type = Text)]
    env: String,
}

/// The database's environment stamp, or `None` when it was never stamped.
pub async fn env_stamp(conn: &mut AsyncPgConnection) -> Result<Option<String>> {
    let p: Present =
        diesel::sql_query("SELECT to_regclass('groundwork.environment') IS NOT NULL AS present")
            .get_result(conn)
            .await
            .map_err(SeedError::db("looking for the environment stamp"))?;
    if !p.present {
        return Ok(None);
    }
    let rows: Vec<Stamp> =
        diesel::sql_query("SELECT env::text AS env FROM groundwork.environment LIMIT 1")
            .load(conn)
            .await
            .map_err(SeedError::db("reading the environment stamp"))?;
    Ok(rows.into_iter().next().map(|s| s.env))
}

type Wrapper = AsyncConnectionWrapper<AsyncPgConnection>;

/// Runs `f` on a blocking thread with a locked synchronous connection.
async fn with_locked<T: Send + 'static>(
    url: &str,
    f: impl FnOnce(&mut Wrapper) -> std::result::Result<T, String> + Send + 'static,
) -> Result<T> {
    let url = url.to_string();
    let joined = tokio::task::spawn_blocking(move || -> Result<T> {
        use diesel::Connection;
        let mut conn =
            <Wrapper as Connection>::establish(&url).map_err(|e| SeedError::Connect {
                url: redact(&url),
                cause: e.to_string(),
            })?;
        let lock =
            diesel::sql_query("SELECT pg_advisory_lock($1)").bind::<BigInt, _>(MIGRATION_LOCK_KEY);
        diesel::RunQueryDsl::execute(lock, &mut conn)
            .map_err(SeedError::db("waiting for the migration lock"))?;
        let out = f(&mut conn).map_err(SeedError::Migration);
        // The lock also goes away with the connection; unlocking is for tidiness.
        let unlock = diesel::sql_query("SELECT pg_advisory_unlock($1)")
            .bind::<BigInt, _>(MIGRATION_LOCK_KEY);
        let _ = diesel::RunQueryDsl::execute(unlock, &mut conn);
        out
    })
    .await;
    joined.map_err(|e| SeedError::Internal(format!("migration task panicked: {e}")))?
}

/// Versions of the embedded migrations not yet applied.
pub async fn pending(url: &str) -> Result<Vec<String>> {
    with_locked(url, |c| {
        c.pending_migrations(domain::MIGRATIONS)
            .map(|v| v.iter().map(|m| m.name().to_string()).collect())
            .map_err(|e| e.to_string())
    })
    .await
}

/// Applies pending migrations (dev/test only; the caller checks).
pub async fn apply_pending(url: &str, _env: &str) -> Result<Vec<String>> {
    with_locked(url, |c| {
        c.run_pending_migrations(domain::MIGRATIONS)
            .map(|v| v.iter().map(ToString::to_string).collect())
            .map_err(|e| e.to_string())
    })
    .await
}

/// Reverts every applied migration (for `seed reset --hard`).
pub async fn revert_all(url: &str, _env: &str) -> Result<usize> {
    with_locked(url, |c| {
        c.revert_all_migrations(domain::MIGRATIONS)
            .map(|v| v.len())
            .map_err(|e| e.to_string())
    })
    .await
}
