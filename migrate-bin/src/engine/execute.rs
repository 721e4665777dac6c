//! Running one migration: in its own transaction together with its bookkeeping and audit
//! record, or (`run_in_transaction = false`) statement by statement, recorded afterwards.
//! Statements that hit `lock_timeout` are retried (see `retry`).

use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

use super::Event;
use super::retry::{Retry, describe_blockers, execute_watched, is_lock_timeout};
use crate::error::Direction;
use crate::source::Migration;
use crate::split::split_statements;
use crate::sql::describe_db_error;
use crate::store::{self, MigrationRecord};

pub(super) fn action(direction: Direction) -> &'static str {
    match direction {
        Direction::Up => "apply",
        Direction::Down => "revert",
    }
}

pub(super) struct Step<'a> {
    pub(super) migration: &'a Migration,
    pub(super) sql: &'a str,
    pub(super) direction: Direction,
    pub(super) run_id: i64,
    /// Create diesel's table (if missing) in the migration's own transaction, so a failing
    /// first migration leaves the public schema exactly as it was.
    pub(super) ensure_diesel_table: bool,
}

pub(super) enum StepError {
    /// The migration's own SQL failed (message formatted with position/detail).
    Sql {
        message: String,
        statements_done: Option<i32>,
        /// Set when every attempt hit `lock_timeout`: who held the lock.
        blocked_by: Option<String>,
    },
    /// Recording it failed.
    Bookkeeping(diesel::result::Error),
}

impl From<diesel::result::Error> for StepError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Bookkeeping(e)
    }
}

pub(super) async fn run_transactional(
    conn: &mut AsyncPgConnection,
    step: &Step<'_>,
    retry: &Retry,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Duration, StepError> {
    let mut attempt = 1;
    let mut seen = Vec::new();
    loop {
        let mut hit_lock_timeout = false;
        let result = conn
            .transaction::<_, StepError, _>(async |conn| {
                if step.ensure_diesel_table {
                    conn.batch_execute(store::DIESEL_TABLE_DDL).await?;
                }
                let started = Instant::now();
                if let Err(e) =
                    execute_watched(conn, step.sql, retry.probe.as_ref(), &mut seen).await
                {
                    hit_lock_timeout = is_lock_timeout(&e, retry.target()).await;
                    return Err(StepError::Sql {
                        message: describe_db_error(&e, Some(step.sql)),
                        statements_done: None,
                        blocked_by: None,
                    });
                }
                let duration = started.elapsed();
                record(conn, step, duration).await?;
                Ok(duration)
            })
            .await;
        match result {
            Err(StepError::Sql { .. }) if hit_lock_timeout && attempt < retry.max_attempts => {
                attempt += 1;
                let wait = retry.wait_before(attempt);
                on_event(Event::Retrying {
                    migration: step.migration,
                    attempt,
                    of: retry.max_attempts,
                    wait,
                });
                tokio::time::sleep(wait).await;
            }
            Err(StepError::Sql {
                message,
                statements_done,
                ..
            }) if hit_lock_timeout => {
                return Err(StepError::Sql {
                    message: format!("{message} (lock_timeout reached on all {attempt} attempts)"),
                    statements_done,
                    blocked_by: Some(describe_blockers(&seen)),
                });
            }
            other => return other,
        }
    }
}

pub(super) async fn run_outside_transaction(
    conn: &mut AsyncPgConnection,
    step: &Step<'_>,
    retry: &Retry,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Duration, StepError> {
    if step.ensure_diesel_table {
        conn.batch_execute(store::DIESEL_TABLE_DDL).await?;
    }
    let started = Instant::now();
    let statements = split_statements(step.sql);
    let total = statements.len();
    for (n, statement) in statements.iter().enumerate() {
        let mut attempt = 1;
        let mut seen = Vec::new();
        loop {
            match execute_watched(conn, statement, retry.probe.as_ref(), &mut seen).await {
                Ok(()) => break,
                // Only this statement is retried: the ones before it have taken effect.
                Err(e)
                    if attempt < retry.max_attempts
                        && is_lock_timeout(&e, retry.target()).await =>
                {
                    attempt += 1;
                    let wait = retry.wait_before(attempt);
                    on_event(Event::Retrying {
                        migration: step.migration,
                        attempt,
                        of: retry.max_attempts,
                        wait,
                    });
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    let timed_out = is_lock_timeout(&e, retry.target()).await;
                    return Err(StepError::Sql {
                        message: format!(
                            "statement {} of {total} ({}): {}{}",
                            n + 1,
                            crate::split::first_line(statement, 60),
                            describe_db_error(&e, Some(statement)),
                            if timed_out {
                                format!(" (lock_timeout reached on all {attempt} attempts)")
                            } else {
                                String::new()
                            }
                        ),
                        statements_done: i32::try_from(n).ok(),
                        blocked_by: timed_out.then(|| describe_blockers(&seen)),
                    });
                }
            }
        }
    }
    let duration = started.elapsed();
    // One statement, so its rows commit together without a transaction block around it.
    record(conn, step, duration).await?;
    Ok(duration)
}

async fn record(
    conn: &mut AsyncPgConnection,
    step: &Step<'_>,
    duration: Duration,
) -> Result<(), StepError> {
    let m = step.migration;
    let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
    let checksum = match step.direction {
        Direction::Up => Some(m.checksum.as_str()),
        Direction::Down => None,
    };
    store::record_step(
        conn,
        checksum,
        &MigrationRecord {
            run_id: step.run_id,
            version: &m.version,
            name: &m.name,
            action: action(step.direction),
            run_in_transaction: m.run_in_transaction,
            duration_ms: Some(ms),
            error: None,
            statements_done: None,
            detail: None,
        },
    )
    .await?;
    Ok(())
}
