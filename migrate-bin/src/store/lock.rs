//! The one-migrator advisory lock, who holds it, and who blocks a migration statement.
//!
//! Taking the lock is crate-private: only the engine's session takes it, so no path can
//! hold the lock without also passing the session's checks.

use std::fmt;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::error::MigrateError;

/// Key of the session-level advisory lock held by whoever migrates a database
/// ("gwmigrat" in ASCII, so it is recognisable in `pg_locks`). `seed` takes the same lock
/// while it migrates.
pub const MIGRATION_LOCK_KEY: i64 = 0x6777_6d69_6772_6174;

/// The session holding the migration lock, from `pg_locks` and `pg_stat_activity`.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName, serde::Serialize)]
pub struct LockHolder {
    /// Backend process id (use `pg_terminate_backend(pid)` only if it is truly stuck).
    #[diesel(sql_type = Integer)]
    pub pid: i32,
    /// Its `application_name` (`migrate <version> <user>@<host>` for our binaries).
    #[diesel(sql_type = Nullable<Text>)]
    pub application_name: Option<String>,
    /// The database user.
    #[diesel(sql_type = Nullable<Text>)]
    pub usename: Option<String>,
    /// Client address, if over TCP.
    #[diesel(sql_type = Nullable<Text>)]
    pub client_addr: Option<String>,
    /// When the session started.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub backend_start: Option<DateTime<Utc>>,
    /// When its state last changed.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub state_change: Option<DateTime<Utc>>,
    /// `active`, `idle`, `idle in transaction`…
    #[diesel(sql_type = Nullable<Text>)]
    pub state: Option<String>,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pid {} ({}, user {}{}), connected since {}, {} since {}",
            self.pid,
            self.application_name
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or("no application_name"),
            self.usename.as_deref().unwrap_or("?"),
            self.client_addr
                .as_deref()
                .map(|a| format!(" from {a}"))
                .unwrap_or_default(),
            self.backend_start
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_else(|| "?".into()),
            self.state.as_deref().unwrap_or("?"),
            self.state_change
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_else(|| "?".into()),
        )
    }
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// Tries once to take the migration lock.
pub(crate) async fn try_lock(conn: &mut AsyncPgConnection) -> Result<bool, MigrateError> {
    let row: Locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .get_result(conn)
        .await
        .map_err(|e| MigrateError::db("taking the migration lock", &e))?;
    Ok(row.locked)
}

/// Takes the migration lock, polling for up to `wait`. While waiting, `on_wait` is told who
/// holds it (first at once, then about every 5 s). Fails with `LockTimeout` naming the holder.
pub(crate) async fn acquire_lock(
    conn: &mut AsyncPgConnection,
    wait: Duration,
    on_wait: &mut dyn FnMut(Option<&LockHolder>, Duration),
) -> Result<(), MigrateError> {
    let started = Instant::now();
    let mut last_report: Option<Instant> = None;
    loop {
        if try_lock(conn).await? {
            return Ok(());
        }
        let holder = lock_holder(conn).await?;
        let waited = started.elapsed();
        if waited >= wait {
            return Err(MigrateError::LockTimeout {
                waited_secs: wait.as_secs_f64(),
                holder: holder.map(|h| h.to_string()),
            });
        }
        if last_report.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
            on_wait(holder.as_ref(), wait);
            last_report = Some(Instant::now());
        }
        let remaining = wait.saturating_sub(waited);
        tokio::time::sleep(remaining.min(Duration::from_millis(200))).await;
    }
}

/// Releases the migration lock (the server also releases it when the connection closes,
/// e.g. if the process is killed).
pub(crate) async fn release_lock(conn: &mut AsyncPgConnection) {
    let result = diesel::sql_query("SELECT pg_advisory_unlock($1) AS locked")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .get_result::<Locked>(conn)
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "releasing the migration lock failed; it is released when the connection closes");
    }
}

/// Who holds the migration lock on this database, if anyone.
pub async fn lock_holder(conn: &mut AsyncPgConnection) -> Result<Option<LockHolder>, MigrateError> {
    // A bigint advisory key is stored as classid = high 32 bits, objid = low 32 bits, objsubid = 1.
    let rows: Vec<LockHolder> = diesel::sql_query(
        "SELECT a.pid, a.application_name, a.usename::text AS usename, a.client_addr::text AS client_addr, \
                a.backend_start, a.state_change, a.state \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
           AND l.classid::bigint = ($1 >> 32) AND l.objid::bigint = ($1 & 4294967295) \
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         LIMIT 1",
    )
    .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
    .load(conn)
    .await
    .map_err(|e| MigrateError::db("looking up who holds the migration lock", &e))?;
    Ok(rows.into_iter().next())
}

/// A session that blocks a statement of ours (from `pg_blocking_pids`).
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName, serde::Serialize)]
pub struct Blocker {
    /// Its backend process id.
    #[diesel(sql_type = Integer)]
    pub pid: i32,
    /// Its `application_name`.
    #[diesel(sql_type = Nullable<Text>)]
    pub application_name: Option<String>,
    /// The database user.
    #[diesel(sql_type = Nullable<Text>)]
    pub usename: Option<String>,
    /// `active`, `idle in transaction`…
    #[diesel(sql_type = Nullable<Text>)]
    pub state: Option<String>,
    /// When its current (or last) query started.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub query_start: Option<DateTime<Utc>>,
    /// When its transaction started.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub xact_start: Option<DateTime<Utc>>,
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |t: Option<DateTime<Utc>>| {
            t.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_else(|| "?".into())
        };
        write!(
            f,
            "pid {} ({}, user {}, {}, query started {}, transaction started {})",
            self.pid,
            self.application_name
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or("no application_name"),
            self.usename.as_deref().unwrap_or("?"),
            self.state.as_deref().unwrap_or("?"),
            at(self.query_start),
            at(self.xact_start),
        )
    }
}

/// The sessions `pid` is waiting for. The query text is left out on purpose: it may hold
/// literals (secrets) that must not reach logs.
pub async fn blockers(
    conn: &mut AsyncPgConnection,
    pid: i32,
) -> Result<Vec<Blocker>, MigrateError> {
    diesel::sql_query(
        "SELECT a.pid, a.application_name, a.usename::text AS usename, a.state, a.query_start, a.xact_start \
         FROM pg_stat_activity a WHERE a.pid = ANY (pg_blocking_pids($1)) ORDER BY a.pid",
    )
    .bind::<Integer, _>(pid)
    .load(conn)
    .await
    .map_err(|e| MigrateError::db("looking up the sessions that block the migration", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_key_splits_into_pg_locks_fields() {
        assert_eq!(MIGRATION_LOCK_KEY >> 32, 0x6777_6d69);
        assert_eq!(MIGRATION_LOCK_KEY & 0xffff_ffff, 0x6772_6174);
    }
}
