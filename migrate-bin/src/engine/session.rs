//! A connected session that holds no lock: it loads the migrations, reads, and is the only
//! way to a [`Locked`] session.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};

use super::locked::Locked;
use super::report::{Status, Verification};
use super::{RunOptions, plan};
use crate::env::Environment;
use crate::error::MigrateError;
use crate::policy::ConnInfo;
use crate::policy::Settings;
use crate::source::{Migration, MigrationSource};
use crate::store::{self, AppliedRecord, LockHolder, RunRecord};

/// Numbers locked sessions, so a [`super::Plan`] can only run on the session that made it.
static NEXT_LOCKED: AtomicU64 = AtomicU64::new(1);

/// A connected engine: the loaded migrations and one dedicated connection, no lock yet.
/// Everything it offers only reads; [`Session::lock`] is the way to change anything.
pub struct Session {
    pub(super) conn: AsyncPgConnection,
    pub(super) migrations: Vec<Migration>,
    pub(super) source_desc: String,
    pub(super) opts: RunOptions,
    /// Where a second, short-lived connection can look up who blocks a statement that waits
    /// for a lock (never printed: it may hold a password).
    pub(super) probe_conn: Option<ConnInfo>,
}

impl Session {
    /// Loads the migrations (a bad source fails before any connection is made), then connects.
    pub async fn connect(
        settings: &Settings,
        source: &MigrationSource,
        opts: RunOptions,
    ) -> Result<Self, MigrateError> {
        let migrations = source.load_migrations()?;
        let conn =
            crate::policy::connect(&settings.conn, &crate::policy::application_name()).await?;
        let mut session = Self::from_parts(conn, migrations, source.describe(), opts);
        session.set_probe_conn(&settings.conn);
        Ok(session)
    }

    /// A session over an existing dedicated connection.
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
            probe_conn: None,
        }
    }

    /// Lets the engine open a second connection to `conn` to name the sessions that block a
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

    /// The connection, for read-only queries of the caller (table lists, row counts).
    pub fn connection(&mut self) -> &mut AsyncPgConnection {
        &mut self.conn
    }

    /// Every applied migration as recorded in the database.
    pub async fn applied(&mut self) -> Result<Vec<AppliedRecord>, MigrateError> {
        store::load_applied(&mut self.conn).await
    }

    /// Applied and pending migrations.
    pub async fn status(&mut self) -> Result<Status, MigrateError> {
        let applied = self.applied().await?;
        Ok(plan::status(&self.migrations, &applied))
    }

    /// Compares the database with the source.
    pub async fn verify(&mut self) -> Result<Verification, MigrateError> {
        let stamp = store::read_stamp(&mut self.conn).await?;
        self.verify_with_stamp(stamp).await
    }

    /// [`Session::verify`] with the stamp the caller has just read.
    async fn verify_with_stamp(
        &mut self,
        stamp: Option<Environment>,
    ) -> Result<Verification, MigrateError> {
        let applied = self.applied().await?;
        let mut v = plan::compare(&self.migrations, &applied);
        v.partial_failures = store::partial_failures(&mut self.conn).await?;
        if !v.partial_failures.is_empty() {
            v.invalid_indexes = store::invalid_indexes(&mut self.conn).await?;
        }
        v.environment = stamp;
        Ok(v)
    }

    /// Pending migrations (up to and including `to`), oldest first: a preview, for `plan`
    /// and for callers that only report. What runs is a [`Locked`] session's plan.
    pub async fn pending(&mut self, to: Option<&str>) -> Result<Vec<Migration>, MigrateError> {
        let applied = self.applied().await?;
        if let Some(to) = to {
            plan::check_known_version(&self.migrations, to, "--to", &[], &self.source_desc)?;
        }
        Ok(plan::pending(&self.migrations, &applied, to)
            .into_iter()
            .map(|i| self.migrations[i].clone())
            .collect())
    }

    /// The environment recorded in the database, if any.
    pub async fn environment_stamp(&mut self) -> Result<Option<Environment>, MigrateError> {
        store::read_stamp(&mut self.conn).await
    }

    /// The newest `limit` runs of the audit log, newest first.
    pub async fn history(&mut self, limit: i64) -> Result<Vec<RunRecord>, MigrateError> {
        store::history(&mut self.conn, limit).await
    }

    /// Takes the one-migrator lock (waiting up to `wait`; `on_wait` hears who holds it),
    /// refuses a database stamped with another environment, and verifies the applied
    /// migrations against the source. Drift does not fail here (`down` may run on a drifted
    /// database); plans that apply SQL refuse it.
    pub async fn lock(
        mut self,
        wait: Duration,
        on_wait: &mut dyn FnMut(Option<&LockHolder>, Duration),
    ) -> Result<Locked, MigrateError> {
        store::acquire_lock(&mut self.conn, wait, on_wait).await?;
        match self.checks_under_lock().await {
            Ok(verification) => Ok(Locked::new(
                self,
                NEXT_LOCKED.fetch_add(1, Ordering::Relaxed),
                verification,
            )),
            Err(e) => {
                store::release_lock(&mut self.conn).await;
                Err(e)
            }
        }
    }

    async fn checks_under_lock(&mut self) -> Result<Verification, MigrateError> {
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
        let stamp = store::read_stamp(&mut self.conn).await?;
        store::check_stamp(stamp, self.opts.env)?;
        // Under the lock nothing else changes the stamp: the one just read serves the
        // verification too.
        self.verify_with_stamp(stamp).await
    }
}
