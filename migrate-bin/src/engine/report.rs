//! What the engine reports: the status of every migration, what verification found, and
//! the leftovers of an interrupted non-transactional migration, with their text.

use crate::env::Environment;
use crate::error::MigrateError;
use crate::store::PartialFailure;

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
