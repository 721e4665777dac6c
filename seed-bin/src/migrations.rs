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
const MIGRATION_LOCK_KEY: i64 = 0x006d_6967_7261_7465;

/// How long to wait for another migrator before giving up (exit 6).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

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
        // Poll with try-lock rather than block: a session blocked in pg_advisory_lock sits in
        // an open transaction, and another seeder's CREATE INDEX CONCURRENTLY waits for every
        // open transaction, so blocking would deadlock.
        let started = std::time::Instant::now();
        loop {
            let attempt = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
                .bind::<BigInt, _>(MIGRATION_LOCK_KEY);
            let got: Locked = diesel::RunQueryDsl::get_result(attempt, &mut conn)
                .map_err(SeedError::db("taking the migration lock"))?;
            if got.locked {
                break;
            }
            if started.elapsed() > LOCK_WAIT {
                return Err(SeedError::LockTimeout(format!(
                    "another migrator or seeder has held the migration lock for over {} s; wait for it to finish (see pg_stat_activity) and rerun",
                    LOCK_WAIT.as_secs()
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
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
