//! Retrying a statement that hit `lock_timeout`, with backoff, and naming who blocked it.

use std::time::Duration;

use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};

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
    /// Pause before `attempt` (2 = first retry): backoff, 2×backoff, 4×backoff…
    pub(super) fn wait_before(&self, attempt: u32) -> Duration {
        self.backoff
            .saturating_mul(1u32 << (attempt.saturating_sub(2)).min(16))
    }
}

/// Whether `e` is PostgreSQL's SQLSTATE 55P03 (`lock_not_available`) from `lock_timeout`.
///
/// Recognised by the English message, not by the SQLSTATE: diesel-async 0.9 keeps only the
/// message, detail and hint of errors it classifies as `Unknown` (its wrapper drops the
/// code), and running the migration SQL on a second, tokio-postgres connection would split
/// the migration from its bookkeeping transaction and from the session holding the lock.
/// This breaks when the server's `lc_messages` is not English: the retry does not happen
/// and the failure is reported at once, which is safe (nothing half-applied).
pub(super) fn is_lock_timeout(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(_, info) if info.message().contains("lock timeout"))
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
