//! The migration runner: applies and reverts migrations on one dedicated connection.
//!
//! Each transactional migration runs in one transaction together with its bookkeeping and
//! audit record, so a failure leaves no trace but the audit row; a non-transactional one runs
//! statement by statement and is recorded afterwards (or its failure is, with how far it got).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

use crate::audit::{self, MigrationRecord, PartialFailure};
use crate::backup::BackupInfo;
use crate::conninfo::ConnInfo;
use crate::db::{self, AppliedRecord};
use crate::error::{Direction, MigrateError, describe_db_error};
use crate::guard::{self, LockHolder};
use crate::settings::{Environment, Settings};
use crate::source::{Migration, MigrationSource};
use crate::split::split_statements;

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

/// State of one migration known to the source.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MigrationStatus {
    /// Its version.
    pub version: String,
    /// Its name.
    pub name: String,
    /// Whether it runs in a transaction.
    pub run_in_transaction: bool,
    /// When it was applied, if it was (server time, as diesel records it).
    pub applied_at: Option<chrono::NaiveDateTime>,
    /// True when it is applied and its up.sql no longer matches the recorded checksum.
    pub changed: bool,
}

/// Applied and pending migrations.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// Every migration of the source, in version order.
    pub migrations: Vec<MigrationStatus>,
    /// Versions applied in the database that the source does not have (database ahead).
    pub unknown_applied: Vec<String>,
}

impl Status {
    /// Number of applied migrations of the source.
    pub fn applied_count(&self) -> usize {
        self.migrations
            .iter()
            .filter(|m| m.applied_at.is_some())
            .count()
    }

    /// Number of pending migrations.
    pub fn pending_count(&self) -> usize {
        self.migrations.len() - self.applied_count()
    }
}

/// An applied migration whose file changed since.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChangedMigration {
    /// Version.
    pub version: String,
    /// Name.
    pub name: String,
    /// Checksum recorded when it was applied.
    pub recorded: String,
    /// Checksum of the file now.
    pub current: String,
}

/// What `verify` found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Verification {
    /// Applied migrations whose up.sql changed (drift).
    pub changed: Vec<ChangedMigration>,
    /// Applied versions the source does not know (database ahead).
    pub ahead: Vec<String>,
    /// Applied migrations without a checksum yet (applied by diesel_cli; recorded by `up`).
    pub unrecorded: Vec<String>,
    /// Applied migrations whose checksum matches.
    pub ok: Vec<String>,
    /// Non-transactional migrations that failed part-way and are still pending.
    pub partial_failures: Vec<PartialFailure>,
    /// INVALID indexes in the database (often left by a failed CREATE INDEX CONCURRENTLY).
    pub invalid_indexes: Vec<String>,
    /// The environment stamp.
    pub environment: Option<Environment>,
}

impl Verification {
    /// No drift and no database-ahead.
    pub fn is_clean(&self) -> bool {
        self.changed.is_empty() && self.ahead.is_empty()
    }

    /// The error that blocks `up`, if any.
    pub fn to_error(&self, source_desc: &str) -> Option<MigrateError> {
        if self.is_clean() {
            return None;
        }
        Some(MigrateError::Drift {
            changed: self
                .changed
                .iter()
                .map(|c| {
                    format!(
                        "{} {} (recorded {}…, now {}…)",
                        c.version,
                        c.name,
                        &c.recorded[..12.min(c.recorded.len())],
                        &c.current[..12.min(c.current.len())]
                    )
                })
                .collect(),
            ahead: self.ahead.clone(),
            source_desc: source_desc.to_string(),
        })
    }

    /// A paragraph explaining what a failed non-transactional migration left behind, if any.
    pub fn cleanup_hint(&self) -> Option<String> {
        if self.partial_failures.is_empty() {
            return None;
        }
        let mut text = String::new();
        for f in &self.partial_failures {
            text.push_str(&format!(
                "Migration {} {} ran outside a transaction and failed part-way on {} ({} statement(s) had taken effect; error: {}). ",
                f.version,
                f.name,
                f.failed_at.format("%Y-%m-%d %H:%M:%S UTC"),
                f.statements_done.unwrap_or(0),
                f.error.as_deref().unwrap_or("unknown"),
            ));
        }
        if self.invalid_indexes.is_empty() {
            text.push_str("Check that rerunning its statements is safe (e.g. objects that already exist) before `migrate up`.");
        } else {
            text.push_str(&format!(
                "INVALID indexes left in the database: {}. Those its own CREATE INDEX statements name are dropped (DROP INDEX CONCURRENTLY) and the migration applied again by the next `migrate up` in dev/test, or by `migrate up --repair` in staging/prod; drop any other by hand.",
                self.invalid_indexes.join(", ")
            ));
        }
        Some(text)
    }
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

/// A connected engine: the loaded migrations and one dedicated connection.
pub struct Engine {
    conn: AsyncPgConnection,
    migrations: Vec<Migration>,
    source_desc: String,
    opts: RunOptions,
    locked: bool,
    run_id: Option<i64>,
    backup: Option<BackupInfo>,
    diesel_table_ready: bool,
    /// Where a second, short-lived connection can look up who blocks a statement that waits
    /// for a lock (never printed: it may hold a password).
    probe_conn: Option<ConnInfo>,
    /// This connection's backend pid, once a run started.
    pid: Option<i32>,
}

/// A pending non-transactional migration whose earlier, interrupted run left indexes that
/// its own CREATE INDEX statements name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Leftover {
    /// Version of the migration.
    pub version: String,
    /// Its name.
    pub name: String,
    /// The indexes, as `schema.name (INVALID)` or `schema.name (valid, …)`.
    pub indexes: Vec<String>,
    /// The same, as `schema.name` (quoted where needed), for DROP INDEX.
    #[serde(skip)]
    pub qualified: Vec<String>,
}

impl Engine {
    /// Loads the migrations (a bad source fails before any connection is made), then connects.
    pub async fn connect(
        settings: &Settings,
        source: &MigrationSource,
        opts: RunOptions,
    ) -> Result<Self, MigrateError> {
        let migrations = source.load_migrations()?;
        let conn = db::connect(&settings.conn, &application_name()).await?;
        let mut engine = Self::from_parts(conn, migrations, source.describe(), opts);
        engine.set_probe_conn(&settings.conn);
        Ok(engine)
    }

    /// An engine over an existing dedicated connection.
    pub fn from_parts(
        conn: AsyncPgConnection,
        migrations: Vec<Migration>,
        source_desc: String,
        opts: RunOptions,
    ) -> Self {
        Self {
            conn,
            migrations,
            source_desc,
            opts,
            locked: false,
            run_id: None,
            backup: None,
            diesel_table_ready: false,
            probe_conn: None,
            pid: None,
        }
    }

    /// Lets the engine open a second connection to `url` to name the sessions that block a
    /// statement when `lock_timeout` keeps expiring.
    pub fn set_probe_conn(&mut self, conn: &ConnInfo) {
        self.probe_conn = Some(conn.clone());
    }

    /// The loaded migrations, in version order.
    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    /// Where the migrations came from, for messages.
    pub fn source_desc(&self) -> &str {
        &self.source_desc
    }

    /// The run's options.
    pub fn options(&self) -> &RunOptions {
        &self.opts
    }

    /// The connection, for callers that need to run their own queries on it.
    pub fn connection(&mut self) -> &mut AsyncPgConnection {
        &mut self.conn
    }

    /// Takes the one-migrator lock, waiting up to `wait`; `on_wait` hears who holds it.
    pub async fn lock(
        &mut self,
        wait: Duration,
        on_wait: &mut dyn FnMut(Option<&LockHolder>, Duration),
    ) -> Result<(), MigrateError> {
        guard::acquire_lock(&mut self.conn, wait, on_wait).await?;
        self.locked = true;
        // If this process is killed mid-statement, PostgreSQL would otherwise keep running the
        // statement (and holding the migration lock) until it next talks to the client; this
        // makes it notice the dead client within a second (PostgreSQL 14+, Linux servers).
        self.conn
            .batch_execute(
                "DO $$ BEGIN IF current_setting('server_version_num')::int >= 140000 THEN \
                 PERFORM set_config('client_connection_check_interval', '1000', false); END IF; END $$",
            )
            .await
            .map_err(|e| MigrateError::db("setting client_connection_check_interval", &e))?;
        Ok(())
    }

    /// Refuses if the database is stamped with another environment; returns the stamp.
    pub async fn check_environment(&mut self) -> Result<Option<Environment>, MigrateError> {
        let stamp = guard::read_stamp(&mut self.conn).await?;
        guard::check_stamp(stamp, self.opts.env)?;
        Ok(stamp)
    }

    /// The environment recorded in the database, if any.
    pub async fn environment_stamp(&mut self) -> Result<Option<Environment>, MigrateError> {
        guard::read_stamp(&mut self.conn).await
    }

    /// Records the backup taken for this run (written into the audit run).
    pub fn set_backup(&mut self, backup: BackupInfo) {
        self.backup = Some(backup);
    }

    /// Closes the audit run (if one started) with the result, and releases the lock. Call it
    /// on every path; if the process dies instead, the server releases the lock and the next
    /// run marks the audit run `interrupted`.
    pub async fn finish<T>(&mut self, result: &Result<T, MigrateError>) {
        if let Some(run_id) = self.run_id.take() {
            let error = result.as_ref().err().map(ToString::to_string);
            if let Err(e) = audit::finish_run(&mut self.conn, run_id, error.as_deref()).await {
                tracing::warn!(error = %e, run_id, "closing the audit run failed");
            }
        }
        if self.locked {
            guard::release_lock(&mut self.conn).await;
            self.locked = false;
        }
    }

    /// Every applied migration as recorded in the database.
    pub async fn applied(&mut self) -> Result<Vec<AppliedRecord>, MigrateError> {
        db::load_applied(&mut self.conn).await
    }

    /// Applied and pending migrations. Read-only.
    pub async fn status(&mut self) -> Result<Status, MigrateError> {
        let applied = self.applied().await?;
        Ok(build_status(&self.migrations, &applied))
    }

    /// Compares the database with the source. Read-only.
    pub async fn verify(&mut self) -> Result<Verification, MigrateError> {
        let applied = self.applied().await?;
        let by_version: BTreeMap<&str, &Migration> = self
            .migrations
            .iter()
            .map(|m| (m.version.as_str(), m))
            .collect();
        let mut v = Verification::default();
        for a in &applied {
            match (by_version.get(a.version.as_str()), &a.checksum) {
                (None, _) => v.ahead.push(a.version.clone()),
                (Some(_), None) => v.unrecorded.push(a.version.clone()),
                (Some(m), Some(recorded)) if *recorded != m.checksum => {
                    v.changed.push(ChangedMigration {
                        version: m.version.clone(),
                        name: m.name.clone(),
                        recorded: recorded.clone(),
                        current: m.checksum.clone(),
                    })
                }
                (Some(_), Some(_)) => v.ok.push(a.version.clone()),
            }
        }
        v.partial_failures = audit::partial_failures(&mut self.conn).await?;
        if !v.partial_failures.is_empty() {
            v.invalid_indexes = audit::invalid_indexes(&mut self.conn).await?;
        }
        v.environment = guard::read_stamp(&mut self.conn).await?;
        Ok(v)
    }

    /// Checks that `version`, given as `argument` (e.g. `--to`), is one the source (or the
    /// database) knows.
    pub fn check_known_version(
        &self,
        version: &str,
        argument: &str,
        also_applied: &[AppliedRecord],
    ) -> Result<(), MigrateError> {
        let known = self.migrations.iter().any(|m| m.version == version)
            || also_applied.iter().any(|a| a.version == version);
        if known {
            return Ok(());
        }
        let mut versions: BTreeSet<String> =
            self.migrations.iter().map(|m| m.version.clone()).collect();
        versions.extend(also_applied.iter().map(|a| a.version.clone()));
        Err(MigrateError::UnknownVersion {
            requested: version.to_string(),
            argument: argument.to_string(),
            source_desc: self.source_desc.clone(),
            known: versions.into_iter().collect(),
        })
    }

    /// Records checksums for applied migrations that have none yet (applied by diesel_cli),
    /// so they are tracked from now on instead of being reported as drift.
    pub async fn adopt_unrecorded(&mut self) -> Result<Vec<String>, MigrateError> {
        let applied = self.applied().await?;
        let by_version: BTreeMap<&str, &Migration> = self
            .migrations
            .iter()
            .map(|m| (m.version.as_str(), m))
            .collect();
        let to_adopt: Vec<&Migration> = applied
            .iter()
            .filter(|a| a.checksum.is_none())
            .filter_map(|a| by_version.get(a.version.as_str()).copied())
            .collect();
        if to_adopt.is_empty() {
            return Ok(Vec::new());
        }
        let env = self.opts.env.as_str();
        self.conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                db::ensure_bookkeeping(conn).await?;
                db::stamp_environment(conn, env).await?;
                for m in &to_adopt {
                    db::adopt(conn, &m.version, &m.name, &m.checksum).await?;
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
        Ok(to_adopt.iter().map(|m| m.version.clone()).collect())
    }

    /// Writes the run's environment as the stamp if the database has none (the environment
    /// rule allowed it: see [`crate::environment`]).
    pub async fn stamp_if_missing(&mut self) -> Result<(), MigrateError> {
        if guard::read_stamp(&mut self.conn).await?.is_some() {
            return Ok(());
        }
        let env = self.opts.env.as_str();
        self.conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                db::ensure_groundwork_tables(conn).await?;
                db::stamp_environment(conn, env).await
            })
            .await
            .map_err(|e| MigrateError::db("stamping the environment", &e))
    }

    /// For each pending non-transactional migration, the INVALID indexes named by its own
    /// CREATE INDEX statements: what a failed or killed `CREATE INDEX CONCURRENTLY` leaves.
    /// Read-only.
    pub async fn interrupted_indexes(
        &mut self,
        pending: &[Migration],
    ) -> Result<Vec<Leftover>, MigrateError> {
        let mut found = Vec::new();
        for m in pending.iter().filter(|m| !m.run_in_transaction) {
            let created = crate::split::created_indexes(&m.up_sql);
            if created.is_empty() {
                continue;
            }
            let names: Vec<String> = created.iter().map(|c| c.name.clone()).collect();
            // INVALID: a build that failed or was killed. VALID while the migration is
            // pending: a run killed after the build finished but before it was recorded;
            // its rerun would fail "already exists" unless the statement says IF NOT EXISTS.
            let indexes: Vec<String> = audit::indexes_named(&mut self.conn, &names)
                .await?
                .into_iter()
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

    /// Drops the INVALID indexes of `leftovers` (DROP INDEX CONCURRENTLY IF EXISTS, so
    /// readers and writers of the table are not blocked), each recorded in the audit log
    /// with action `repair`. The caller applies the migrations afterwards.
    pub async fn repair_indexes(&mut self, leftovers: &[Leftover]) -> Result<(), MigrateError> {
        if leftovers.is_empty() {
            return Ok(());
        }
        self.start_run().await?;
        let run_id = self.run_id.unwrap_or_default();
        for l in leftovers {
            for index in &l.qualified {
                let started = Instant::now();
                let sql = format!("DROP INDEX CONCURRENTLY IF EXISTS {index}");
                let result = self.conn.batch_execute(&sql).await;
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
                if let Err(e) = audit::record_migration(&mut self.conn, &record).await {
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

    /// Pending migrations (up to and including `to`), oldest first, without applying them.
    pub async fn pending(&mut self, to: Option<&str>) -> Result<Vec<Migration>, MigrateError> {
        let applied = self.applied().await?;
        if let Some(to) = to {
            self.check_known_version(to, "--to", &[])?;
        }
        let applied: BTreeSet<String> = applied.into_iter().map(|a| a.version).collect();
        Ok(self
            .migrations
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .filter(|m| to.is_none_or(|to| m.version.as_str() <= to))
            .cloned()
            .collect())
    }

    /// Applies every pending migration (up to and including `to`), oldest first. Stops at
    /// the first failure; the migrations applied before it stay applied. Guards (lock,
    /// environment, drift, backup) are the caller's job; see [`crate::apply_pending`].
    pub async fn apply_pending(
        &mut self,
        to: Option<&str>,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<Done>, MigrateError> {
        let pending: BTreeSet<String> = self
            .pending(to)
            .await?
            .into_iter()
            .map(|m| m.version)
            .collect();
        self.adopt_unrecorded().await?;
        let indices: Vec<usize> = self
            .migrations
            .iter()
            .enumerate()
            .filter(|(_, m)| pending.contains(&m.version))
            .map(|(i, _)| i)
            .collect();
        self.apply_indices(&indices, on_event).await
    }

    async fn apply_indices(
        &mut self,
        indices: &[usize],
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<Done>, MigrateError> {
        self.run_steps(indices, Direction::Up, on_event).await
    }

    /// Runs the migrations at `indices` in order in one direction, reporting each as it
    /// finishes; the error of a failed step lists the ones done before it.
    async fn run_steps(
        &mut self,
        indices: &[usize],
        direction: Direction,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<Done>, MigrateError> {
        let mut done: Vec<Done> = Vec::new();
        for &i in indices {
            let duration = self.run_step(i, direction, &done, on_event).await?;
            let migration = &self.migrations[i];
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

    /// Reverts applied migrations, newest first. Every migration to revert is checked (known
    /// to the source, has a `down.sql`) before the first one runs.
    pub async fn revert(
        &mut self,
        target: &RevertTarget,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<Done>, MigrateError> {
        let applied = self.applied().await?;
        let indices = self.revert_plan(target, &applied)?;
        self.run_steps(&indices, Direction::Down, on_event).await
    }

    /// The migrations `target` would revert, newest first, after the same checks as `revert`.
    pub async fn revert_preview(
        &mut self,
        target: &RevertTarget,
    ) -> Result<Vec<Migration>, MigrateError> {
        let applied = self.applied().await?;
        let indices = self.revert_plan(target, &applied)?;
        Ok(indices
            .into_iter()
            .map(|i| self.migrations[i].clone())
            .collect())
    }

    /// Reverts the newest `steps` migrations and applies them again.
    pub async fn redo(
        &mut self,
        steps: usize,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<Done>, MigrateError> {
        let reverted = self.revert(&RevertTarget::Steps(steps), on_event).await?;
        let mut indices: Vec<usize> = reverted
            .iter()
            .filter_map(|d| self.migrations.iter().position(|m| m.version == d.version))
            .collect();
        indices.sort_unstable();
        self.apply_indices(&indices, on_event).await
    }

    /// Accepts the current file of an applied migration as known-good: its recorded checksum
    /// is replaced, and the change is audited. Returns (old, new) checksums.
    pub async fn accept_checksum(
        &mut self,
        version: &str,
    ) -> Result<(String, String), MigrateError> {
        let applied = self.applied().await?;
        self.check_known_version(version, "`accept-checksum VERSION`", &applied)?;
        let Some(record) = applied.iter().find(|a| a.version == version) else {
            return Err(MigrateError::InvalidArgument(format!(
                "migration {version} is not applied, so there is no checksum to accept; run `migrate up` instead"
            )));
        };
        let Some(m) = self
            .migrations
            .iter()
            .find(|m| m.version == version)
            .cloned()
        else {
            return Err(MigrateError::DatabaseAhead {
                source_desc: self.source_desc.clone(),
                versions: vec![version.to_string()],
            });
        };
        let old = record.checksum.clone().unwrap_or_else(|| "(none)".into());
        self.start_run().await?;
        let run_id = self.run_id.unwrap_or_default();
        let detail = format!("checksum {old} -> {}", m.checksum);
        self.conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                db::record_checksum(conn, &m.version, &m.name, &m.checksum, None).await?;
                audit::record_migration(
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

    /// Indices (into `self.migrations`) to revert for `target`, newest first.
    fn revert_plan(
        &self,
        target: &RevertTarget,
        applied: &[AppliedRecord],
    ) -> Result<Vec<usize>, MigrateError> {
        let mut newest_first: Vec<&AppliedRecord> = applied.iter().collect();
        newest_first.sort_by(|a, b| b.version.cmp(&a.version));
        let selected: Vec<&AppliedRecord> = match target {
            RevertTarget::Steps(n) => newest_first.into_iter().take(*n).collect(),
            RevertTarget::All => newest_first,
            RevertTarget::To(version) => {
                self.check_known_version(version, "--to", applied)?;
                newest_first
                    .into_iter()
                    .filter(|a| a.version.as_str() > version.as_str())
                    .collect()
            }
        };
        let unknown: Vec<String> = selected
            .iter()
            .filter(|a| !self.migrations.iter().any(|m| m.version == a.version))
            .map(|a| a.version.clone())
            .collect();
        if !unknown.is_empty() {
            return Err(MigrateError::DatabaseAhead {
                source_desc: self.source_desc.clone(),
                versions: unknown,
            });
        }
        let mut indices = Vec::with_capacity(selected.len());
        for a in selected {
            if let Some(i) = self.migrations.iter().position(|m| m.version == a.version) {
                let m = &self.migrations[i];
                if m.down_sql.is_none() {
                    return Err(MigrateError::Irreversible {
                        version: m.version.clone(),
                        name: m.name.clone(),
                    });
                }
                indices.push(i);
            }
        }
        Ok(indices)
    }

    /// Before the first change of a run: bookkeeping tables, environment stamp, audit run,
    /// session `lock_timeout` and `statement_timeout`.
    async fn start_run(&mut self) -> Result<(), MigrateError> {
        if self.run_id.is_some() {
            return Ok(());
        }
        if let Some(t) = self.opts.lock_timeout {
            self.conn
                .batch_execute(&format!("SET lock_timeout = '{}ms'", t.as_millis()))
                .await
                .map_err(|e| MigrateError::db("setting lock_timeout", &e))?;
        }
        if let Some(t) = self.opts.statement_timeout {
            self.conn
                .batch_execute(&format!("SET statement_timeout = '{}ms'", t.as_millis()))
                .await
                .map_err(|e| MigrateError::db("setting statement_timeout", &e))?;
        }
        let env = self.opts.env.as_str();
        let command = self.opts.command.clone();
        let backup = self.backup.clone();
        let run_id = self
            .conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                db::ensure_groundwork_tables(conn).await?;
                db::stamp_environment(conn, env).await?;
                audit::begin_run(conn, &command, env, backup.as_ref()).await
            })
            .await
            .map_err(|e| MigrateError::db("starting the audit log entry of this run", &e))?;
        self.run_id = Some(run_id);
        if self.opts.lock_timeout.is_some() && self.probe_conn.is_some() {
            #[derive(diesel::QueryableByName)]
            struct Pid {
                #[diesel(sql_type = diesel::sql_types::Integer)]
                pid: i32,
            }
            let row: Pid = diesel_async::RunQueryDsl::get_result(
                diesel::sql_query("SELECT pg_backend_pid() AS pid"),
                &mut self.conn,
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
        let run_id = self.run_id.unwrap_or_default();
        let m = &self.migrations[index];
        let sql: &str = match direction {
            Direction::Up => &m.up_sql,
            Direction::Down => m.down_sql.as_deref().unwrap_or_default(),
        };
        let probe = match (&self.probe_conn, self.pid, self.opts.lock_timeout) {
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
            max_attempts: self.opts.lock_retries + 1,
            backoff: self.opts.retry_backoff,
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
            run_transactional(&mut self.conn, &step, &retry, on_event).await
        } else {
            run_outside_transaction(&mut self.conn, &step, &retry, on_event).await
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
                if let Err(e) = audit::record_migration(&mut self.conn, &record).await {
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

fn action(direction: Direction) -> &'static str {
    match direction {
        Direction::Up => "apply",
        Direction::Down => "revert",
    }
}

struct Step<'a> {
    migration: &'a Migration,
    sql: &'a str,
    direction: Direction,
    run_id: i64,
    /// Create diesel's table (if missing) in the migration's own transaction, so a failing
    /// first migration leaves the public schema exactly as it was.
    ensure_diesel_table: bool,
}

struct Retry {
    max_attempts: u32,
    backoff: Duration,
    probe: Option<Probe>,
}

/// Looks, from a second connection, at who blocks our backend while a statement waits.
struct Probe {
    url: ConnInfo,
    pid: i32,
    after: Duration,
}

impl Probe {
    async fn look(&self) -> Vec<guard::Blocker> {
        tokio::time::sleep(self.after).await;
        let result = async {
            let mut conn = db::connect(&self.url, &application_name()).await?;
            guard::blockers(&mut conn, self.pid).await
        }
        .await;
        result.unwrap_or_else(|e| {
            tracing::debug!(error = %e, "looking up blocking sessions failed");
            Vec::new()
        })
    }
}

/// Runs `sql`; if it is still running when the probe fires, remembers who blocks it.
async fn execute_watched(
    conn: &mut AsyncPgConnection,
    sql: &str,
    probe: Option<&Probe>,
    seen: &mut Vec<guard::Blocker>,
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

fn describe_blockers(seen: &[guard::Blocker]) -> String {
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
    fn wait_before(&self, attempt: u32) -> Duration {
        self.backoff
            .saturating_mul(1u32 << (attempt.saturating_sub(2)).min(16))
    }
}

enum StepError {
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

/// PostgreSQL's message for SQLSTATE 55P03 when `lock_timeout` expires. diesel-async 0.9
/// keeps only the message, detail and hint of errors it classifies as `Unknown` (its wrapper
/// drops the SQLSTATE), so the message is the only thing left to recognise it by.
fn is_lock_timeout(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(_, info) if info.message().contains("lock timeout"))
}

async fn run_transactional(
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
                    conn.batch_execute(db::DIESEL_TABLE_DDL).await?;
                }
                let started = Instant::now();
                if let Err(e) =
                    execute_watched(conn, step.sql, retry.probe.as_ref(), &mut seen).await
                {
                    hit_lock_timeout = is_lock_timeout(&e);
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

async fn run_outside_transaction(
    conn: &mut AsyncPgConnection,
    step: &Step<'_>,
    retry: &Retry,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Duration, StepError> {
    if step.ensure_diesel_table {
        conn.batch_execute(db::DIESEL_TABLE_DDL).await?;
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
                Err(e) if is_lock_timeout(&e) && attempt < retry.max_attempts => {
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
                    let timed_out = is_lock_timeout(&e);
                    return Err(StepError::Sql {
                        message: format!(
                            "statement {} of {total} ({}): {}{}",
                            n + 1,
                            first_line(statement),
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
    conn.transaction::<_, StepError, _>(async |conn| record(conn, step, duration).await)
        .await?;
    Ok(duration)
}

async fn record(
    conn: &mut AsyncPgConnection,
    step: &Step<'_>,
    duration: Duration,
) -> Result<(), StepError> {
    let m = step.migration;
    let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
    match step.direction {
        Direction::Up => db::record_applied(conn, &m.version, &m.name, &m.checksum, ms).await?,
        Direction::Down => db::record_reverted(conn, &m.version).await?,
    }
    audit::record_migration(
        conn,
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

fn first_line(statement: &str) -> String {
    let line = statement
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("--"))
        .unwrap_or_default();
    if line.chars().count() > 60 {
        format!("{}…", line.chars().take(60).collect::<String>())
    } else {
        line.to_string()
    }
}

fn build_status(migrations: &[Migration], applied: &[AppliedRecord]) -> Status {
    let by_version: BTreeMap<&str, &AppliedRecord> =
        applied.iter().map(|a| (a.version.as_str(), a)).collect();
    let known: BTreeSet<&str> = migrations.iter().map(|m| m.version.as_str()).collect();
    Status {
        migrations: migrations
            .iter()
            .map(|m| {
                let record = by_version.get(m.version.as_str());
                MigrationStatus {
                    version: m.version.clone(),
                    name: m.name.clone(),
                    run_in_transaction: m.run_in_transaction,
                    applied_at: record.map(|a| a.run_on),
                    changed: record
                        .and_then(|a| a.checksum.as_ref())
                        .is_some_and(|c| *c != m.checksum),
                }
            })
            .collect(),
        unknown_applied: applied
            .iter()
            .filter(|a| !known.contains(a.version.as_str()))
            .map(|a| a.version.clone())
            .collect(),
    }
}

/// Milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `migrate <version> <user>@<host>`: shown in `pg_stat_activity`, so a DBA (or a waiting
/// migrator) can tell who holds the migration lock.
pub fn application_name() -> String {
    // PostgreSQL truncates application_name to 63 bytes.
    let mut name = format!(
        "migrate {} {}@{}",
        env!("CARGO_PKG_VERSION"),
        audit::os_user(),
        audit::host()
    );
    while name.len() > 63 {
        name.pop();
    }
    name
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

    #[test]
    fn default_lock_timeout_only_outside_dev_and_test() {
        assert_eq!(
            RunOptions::new(Environment::Prod, "up").lock_timeout,
            Some(Duration::from_secs(5))
        );
        assert_eq!(RunOptions::new(Environment::Dev, "up").lock_timeout, None);
    }
}
