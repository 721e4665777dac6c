//! The run of a locked session: its audit entry (started before the first change, with the
//! session's timeouts) and its steps, one migration at a time.

use std::time::Duration;

use diesel_async::{AsyncConnection, SimpleAsyncConnection};

use super::execute::{Step, StepError, action, run_outside_transaction, run_transactional};
use super::locked::Locked;
use super::retry::{Probe, Retry};
use super::{Done, Event, millis};
use crate::error::{Direction, MigrateError};
use crate::store::{self, MigrationRecord};

impl Locked {
    /// Runs the migrations at `steps` in order in one direction, reporting each as it
    /// finishes; the error of a failed step lists the ones done before it.
    pub(super) async fn run_steps(
        &mut self,
        steps: &[usize],
        direction: Direction,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<Done>, MigrateError> {
        let mut done: Vec<Done> = Vec::new();
        for &i in steps {
            let duration = self.run_step(i, direction, &done, on_event).await?;
            let migration = &self.session.migrations[i];
            on_event(match direction {
                Direction::Up => Event::Applied {
                    migration,
                    duration,
                },
                Direction::Down => Event::Reverted {
                    migration,
                    duration,
                },
            });
            done.push(Done {
                version: migration.version.clone(),
                name: migration.name.clone(),
                duration_ms: millis(duration),
            });
        }
        Ok(done)
    }

    /// Before the first change of a run: bookkeeping tables, environment stamp, audit run,
    /// session `lock_timeout` and `statement_timeout`.
    pub(super) async fn start_run(&mut self) -> Result<(), MigrateError> {
        if self.run.is_some() {
            return Ok(());
        }
        // The run's commits (this one's bootstrap and audit row included) need not each
        // wait for their WAL flush, most of a large `up`'s time otherwise: `close` resets
        // this before it closes the audit run, and that commit's flush covers every earlier
        // one, so a run that reports its outcome is durable. A server crash mid-run loses a
        // suffix of the commits, each whole (WAL order): the same state as a run killed at
        // that point, which the next run already handles.
        self.session
            .conn
            .batch_execute("SET synchronous_commit = off")
            .await
            .map_err(|e| MigrateError::db("setting synchronous_commit", &e))?;
        if let Some(t) = self.session.opts.lock_timeout {
            self.session
                .conn
                .batch_execute(&format!("SET lock_timeout = '{}ms'", t.as_millis()))
                .await
                .map_err(|e| MigrateError::db("setting lock_timeout", &e))?;
        }
        if let Some(t) = self.session.opts.statement_timeout {
            self.session
                .conn
                .batch_execute(&format!("SET statement_timeout = '{}ms'", t.as_millis()))
                .await
                .map_err(|e| MigrateError::db("setting statement_timeout", &e))?;
        }
        let env = self.session.opts.env.as_str();
        let command = self.session.opts.command.clone();
        let backup = self.backup.clone();
        let run_id = self
            .session
            .conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                store::ensure_groundwork_tables(conn).await?;
                store::stamp_environment(conn, env).await?;
                store::begin_run(conn, &command, env, backup.as_ref()).await
            })
            .await
            .map_err(|e| MigrateError::db("starting the audit log entry of this run", &e))?;
        self.run = Some(run_id);
        if self.session.opts.lock_timeout.is_some() && self.session.probe_conn.is_some() {
            #[derive(diesel::QueryableByName)]
            struct Pid {
                #[diesel(sql_type = diesel::sql_types::Integer)]
                pid: i32,
            }
            let row: Pid = diesel_async::RunQueryDsl::get_result(
                diesel::sql_query("SELECT pg_backend_pid() AS pid"),
                &mut self.session.conn,
            )
            .await
            .map_err(|e| MigrateError::db("reading the backend pid", &e))?;
            self.pid = Some(row.pid);
        }
        Ok(())
    }

    /// Runs one migration with retries on `lock_timeout`, records it, and turns failures
    /// into `MigrationFailed` (after recording them in the audit log).
    async fn run_step(
        &mut self,
        index: usize,
        direction: Direction,
        done: &[Done],
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Duration, MigrateError> {
        self.start_run().await?;
        let run_id = self.run.unwrap_or_default();
        let m = &self.session.migrations[index];
        let sql: &str = match direction {
            Direction::Up => &m.up_sql,
            Direction::Down => m.down_sql.as_deref().unwrap_or_default(),
        };
        let probe = match (
            &self.session.probe_conn,
            self.pid,
            self.session.opts.lock_timeout,
        ) {
            (Some(url), Some(pid), Some(timeout)) => Some(Probe {
                url: url.clone(),
                pid,
                // Late enough that fast statements never pay for it, early enough to see
                // the blocker before lock_timeout cancels the wait.
                after: timeout.mul_f64(0.6),
            }),
            _ => None,
        };
        let retry = Retry {
            max_attempts: self.session.opts.lock_retries + 1,
            backoff: self.session.opts.retry_backoff,
            probe,
        };
        let step = Step {
            migration: m,
            sql,
            direction,
            run_id,
            ensure_diesel_table: !self.diesel_table_ready,
        };
        let result = if m.run_in_transaction {
            run_transactional(&mut self.session.conn, &step, &retry, on_event).await
        } else {
            run_outside_transaction(&mut self.session.conn, &step, &retry, on_event).await
        };
        match result {
            Ok(d) => {
                self.diesel_table_ready = true;
                Ok(d)
            }
            Err(StepError::Bookkeeping(e)) => Err(MigrateError::db(
                format!("recording migration {} {}", m.version, m.name),
                &e,
            )),
            Err(StepError::Sql {
                message,
                statements_done,
                blocked_by,
            }) => {
                let record = MigrationRecord {
                    run_id,
                    version: &m.version,
                    name: &m.name,
                    action: action(direction),
                    run_in_transaction: m.run_in_transaction,
                    duration_ms: None,
                    error: Some(&message),
                    statements_done,
                    detail: None,
                };
                if let Err(e) = store::record_migration(&mut self.session.conn, &record).await {
                    tracing::warn!(error = %e, "recording the failure in the audit log failed");
                }
                Err(MigrateError::MigrationFailed {
                    direction,
                    version: m.version.clone(),
                    name: m.name.clone(),
                    error: message,
                    transactional: m.run_in_transaction,
                    done: done
                        .iter()
                        .map(|d| format!("{} {}", d.version, d.name))
                        .collect(),
                    blocked_by,
                })
            }
        }
    }
}
