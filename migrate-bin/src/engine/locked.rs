//! A session holding the migration lock, with the environment stamp checked and the
//! applied migrations verified: the only state that plans, executes and writes.

use std::time::Instant;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

use super::plan::{self, Plan, PlanKind};
use super::report::{Leftover, Verification};
use super::session::Session;
use super::{Done, Event, RevertTarget, RunOptions};
use crate::error::{Direction, MigrateError};
use crate::source::Migration;
use crate::sql::describe_db_error;
use crate::store::{self, AppliedRecord, MigrationRecord};
use crate::store::{BackupInfo, Note};

/// A locked session (see the module documentation of `engine` for the order).
///
/// Finishing cannot be forgotten silently: [`Locked::finish`] consumes it, closing the
/// audit run and releasing the lock. `Drop` cannot run queries (it is not async), so the
/// design keeps an unfinished run honest instead: the run's audit row is written as
/// `running` before its first change, so a session dropped without `finish` (an early
/// return, a panic, a killed process) stays visible as `running`, and the next run marks it
/// `interrupted` in `migrate history`; the lock goes with the connection. `Drop` logs a
/// warning naming the run.
#[must_use = "call finish(result) to close the audit run and release the lock"]
pub struct Locked {
    pub(super) session: Session,
    /// Numbers this session; a plan records it.
    pub(super) id: u64,
    pub(super) verification: Verification,
    /// The audit run, once the first change started one; `None` again after `finish`.
    pub(super) run: Option<i64>,
    pub(super) backup: Option<BackupInfo>,
    pub(super) diesel_table_ready: bool,
    /// This connection's backend pid, once a run started (for the blocker probe).
    pub(super) pid: Option<i32>,
}

impl Locked {
    pub(super) fn new(session: Session, id: u64, verification: Verification) -> Self {
        Self {
            session,
            id,
            verification,
            run: None,
            backup: None,
            diesel_table_ready: false,
            pid: None,
        }
    }

    /// What verification found when the lock was taken.
    pub fn verification(&self) -> &Verification {
        &self.verification
    }

    /// The drift (changed checksums, database ahead) that blocks applying SQL, if any.
    pub fn check_drift(&self) -> Result<(), MigrateError> {
        match self.verification.to_error(&self.session.source_desc) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// The loaded migrations, in version order.
    pub fn migrations(&self) -> &[Migration] {
        &self.session.migrations
    }

    /// Where the migrations came from, for messages.
    pub fn source_desc(&self) -> &str {
        &self.session.source_desc
    }

    /// The run's options.
    pub fn options(&self) -> &RunOptions {
        &self.session.opts
    }

    /// The connection, for read-only queries of the caller (table lists, row counts for
    /// the production gate).
    pub fn connection(&mut self) -> &mut AsyncPgConnection {
        &mut self.session.conn
    }

    /// Records the backup taken for this run (written into the audit run).
    pub fn set_backup(&mut self, backup: BackupInfo) {
        self.backup = Some(backup);
    }

    /// Plans `up`: the pending migrations up to and including `to`, oldest first. Refuses
    /// drift.
    pub async fn plan_up(&mut self, to: Option<&str>) -> Result<Plan, MigrateError> {
        self.check_drift()?;
        let applied = self.session.applied().await?;
        if let Some(to) = to {
            plan::check_known_version(
                &self.session.migrations,
                to,
                "--to",
                &[],
                &self.session.source_desc,
            )?;
        }
        let steps = plan::pending(&self.session.migrations, &applied, to);
        Ok(self.plan(PlanKind::Up, steps, &applied))
    }

    /// Plans a revert: the applied migrations `target` names, newest first, each checked
    /// (known, has a down.sql) before any runs. Drift does not block a revert.
    pub async fn plan_revert(&mut self, target: &RevertTarget) -> Result<Plan, MigrateError> {
        let applied = self.session.applied().await?;
        let steps = plan::revert_steps(
            &self.session.migrations,
            &applied,
            target,
            &self.session.source_desc,
        )?;
        Ok(self.plan(PlanKind::Revert, steps, &applied))
    }

    /// Plans a redo of the newest `steps` migrations: revert them, then apply them again.
    /// Refuses drift (it applies SQL).
    pub async fn plan_redo(&mut self, steps: usize) -> Result<Plan, MigrateError> {
        self.check_drift()?;
        let applied = self.session.applied().await?;
        let steps = plan::revert_steps(
            &self.session.migrations,
            &applied,
            &RevertTarget::Steps(steps),
            &self.session.source_desc,
        )?;
        Ok(self.plan(PlanKind::Redo, steps, &applied))
    }

    fn plan(&self, kind: PlanKind, steps: Vec<usize>, applied: &[AppliedRecord]) -> Plan {
        Plan {
            kind,
            migrations: steps
                .iter()
                .map(|&i| self.session.migrations[i].clone())
                .collect(),
            steps,
            applied_on: plan::applied_versions(applied),
            session: self.id,
        }
    }

    /// Runs exactly `plan`, after checking that it was made by this session and that the
    /// applied migrations are still those it was computed on (under the lock nobody else
    /// can change them; this makes that a checked invariant rather than an assumption).
    /// An `up` first records checksums of migrations applied by diesel_cli. Stops at the
    /// first failure; what ran before it stays done. Returns what was applied or reverted
    /// (for a redo: what was applied again).
    pub async fn execute(
        &mut self,
        plan: Plan,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<Done>, MigrateError> {
        let applied = self.session.applied().await?;
        plan::check_still_valid(&plan, self.id, &applied)?;
        match plan.kind {
            PlanKind::Up => {
                self.adopt(&applied).await?;
                self.run_steps(&plan.steps, Direction::Up, on_event).await
            }
            PlanKind::Revert => self.run_steps(&plan.steps, Direction::Down, on_event).await,
            PlanKind::Redo => {
                self.run_steps(&plan.steps, Direction::Down, on_event)
                    .await?;
                let again = plan::reapply_order(&plan.steps);
                self.run_steps(&again, Direction::Up, on_event).await
            }
        }
    }

    /// Records checksums for applied migrations that have none yet (applied by diesel_cli),
    /// so they are tracked from now on instead of being reported as drift.
    pub async fn adopt_unrecorded(&mut self) -> Result<Vec<String>, MigrateError> {
        let applied = self.session.applied().await?;
        self.adopt(&applied).await
    }

    async fn adopt(&mut self, applied: &[AppliedRecord]) -> Result<Vec<String>, MigrateError> {
        let to_adopt: Vec<Migration> = plan::unrecorded(&self.session.migrations, applied)
            .into_iter()
            .cloned()
            .collect();
        if to_adopt.is_empty() {
            return Ok(Vec::new());
        }
        let env = self.session.opts.env.as_str();
        self.session
            .conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                store::ensure_bookkeeping(conn).await?;
                store::stamp_environment(conn, env).await?;
                for m in &to_adopt {
                    store::adopt(conn, &m.version, &m.name, &m.checksum).await?;
                }
                Ok(())
            })
            .await
            .map_err(|e| {
                MigrateError::db(
                    "recording checksums of migrations applied by diesel_cli",
                    &e,
                )
            })?;
        Ok(to_adopt.into_iter().map(|m| m.version).collect())
    }

    /// Closes the audit run (if one started) with `result`, and releases the lock.
    pub async fn finish<T>(mut self, result: &Result<T, MigrateError>) {
        let error = result.as_ref().err().map(ToString::to_string);
        self.close(error.as_deref()).await;
    }

    /// Ends the session with the refusal `err` (e.g. drift found under the lock): closes the
    /// audit run, if one started, as failed, releases the lock, and hands `err` back.
    pub async fn refuse(mut self, err: MigrateError) -> MigrateError {
        self.close(Some(&err.to_string())).await;
        err
    }

    async fn close(&mut self, error: Option<&str>) {
        if let Some(run_id) = self.run.take() {
            // Back to the configured durability (`start_run` turned it off), so this
            // commit's flush also makes every earlier commit of the run durable.
            if let Err(e) = self
                .session
                .conn
                .batch_execute("RESET synchronous_commit")
                .await
            {
                tracing::warn!(error = %e, "resetting synchronous_commit failed");
            }
            if let Err(e) = store::finish_run(&mut self.session.conn, run_id, error).await {
                tracing::warn!(error = %e, run_id, "closing the audit run failed");
            }
        }
        store::release_lock(&mut self.session.conn).await;
    }

    /// For each pending non-transactional migration, the INVALID indexes named by its own
    /// CREATE INDEX statements: what a failed or killed `CREATE INDEX CONCURRENTLY` leaves.
    /// Read-only.
    pub async fn interrupted_indexes(
        &mut self,
        plan: &Plan,
    ) -> Result<Vec<Leftover>, MigrateError> {
        let created: Vec<(&Migration, Vec<crate::split::CreatedIndex>)> = plan
            .migrations()
            .iter()
            .filter(|m| !m.run_in_transaction)
            .map(|m| (m, crate::split::created_indexes(&m.up_sql)))
            .filter(|(_, created)| !created.is_empty())
            .collect();
        if created.is_empty() {
            return Ok(Vec::new());
        }
        // One lookup for every name (a large folder has dozens of such migrations), then
        // each migration takes the indexes its own statements name.
        let names: Vec<String> = created
            .iter()
            .flat_map(|(_, c)| c.iter().map(|c| c.name.clone()))
            .collect();
        let existing = store::indexes_named(&mut self.session.conn, &names).await?;
        let mut found = Vec::new();
        for (m, created) in created {
            // INVALID: a build that failed or was killed. VALID while the migration is
            // pending: a run killed after the build finished but before it was recorded;
            // its rerun would fail "already exists" unless the statement says IF NOT EXISTS.
            let indexes: Vec<String> = existing
                .iter()
                .filter(|i| created.iter().any(|c| c.name == i.relname))
                .filter(|i| {
                    !i.valid
                        || created
                            .iter()
                            .any(|c| c.name == i.relname && !c.if_not_exists)
                })
                .map(|i| {
                    if i.valid {
                        format!("{} (valid, but its migration is not recorded)", i.qualified)
                    } else {
                        format!("{} (INVALID)", i.qualified)
                    }
                })
                .collect();
            if !indexes.is_empty() {
                let qualified = indexes
                    .iter()
                    .map(|i| i.split(' ').next().unwrap_or_default().to_string())
                    .collect();
                found.push(Leftover {
                    version: m.version.clone(),
                    name: m.name.clone(),
                    indexes,
                    qualified,
                });
            }
        }
        Ok(found)
    }

    /// Writes `notes` about migrations of this run to its audit log, as records with
    /// `action`, before they are applied (starting the audit run if none started yet).
    pub async fn record_notes(&mut self, action: &str, notes: &[Note]) -> Result<(), MigrateError> {
        if notes.is_empty() {
            return Ok(());
        }
        self.start_run().await?;
        let run_id = self.run.unwrap_or_default();
        for note in notes {
            let record = MigrationRecord {
                run_id,
                version: &note.version,
                name: &note.name,
                action,
                run_in_transaction: note.run_in_transaction,
                duration_ms: None,
                error: None,
                statements_done: None,
                detail: Some(&note.detail),
            };
            store::record_migration(&mut self.session.conn, &record)
                .await
                .map_err(|e| MigrateError::db("writing notes to the audit log", &e))?;
        }
        Ok(())
    }

    /// Drops the INVALID indexes of `leftovers` (DROP INDEX CONCURRENTLY IF EXISTS, so
    /// readers and writers of the table are not blocked), each recorded in the audit log
    /// with action `repair`. The caller applies the migrations afterwards.
    pub async fn repair_indexes(&mut self, leftovers: &[Leftover]) -> Result<(), MigrateError> {
        if leftovers.is_empty() {
            return Ok(());
        }
        self.start_run().await?;
        let run_id = self.run.unwrap_or_default();
        for l in leftovers {
            for index in &l.qualified {
                let started = Instant::now();
                let sql = format!("DROP INDEX CONCURRENTLY IF EXISTS {index}");
                let result = self.session.conn.batch_execute(&sql).await;
                let error = result.as_ref().err().map(|e| describe_db_error(e, None));
                let detail = format!("dropped index {index} left by an interrupted run");
                let ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
                let record = MigrationRecord {
                    run_id,
                    version: &l.version,
                    name: &l.name,
                    action: "repair",
                    run_in_transaction: false,
                    duration_ms: Some(ms),
                    error: error.as_deref(),
                    statements_done: None,
                    detail: Some(&detail),
                };
                if let Err(e) = store::record_migration(&mut self.session.conn, &record).await {
                    tracing::warn!(error = %e, "recording the repair in the audit log failed");
                }
                if let Err(e) = result {
                    return Err(MigrateError::db(
                        format!(
                            "dropping the INVALID index {index} of {} {}",
                            l.version, l.name
                        ),
                        &e,
                    ));
                }
            }
        }
        Ok(())
    }

    /// Accepts the current file of an applied migration as known-good: its recorded checksum
    /// is replaced, and the change is audited. Returns (old, new) checksums.
    pub async fn accept_checksum(
        &mut self,
        version: &str,
    ) -> Result<(String, String), MigrateError> {
        let applied = self.session.applied().await?;
        plan::check_known_version(
            &self.session.migrations,
            version,
            "`accept-checksum VERSION`",
            &applied,
            &self.session.source_desc,
        )?;
        let Some(record) = applied.iter().find(|a| a.version == version) else {
            return Err(MigrateError::InvalidArgument(format!(
                "migration {version} is not applied, so there is no checksum to accept; run `migrate up` instead"
            )));
        };
        let Some(m) = self
            .session
            .migrations
            .iter()
            .find(|m| m.version == version)
            .cloned()
        else {
            return Err(MigrateError::DatabaseAhead {
                source_desc: self.session.source_desc.clone(),
                versions: vec![version.to_string()],
            });
        };
        let old = record.checksum.clone().unwrap_or_else(|| "(none)".into());
        self.start_run().await?;
        let run_id = self.run.unwrap_or_default();
        let detail = format!("checksum {old} -> {}", m.checksum);
        self.session
            .conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                store::record_checksum(conn, &m.version, &m.name, &m.checksum, None).await?;
                store::record_migration(
                    conn,
                    &MigrationRecord {
                        run_id,
                        version: &m.version,
                        name: &m.name,
                        action: "accept_checksum",
                        run_in_transaction: m.run_in_transaction,
                        duration_ms: None,
                        error: None,
                        statements_done: None,
                        detail: Some(&detail),
                    },
                )
                .await
            })
            .await
            .map_err(|e| MigrateError::db(format!("accepting the checksum of {version}"), &e))?;
        Ok((old, m.checksum))
    }

    /// Records in the audit log that the operator overrode a guard for migration `m`
    /// (`action`, e.g. `allow_schema_drift`, with `detail` holding the reason and what was
    /// overridden), before anything is applied: the override stays on record even if the
    /// run then fails.
    pub async fn record_override(
        &mut self,
        m: &Migration,
        action: &str,
        detail: &str,
    ) -> Result<(), MigrateError> {
        self.start_run().await?;
        let record = MigrationRecord {
            run_id: self.run.unwrap_or_default(),
            version: &m.version,
            name: &m.name,
            action,
            run_in_transaction: m.run_in_transaction,
            duration_ms: None,
            error: None,
            statements_done: None,
            detail: Some(detail),
        };
        store::record_migration(&mut self.session.conn, &record)
            .await
            .map_err(|e| MigrateError::db(format!("recording {action} in the audit log"), &e))
    }

    /// Writes the run's environment as the stamp if the database has none (the environment
    /// rule allowed it: see [`crate::policy::decide`]).
    pub async fn stamp_if_missing(&mut self) -> Result<(), MigrateError> {
        if store::read_stamp(&mut self.session.conn).await?.is_some() {
            return Ok(());
        }
        let env = self.session.opts.env.as_str();
        self.session
            .conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                store::ensure_groundwork_tables(conn).await?;
                store::stamp_environment(conn, env).await
            })
            .await
            .map_err(|e| MigrateError::db("stamping the environment", &e))
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        if let Some(run_id) = self.run {
            tracing::warn!(
                run_id,
                "the migration session ended without finishing its audit run; it stays `running` \
                 until the next run marks it `interrupted` (see `migrate history`); the lock is \
                 released with the connection"
            );
        }
    }
}
