//! The migration runner: applies and reverts migrations on one dedicated connection.
//!
//! Each transactional migration runs in one transaction together with its bookkeeping, so a
//! failure leaves no trace; a non-transactional one runs statement by statement and is
//! recorded afterwards.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

use crate::db::{self, AppliedRecord};
use crate::error::{Direction, MigrateError, describe_db_error};
use crate::settings::Settings;
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

/// A connected engine: the loaded migrations and one dedicated connection.
pub struct Engine {
    conn: AsyncPgConnection,
    migrations: Vec<Migration>,
    source_desc: String,
    bookkeeping_ready: bool,
}

impl Engine {
    /// Loads the migrations (a bad source fails before any connection is made), then connects.
    pub async fn connect(
        settings: &Settings,
        source: &MigrationSource,
    ) -> Result<Self, MigrateError> {
        let migrations = source.load_migrations()?;
        let conn = db::connect(&settings.database_url, &application_name()).await?;
        Ok(Self::from_parts(conn, migrations, source.describe()))
    }

    /// An engine over an existing dedicated connection.
    pub fn from_parts(
        conn: AsyncPgConnection,
        migrations: Vec<Migration>,
        source_desc: String,
    ) -> Self {
        Self {
            conn,
            migrations,
            source_desc,
            bookkeeping_ready: false,
        }
    }

    /// The loaded migrations, in version order.
    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    /// The connection, for callers that need to run their own queries on it.
    pub fn connection(&mut self) -> &mut AsyncPgConnection {
        &mut self.conn
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

    /// Checks that `version` is one the source knows (for `up --to`).
    pub fn check_known_version(
        &self,
        version: &str,
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
            source_desc: self.source_desc.clone(),
            known: versions.into_iter().collect(),
        })
    }

    /// Records checksums for applied migrations that have none yet (applied by diesel_cli),
    /// so they are tracked from now on instead of being reported as drift.
    pub async fn adopt_unrecorded(
        &mut self,
        applied: &[AppliedRecord],
    ) -> Result<Vec<String>, MigrateError> {
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
        let ready = self.bookkeeping_ready;
        self.conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                if !ready {
                    db::ensure_bookkeeping(conn).await?;
                }
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
        self.bookkeeping_ready = true;
        Ok(to_adopt.iter().map(|m| m.version.clone()).collect())
    }

    /// Applies every pending migration (up to and including `to`, if given), oldest first.
    /// Stops at the first failure; the migrations applied before it stay applied.
    pub async fn apply_pending(
        &mut self,
        to: Option<&str>,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<Done>, MigrateError> {
        let applied = self.applied().await?;
        if let Some(to) = to {
            self.check_known_version(to, &[])?;
        }
        self.adopt_unrecorded(&applied).await?;
        let applied: BTreeSet<&str> = applied.iter().map(|a| a.version.as_str()).collect();
        let pending: Vec<usize> = self
            .migrations
            .iter()
            .enumerate()
            .filter(|(_, m)| !applied.contains(m.version.as_str()))
            .filter(|(_, m)| to.is_none_or(|to| m.version.as_str() <= to))
            .map(|(i, _)| i)
            .collect();
        self.apply_indices(&pending, on_event).await
    }

    /// Pending migrations (up to `to`), without applying them.
    pub async fn pending(&mut self, to: Option<&str>) -> Result<Vec<&Migration>, MigrateError> {
        let applied = self.applied().await?;
        let applied: BTreeSet<String> = applied.into_iter().map(|a| a.version).collect();
        Ok(self
            .migrations
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .filter(|m| to.is_none_or(|to| m.version.as_str() <= to))
            .collect())
    }

    async fn apply_indices(
        &mut self,
        indices: &[usize],
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<Done>, MigrateError> {
        let mut done: Vec<Done> = Vec::new();
        for &i in indices {
            let duration = match self.run_one(i, Direction::Up).await {
                Ok(d) => d,
                Err(StepError::Sql(error)) => {
                    let m = &self.migrations[i];
                    return Err(MigrateError::MigrationFailed {
                        direction: Direction::Up,
                        version: m.version.clone(),
                        name: m.name.clone(),
                        error,
                        transactional: m.run_in_transaction,
                        done: done
                            .iter()
                            .map(|d| format!("{} {}", d.version, d.name))
                            .collect(),
                    });
                }
                Err(StepError::Bookkeeping(e)) => {
                    return Err(MigrateError::db(
                        format!("recording migration {}", self.migrations[i].version),
                        &e,
                    ));
                }
            };
            let m = &self.migrations[i];
            on_event(Event::Applied {
                migration: m,
                duration,
            });
            done.push(Done {
                version: m.version.clone(),
                name: m.name.clone(),
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
        let mut done: Vec<Done> = Vec::new();
        for i in indices {
            let duration = match self.run_one(i, Direction::Down).await {
                Ok(d) => d,
                Err(StepError::Sql(error)) => {
                    let m = &self.migrations[i];
                    return Err(MigrateError::MigrationFailed {
                        direction: Direction::Down,
                        version: m.version.clone(),
                        name: m.name.clone(),
                        error,
                        transactional: m.run_in_transaction,
                        done: done
                            .iter()
                            .map(|d| format!("{} {}", d.version, d.name))
                            .collect(),
                    });
                }
                Err(StepError::Bookkeeping(e)) => {
                    return Err(MigrateError::db(
                        format!("recording the revert of {}", self.migrations[i].version),
                        &e,
                    ));
                }
            };
            let m = &self.migrations[i];
            on_event(Event::Reverted {
                migration: m,
                duration,
            });
            done.push(Done {
                version: m.version.clone(),
                name: m.name.clone(),
                duration_ms: millis(duration),
            });
        }
        Ok(done)
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
                self.check_known_version(version, applied)?;
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

    /// Runs one migration's SQL in the given direction together with its bookkeeping.
    async fn run_one(&mut self, index: usize, direction: Direction) -> Result<Duration, StepError> {
        let m = &self.migrations[index];
        let sql: &str = match direction {
            Direction::Up => &m.up_sql,
            Direction::Down => m.down_sql.as_deref().unwrap_or_default(),
        };
        let ready = self.bookkeeping_ready;
        let result = if m.run_in_transaction {
            run_transactional(&mut self.conn, m, sql, direction, ready).await
        } else {
            run_outside_transaction(&mut self.conn, m, sql, direction, ready).await
        };
        if result.is_ok() {
            self.bookkeeping_ready = true;
        }
        result
    }
}

enum StepError {
    /// The migration's own SQL failed (message formatted with position/detail).
    Sql(String),
    /// Recording it failed.
    Bookkeeping(diesel::result::Error),
}

impl From<diesel::result::Error> for StepError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Bookkeeping(e)
    }
}

async fn run_transactional(
    conn: &mut AsyncPgConnection,
    m: &Migration,
    sql: &str,
    direction: Direction,
    bookkeeping_ready: bool,
) -> Result<Duration, StepError> {
    conn.transaction::<_, StepError, _>(async |conn| {
        if !bookkeeping_ready {
            // Inside the migration's transaction, so a failing first migration leaves the
            // database exactly as it was, bookkeeping tables included.
            db::ensure_bookkeeping(conn).await?;
        }
        let started = Instant::now();
        conn.batch_execute(sql)
            .await
            .map_err(|e| StepError::Sql(describe_db_error(&e, Some(sql))))?;
        let duration = started.elapsed();
        record(conn, m, direction, duration).await?;
        Ok(duration)
    })
    .await
}

async fn run_outside_transaction(
    conn: &mut AsyncPgConnection,
    m: &Migration,
    sql: &str,
    direction: Direction,
    bookkeeping_ready: bool,
) -> Result<Duration, StepError> {
    if !bookkeeping_ready {
        db::ensure_bookkeeping(conn).await?;
    }
    let started = Instant::now();
    let statements = split_statements(sql);
    let total = statements.len();
    for (n, statement) in statements.iter().enumerate() {
        conn.batch_execute(statement).await.map_err(|e| {
            StepError::Sql(format!(
                "statement {} of {total} ({}): {}",
                n + 1,
                first_line(statement),
                describe_db_error(&e, Some(statement))
            ))
        })?;
    }
    let duration = started.elapsed();
    conn.transaction::<_, StepError, _>(async |conn| record(conn, m, direction, duration).await)
        .await?;
    Ok(duration)
}

async fn record(
    conn: &mut AsyncPgConnection,
    m: &Migration,
    direction: Direction,
    duration: Duration,
) -> Result<(), StepError> {
    match direction {
        Direction::Up => {
            let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
            db::record_applied(conn, &m.version, &m.name, &m.checksum, ms).await?;
        }
        Direction::Down => db::record_reverted(conn, &m.version).await?,
    }
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
            .map(|m| MigrationStatus {
                version: m.version.clone(),
                name: m.name.clone(),
                run_in_transaction: m.run_in_transaction,
                applied_at: by_version.get(m.version.as_str()).map(|a| a.run_on),
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
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into());
    // PostgreSQL truncates application_name to 63 bytes.
    let mut name = format!("migrate {} {user}@{host}", env!("CARGO_PKG_VERSION"));
    while name.len() > 63 {
        name.pop();
    }
    name
}
