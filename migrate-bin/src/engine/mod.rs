//! The migration engine: one session per run, whose type enforces the safety order.
//!
//! ```text
//! Session::connect ──lock(wait)──▶ Locked ──plan_up / plan_revert / plan_redo──▶ Plan
//!   (read-only:                    (lock held, stamp checked,        │
//!    status, verify,                checksums verified)              ▼
//!    pending, history)             Locked::execute(plan) ──▶ finish(result)
//! ```
//!
//! * [`Session`] is connected but holds no lock: it can only read.
//! * [`Session::lock`] takes the one-migrator lock, checks the environment stamp and
//!   verifies the applied migrations against the source; only then is there a [`Locked`].
//! * Only a [`Locked`] makes a [`Plan`], and [`Locked::execute`] runs exactly that value
//!   (what the production gate showed and had confirmed), after checking that the database
//!   is still in the state the plan was computed on.
//! * [`Locked::finish`] consumes the session, closing the audit run and releasing the lock.
//!
//! Planning and verification are pure functions over (source migrations, applied records)
//! in `plan`; running SQL with retries is `execute` and `retry`; what is stored where is the
//! crate's `store`.

mod execute;
mod locked;
mod plan;
mod report;
mod resolve;
mod retry;
mod run;
mod session;

use std::time::Duration;

pub use locked::Locked;
pub use plan::{OutOfOrder, Plan, PlanKind, out_of_order};
pub use report::{ChangedMigration, Leftover, MigrationStatus, Status, Verification};
pub use resolve::Resolution;
pub use session::Session;

use crate::env::Environment;
use crate::source::Migration;

/// What happened to one migration, reported as it happens.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// The migration was applied.
    Applied {
        /// The migration.
        migration: &'a Migration,
        /// How long its SQL took.
        duration: Duration,
    },
    /// The migration was reverted.
    Reverted {
        /// The migration.
        migration: &'a Migration,
        /// How long its SQL took.
        duration: Duration,
    },
    /// A statement hit `lock_timeout`; the migration (or statement) is retried after `wait`.
    Retrying {
        /// The migration.
        migration: &'a Migration,
        /// Attempt about to start (2 = first retry).
        attempt: u32,
        /// Total attempts allowed.
        of: u32,
        /// Pause before the attempt.
        wait: Duration,
    },
}

/// Which applied migrations `down` reverts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevertTarget {
    /// The newest N.
    Steps(usize),
    /// Every one newer than this version (which stays applied).
    To(String),
    /// All of them.
    All,
}

/// One migration done by a run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Done {
    /// Its version.
    pub version: String,
    /// Its name.
    pub name: String,
    /// Time its SQL took, in milliseconds.
    pub duration_ms: u64,
}

/// `statement_timeout` of migration statements in staging and prod (see
/// [`RunOptions::statement_timeout`]).
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// How a run behaves: its environment, its name in the audit log, and lock handling.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Environment the run claims; stamped into a new database, checked against an old one.
    pub env: Environment,
    /// Name of the run in the audit log (`up`, `down`, `seed`…).
    pub command: String,
    /// `lock_timeout` for every statement (none: wait as long as PostgreSQL does).
    pub lock_timeout: Option<Duration>,
    /// `statement_timeout` for the run's statements (none: the server's setting). Off in
    /// dev/test; an hour in staging/prod, long enough for a `CREATE INDEX CONCURRENTLY` on
    /// a big table, short enough that a stuck migration does not hold its locks all day.
    pub statement_timeout: Option<Duration>,
    /// How many times a statement that hit `lock_timeout` is retried.
    pub lock_retries: u32,
    /// Pause before the first retry; doubled for each later one.
    pub retry_backoff: Duration,
}

impl RunOptions {
    /// Defaults for `env`: a 5 s `lock_timeout` in staging and prod, none in dev/test; 3 retries.
    pub fn new(env: Environment, command: &str) -> Self {
        Self {
            env,
            command: command.to_string(),
            lock_timeout: (!env.is_disposable()).then(|| Duration::from_secs(5)),
            statement_timeout: (!env.is_disposable()).then_some(DEFAULT_STATEMENT_TIMEOUT),
            lock_retries: 3,
            retry_backoff: Duration::from_secs(1),
        }
    }
}

/// Milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_lock_timeout_only_outside_dev_and_test() {
        assert_eq!(
            RunOptions::new(Environment::Prod, "up").lock_timeout,
            Some(Duration::from_secs(5))
        );
        assert_eq!(RunOptions::new(Environment::Dev, "up").lock_timeout, None);
    }
}
