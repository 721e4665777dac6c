//! Retrying a statement that hit `lock_timeout`, with backoff, and naming who blocked it.

use std::time::Duration;

use diesel::result::DatabaseErrorKind;
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use tokio_postgres::error::SqlState;

use crate::policy::ConnInfo;
use crate::store::{self, Blocker};

/// How a step retries: attempts, the first pause, and the blocker probe.
pub(super) struct Retry {
    pub(super) max_attempts: u32,
    pub(super) backoff: Duration,
    pub(super) probe: Option<Probe>,
}

/// Looks, from a second connection, at who blocks our backend while a statement waits.
pub(super) struct Probe {
    pub(super) url: ConnInfo,
    pub(super) pid: i32,
    pub(super) after: Duration,
}

impl Probe {
    async fn look(&self) -> Vec<Blocker> {
        tokio::time::sleep(self.after).await;
        let result = async {
            let mut conn =
                crate::policy::connect(&self.url, &crate::policy::application_name()).await?;
            store::blockers(&mut conn, self.pid).await
        }
        .await;
        result.unwrap_or_else(|e| {
            tracing::debug!(error = %e, "looking up blocking sessions failed");
            Vec::new()
        })
    }
}

/// Runs `sql`; if it is still running when the probe fires, remembers who blocks it.
pub(super) async fn execute_watched(
    conn: &mut AsyncPgConnection,
    sql: &str,
    probe: Option<&Probe>,
    seen: &mut Vec<Blocker>,
) -> Result<(), diesel::result::Error> {
    let Some(probe) = probe else {
        return conn.batch_execute(sql).await;
    };
    let statement = conn.batch_execute(sql);
    tokio::pin!(statement);
    let look = probe.look();
    tokio::pin!(look);
    let mut looking = true;
    loop {
        tokio::select! {
            result = &mut statement => return result,
            found = &mut look, if looking => {
                looking = false;
                if !found.is_empty() {
                    *seen = found;
                }
            }
        }
    }
}

pub(super) fn describe_blockers(seen: &[Blocker]) -> String {
    if seen.is_empty() {
        "a session that could not be identified (it may have ended; look for long transactions in pg_stat_activity)".to_string()
    } else {
        seen.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl Retry {
    /// Where to ask the server what its lock-timeout error reads (the probe's target).
    pub(super) fn target(&self) -> Option<&ConnInfo> {
        self.probe.as_ref().map(|p| &p.url)
    }

    /// Pause before `attempt` (2 = first retry): backoff, 2×backoff, 4×backoff…
    pub(super) fn wait_before(&self, attempt: u32) -> Duration {
        self.backoff
            .saturating_mul(1u32 << (attempt.saturating_sub(2)).min(16))
    }
}

/// Whether `e` is PostgreSQL's SQLSTATE 55P03 (`lock_not_available`) from `lock_timeout`.
///
/// diesel-async 0.9 keeps only the message, detail and hint of errors it classifies as
/// `Unknown` (its wrapper drops the SQLSTATE), and running the migration SQL on a second,
/// tokio-postgres connection would split the migration from its bookkeeping transaction and
/// from the session holding the lock. So the SQLSTATE is asked of the server once, when a
/// statement first fails: two driver connections to the same database as the same role
/// provoke a 55P03 on an advisory lock, and its message — in the server's `lc_messages`,
/// whatever language that is — is what a lock timeout on our session reads. Only without a
/// connection to ask on (no `lock_timeout` configured) does the English text decide.
pub(super) async fn is_lock_timeout(e: &diesel::result::Error, target: Option<&ConnInfo>) -> bool {
    let diesel::result::Error::DatabaseError(DatabaseErrorKind::Unknown, info) = e else {
        return false;
    };
    let learned = match target {
        Some(target) => LOCK_TIMEOUT_MESSAGE
            .get_or_init(|| provoke_lock_timeout(target))
            .await
            .as_deref(),
        None => None,
    };
    info.message() == learned.unwrap_or(ENGLISH_LOCK_TIMEOUT)
}

/// PostgreSQL's untranslated message for a `lock_timeout` (ProcessInterrupts).
const ENGLISH_LOCK_TIMEOUT: &str = "canceling statement due to lock timeout";

/// The server's message for SQLSTATE 55P03 from `lock_timeout`, learned once per process (one
/// run talks to one server); `None` when it could not be provoked.
static LOCK_TIMEOUT_MESSAGE: tokio::sync::OnceCell<Option<String>> =
    tokio::sync::OnceCell::const_new();

/// An advisory lock key of its own ("gw-lktmo"), never the migration lock this session holds.
const PROVOKE_KEY: i64 = 0x6777_2d6c_6b74_6d6f;

/// One session holds an advisory lock, a second waits for it with a 1 ms `lock_timeout`: the
/// error the second gets is a genuine 55P03, checked by its SQLSTATE.
async fn provoke_lock_timeout(target: &ConnInfo) -> Option<String> {
    async fn open(target: &ConnInfo) -> Option<tokio_postgres::Client> {
        let (client, connection) =
            crate::policy::connect_client(target, &crate::policy::application_name())
                .await
                .ok()?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Some(client)
    }
    let holder = open(target).await?;
    let waiter = open(target).await?;
    let key = PROVOKE_KEY ^ i64::from(std::process::id());
    holder
        .execute("SELECT pg_advisory_lock($1)", &[&key])
        .await
        .ok()?;
    waiter
        .batch_execute("SET lock_timeout = '1ms'")
        .await
        .ok()?;
    let err = waiter
        .execute("SELECT pg_advisory_lock($1)", &[&key])
        .await
        .err()?;
    // Both sessions end here, and their advisory locks with them.
    let db = err.as_db_error()?;
    let learned = (db.code() == &SqlState::LOCK_NOT_AVAILABLE).then(|| db.message().to_string());
    tracing::debug!(message = ?learned, "learned the server's lock_timeout message");
    learned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles() {
        let r = Retry {
            max_attempts: 4,
            backoff: Duration::from_millis(100),
            probe: None,
        };
        assert_eq!(r.wait_before(2), Duration::from_millis(100));
        assert_eq!(r.wait_before(3), Duration::from_millis(200));
        assert_eq!(r.wait_before(4), Duration::from_millis(400));
    }
}
