//! Every way a `migrate` run can fail. Messages say what happened and what to do;
//! `policy::exit` maps each variant to the documented exit code.

use std::fmt;
use std::path::PathBuf;

use crate::env::{EnvSource, Environment, UnknownEnvironment};
use crate::sql::describe_db_error;

/// Whether a migration was being applied or reverted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Running `up.sql`.
    Up,
    /// Running `down.sql`.
    Down,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Up => "applying",
            Self::Down => "reverting",
        })
    }
}

/// An error of the migration engine or the `migrate` command line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// No database URL was given anywhere.
    #[error(
        "no database URL: pass --database-url, or set DATABASE_URL in the environment or in .env \
         (e.g. postgres://postgres@127.0.0.1:5432/groundwork)"
    )]
    MissingDatabaseUrl,

    /// The URL cannot be parsed.
    #[error(
        "the database URL `{url}` is malformed: {reason}. Use the form \
         postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE; nothing was changed"
    )]
    MalformedUrl {
        /// The URL, password redacted.
        url: String,
        /// What the parser said.
        reason: String,
    },

    /// No PostgreSQL server answered, or it refused the connection.
    #[error(
        "cannot connect to PostgreSQL at {url}: {reason}. Check that the server is running and \
         that DATABASE_URL (host, port, user, password) is right; nothing was changed"
    )]
    Unreachable {
        /// The URL, password redacted.
        url: String,
        /// The driver's or server's message.
        reason: String,
    },

    /// The server answered but the database does not exist.
    #[error(
        "database `{database}` does not exist on the server at {url}. Create it with \
         `migrate setup` (dev/test), or fix the database name in DATABASE_URL; nothing was changed"
    )]
    DatabaseMissing {
        /// The database name.
        database: String,
        /// The URL, password redacted.
        url: String,
    },

    /// A version argument (`--to`, `accept-checksum VERSION`) names a version that neither
    /// the source nor the database knows.
    #[error(
        "unknown version `{requested}` for {argument}: it is not one of {source_desc}. Known versions: {}; \
         nothing was changed",
        if known.is_empty() { "(none)".to_string() } else { known.join(", ") }
    )]
    UnknownVersion {
        /// What was asked for.
        requested: String,
        /// The flag or argument that named it, as the user typed it (e.g. `--to`).
        argument: String,
        /// Where migrations were read from.
        source_desc: String,
        /// Every version known.
        known: Vec<String>,
    },

    /// The migrations folder or one of its entries is unusable.
    #[error("{}: {reason}; nothing was changed", path.display())]
    BadMigrations {
        /// The folder or file at fault.
        path: PathBuf,
        /// What is wrong with it and how to fix it.
        reason: String,
    },

    /// A flag value that makes no sense (e.g. `--steps 0`).
    #[error("{0}")]
    InvalidArgument(String),

    /// A safety guard refused the run before anything changed.
    #[error("refused: {0}")]
    Refused(String),

    /// A migration cannot be reverted because it has no `down.sql`.
    #[error(
        "migration {version} {name} has no down.sql, so it cannot be reverted; add a down.sql or \
         revert fewer migrations; nothing was changed"
    )]
    Irreversible {
        /// Version of the migration.
        version: String,
        /// Name of the migration.
        name: String,
    },

    /// Migrations recorded as applied that the source does not have, and which an operation
    /// needs (e.g. reverting them).
    #[error(
        "the database has migrations applied that {source_desc} does not contain: {}. \
         The database is ahead of this binary: use the binary (or --migrations-dir) that applied \
         them; nothing was changed",
        versions.join(", ")
    )]
    DatabaseAhead {
        /// Where migrations were read from.
        source_desc: String,
        /// The unknown versions.
        versions: Vec<String>,
    },

    /// A migration's SQL failed.
    #[error("{}", describe_migration_failure(*direction, version, name, error, *transactional, done, blocked_by.as_deref()))]
    MigrationFailed {
        /// Applying or reverting.
        direction: Direction,
        /// Version of the failed migration.
        version: String,
        /// Name of the failed migration.
        name: String,
        /// PostgreSQL's error, with position, detail and hint when known.
        error: String,
        /// Whether the failed migration ran in a transaction (and was rolled back).
        transactional: bool,
        /// Migrations completed in this run before the failure, as `version name`.
        done: Vec<String>,
        /// When every `lock_timeout` retry failed: the sessions that held the lock it waited
        /// for (from `pg_blocking_pids`), or a note that none could be seen.
        blocked_by: Option<String>,
    },

    /// The database is stamped with another environment than the run names.
    #[error(
        "refused: this database is stamped as environment `{stamped}`, but the run says `{requested}` \
         (--env or APP_ENV). Check that DATABASE_URL points at the database you mean; if it does, \
         rerun with --env {stamped}. Nothing was changed"
    )]
    EnvironmentMismatch {
        /// The environment recorded in the database.
        stamped: Environment,
        /// The environment the run named.
        requested: Environment,
    },

    /// The database has no stamp but already holds tables or applied migrations, and the run
    /// may not decide what it is.
    #[error("{}", describe_unknown(*destructive, *requested, *env_source))]
    UnknownEnvironment {
        /// The run reverts or replaces data.
        destructive: bool,
        /// The environment the run named, if any.
        requested: Option<Environment>,
        /// Where the run's environment came from.
        env_source: EnvSource,
    },

    /// The stamp is missing but the audit log shows runs; the strictest of them wins.
    #[error(
        "refused: this database has no environment stamp, but its audit log (groundwork.audit_runs) shows \
         runs in {}; the strictest, `{strictest}`, is what this database is taken to be{}. {}. \
         Nothing was changed",
        seen.join(", "),
        requested.map(|r| format!(", and this run names `{r}`")).unwrap_or_default(),
        if *destructive {
            format!("Commands that revert or replace data refuse a database without a stamp; restore the stamp first with `migrate --env {strictest} up` (the --env flag itself, not APP_ENV)")
        } else {
            format!("If it really is {strictest}, restamp it by rerunning with `--env {strictest}` on the command line (APP_ENV and the default do not count); otherwise check that DATABASE_URL points at the database you mean")
        }
    )]
    StampMissing {
        /// The strictest environment in the audit log.
        strictest: Environment,
        /// Every environment the audit log names.
        seen: Vec<String>,
        /// The environment the run named, if any.
        requested: Option<Environment>,
        /// The run reverts or replaces data.
        destructive: bool,
    },

    /// Indexes left by an interrupted non-transactional migration block a rerun outside
    /// dev/test until the operator asks for the repair.
    #[error(
        "refused: migration {version} {name} ran outside a transaction and was interrupted, leaving \
         index(es) {} that its CREATE INDEX statements build; rerunning it as it is would fail or \
         keep a broken index. In {env} they are dropped only on request: run \
         `migrate --env {env} up --repair` (with the same backup flags) to drop them (DROP INDEX \
         CONCURRENTLY) and apply the migration again, audited. Nothing was changed",
        indexes.join(", ")
    )]
    RepairNeeded {
        /// Version of the interrupted migration.
        version: String,
        /// Its name.
        name: String,
        /// The indexes, as `schema.name (INVALID)` or `schema.name (valid, …)`.
        indexes: Vec<String>,
        /// The environment of the run.
        env: Environment,
    },

    /// Another session held the migration lock for longer than `--lock-wait`.
    #[error(
        "another migration run holds the migration lock on this database (held by {}); gave up after \
         waiting {waited_secs:.1} s (--lock-wait). Wait for it to finish and rerun, or raise --lock-wait; \
         nothing was changed",
        holder.as_deref().unwrap_or("a session that has just ended")
    )]
    LockTimeout {
        /// How long we waited.
        waited_secs: f64,
        /// Who holds it, as far as `pg_stat_activity` tells.
        holder: Option<String>,
    },

    /// Applied migrations differ from the source, or the database has migrations the source
    /// does not know.
    #[error("{}", describe_drift(changed, ahead, source_desc))]
    Drift {
        /// `version name: recorded <sha> now <sha>` for each changed migration.
        changed: Vec<String>,
        /// Versions applied in the database but unknown to the source.
        ahead: Vec<String>,
        /// Where migrations were read from.
        source_desc: String,
    },

    /// The pre-migration backup could not be taken or verified.
    #[error(
        "backup failed: {reason}. Nothing was applied; fix the cause and rerun (see docs/production-runbook.md)"
    )]
    BackupFailed {
        /// What went wrong.
        reason: String,
    },

    /// The backup folder exists but is not private to the running user.
    #[error(
        "backup failed: the backup folder {} is not safe for dumps: {reason}. Nothing was applied",
        path.display()
    )]
    BackupDirUnsafe {
        /// The folder as given (`--backup-dir`).
        path: PathBuf,
        /// Why it is refused and what to do.
        reason: String,
    },

    /// `pg_dump` is older than the server, so it could not take a complete backup.
    #[error(
        "backup failed: pg_dump on PATH is version {found}, older than the server (PostgreSQL {server}); \
         an older pg_dump cannot dump a newer server completely. Install the PostgreSQL {server} \
         client tools or newer (e.g. the package postgresql-client-{server}) and put them first on \
         PATH. Nothing was applied"
    )]
    PgDumpTooOld {
        /// Major version of `pg_dump`.
        found: String,
        /// Major version of the server.
        server: String,
    },

    /// A prod revert that would take more than one migration.
    #[error(
        "refused: `{form}` could revert more than one migration, and in prod migrations are reverted \
         one per run (each with its own plan, backup and confirmation). Run `migrate --env prod \
         --require-backup down` (one migration) and repeat it for each further migration; \
         nothing was changed"
    )]
    ProdRevertTooFar {
        /// The command as given, e.g. `down --steps 3`.
        form: String,
    },

    /// The role may not create the scratch database a schema check needs.
    #[error(
        "refused: the role `{role}` may not create databases on the server at {server} (it lacks \
         CREATEDB), and {purpose} needs a scratch database to apply the migrations into. Give \
         an empty database it may use with --scratch-url URL (or MIGRATE_SCRATCH_URL), or grant \
         CREATEDB to the role; nothing was changed"
    )]
    ScratchNotPermitted {
        /// The role that tried.
        role: String,
        /// The server, as `host:port`.
        server: String,
        /// What needed the scratch database, e.g. `verify --schema`.
        purpose: String,
    },

    /// The database given with `--scratch-url` is unusable as a scratch database.
    #[error(
        "the scratch database {url} (--scratch-url) {reason}; a scratch database must be an \
         empty database of its own that the tool may fill and empty again. Create one (e.g. \
         `CREATE DATABASE groundwork_scratch OWNER <role>`) and pass its URL; nothing was changed"
    )]
    ScratchUnusable {
        /// The scratch URL, password redacted.
        url: String,
        /// What is wrong with it (e.g. `is not empty: it holds table public.assets, …`).
        reason: String,
    },

    /// The live schema differs from what the applied migrations make.
    #[error(
        "schema drift: the live schema of {database} differs from what its applied migrations \
         make ({count} difference(s): {summary}). {advice}"
    )]
    SchemaDrift {
        /// The database, redacted.
        database: String,
        /// How many differences.
        count: usize,
        /// The first few, e.g. `extra column public.assets.note`.
        summary: String,
        /// What to do (differs between `verify --schema` and the prod gate).
        advice: String,
    },

    /// A query of the engine's own bookkeeping failed.
    #[error(
        "database error while {context}: {error}. Check the server log; rerun with RUST_LOG=debug for details"
    )]
    Database {
        /// What the engine was doing.
        context: String,
        /// The server's or driver's message.
        error: String,
    },

    /// The config file (`--config`, `./migrate.toml`) is unreadable or has a bad entry.
    #[error(
        "{}{}: {reason}; nothing was changed",
        path.display(),
        key.as_deref().map(|k| format!(", key `{k}`")).unwrap_or_default()
    )]
    BadConfig {
        /// The file.
        path: PathBuf,
        /// The key at fault, dotted (e.g. `lint.rules.ban-drop-table`), when one is.
        key: Option<String>,
        /// What is wrong and what is allowed.
        reason: String,
    },

    /// `migrate lint`, or the lint gate of a staging/prod `up`, found errors (or warnings
    /// under `--deny warnings`).
    #[error("{0}")]
    LintFailed(String),
}

fn describe_unknown(
    destructive: bool,
    requested: Option<Environment>,
    source: EnvSource,
) -> String {
    let mut msg = String::from(
        "refused: this database has no environment stamp but already holds tables or applied \
         migrations, so its environment is unknown (it is not assumed to be dev). ",
    );
    if destructive {
        msg.push_str(
            "Commands that revert or replace data refuse an unknown database. Stamp it first by \
             naming its environment on the command line: `migrate --env ENV up` (ENV one of dev, \
             test, staging, prod), then rerun.",
        );
    } else {
        match (requested, source) {
            (Some(env), EnvSource::Variable) => msg.push_str(&format!(
                "APP_ENV={env} does not count for an unknown database: pass `--env {env}` on the \
                 command line if that is what it is."
            )),
            _ => msg.push_str(
                "Name its environment on the command line (`--env dev|test|staging|prod`; APP_ENV \
                 and the default do not count) and rerun; that run stamps it.",
            ),
        }
    }
    msg.push_str(" Nothing was changed");
    msg
}

fn describe_drift(changed: &[String], ahead: &[String], source_desc: &str) -> String {
    let mut parts = Vec::new();
    if !changed.is_empty() {
        parts.push(format!(
            "applied migrations whose up.sql changed since they were applied: {}. Restore the \
             original files (a released migration must never be edited; add a new migration instead), \
             or, if the change is known to be harmless (e.g. a comment), accept it with \
             `migrate accept-checksum VERSION`",
            changed.join("; ")
        ));
    }
    if !ahead.is_empty() {
        parts.push(format!(
            "the database has migrations applied that {source_desc} does not contain: {} (the database \
             is ahead of this binary; deploy the binary that applied them)",
            ahead.join(", ")
        ));
    }
    format!(
        "drift: {}. Nothing was changed; `migrate verify` shows the details",
        parts.join(". Also, ")
    )
}

fn describe_migration_failure(
    direction: Direction,
    version: &str,
    name: &str,
    error: &str,
    transactional: bool,
    done: &[String],
    blocked_by: Option<&str>,
) -> String {
    let mut msg = format!("{direction} migration {version} {name} failed: {error}.");
    if transactional {
        msg.push_str(" Its changes were rolled back.");
    } else {
        msg.push_str(
            " It ran outside a transaction, so the statements before the failing one stay in \
             effect: check that rerunning them is safe. An INVALID index its CREATE INDEX \
             CONCURRENTLY left is dropped and rebuilt by the next `migrate up` in dev/test, and by \
             `migrate up --repair` in staging/prod.",
        );
    }
    let verb = match direction {
        Direction::Up => "Applied",
        Direction::Down => "Reverted",
    };
    if done.is_empty() {
        msg.push_str(&format!(" {verb} before the failure in this run: none."));
    } else {
        msg.push_str(&format!(
            " {verb} before the failure in this run (kept): {}.",
            crate::summary::list(done, direction == Direction::Down)
        ));
    }
    let rerun = match direction {
        Direction::Up => "migrate up",
        Direction::Down => "the same command",
    };
    match (blocked_by, direction) {
        (Some(blockers), _) => msg.push_str(&format!(
            " The SQL is not at fault: it waited for a lock held by {blockers}. Let that \
             transaction finish or ask its owner to end it (if it is stuck, \
             `SELECT pg_terminate_backend(PID)`), or run at a quieter time or with a longer \
             --lock-timeout / more --lock-retries; then run `{rerun}` again."
        )),
        (None, Direction::Up) => {
            msg.push_str(" Fix the migration's SQL and run `migrate up` again.")
        }
        (None, Direction::Down) => msg.push_str(&format!(
            " {version} and every older migration are still applied; fix its down.sql and rerun."
        )),
    }
    msg
}

impl From<UnknownEnvironment> for MigrateError {
    fn from(e: UnknownEnvironment) -> Self {
        Self::InvalidArgument(e.to_string())
    }
}

impl MigrateError {
    /// Wraps a failed bookkeeping query.
    pub(crate) fn db(context: impl Into<String>, error: &diesel::result::Error) -> Self {
        Self::Database {
            context: context.into(),
            error: describe_db_error(error, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_message_lists_done_migrations() {
        let err = MigrateError::MigrationFailed {
            direction: Direction::Down,
            version: "3".into(),
            name: "c".into(),
            error: "boom".into(),
            transactional: true,
            done: vec!["5 e".into(), "4 d".into()],
            blocked_by: None,
        };
        let msg = err.to_string();
        assert!(
            msg.contains("reverting migration 3 c failed: boom"),
            "{msg}"
        );
        assert!(
            msg.contains("Reverted before the failure in this run (kept): 5 e, 4 d"),
            "{msg}"
        );
    }

    #[test]
    fn lock_timeout_failure_names_the_blocker_instead_of_blaming_the_sql() {
        let err = MigrateError::MigrationFailed {
            direction: Direction::Up,
            version: "7".into(),
            name: "g".into(),
            error: "canceling statement due to lock timeout".into(),
            transactional: true,
            done: vec![],
            blocked_by: Some("pid 42 (psql, user bob, idle in transaction)".into()),
        };
        let msg = err.to_string();
        assert!(msg.contains("pid 42 (psql, user bob"), "{msg}");
        assert!(msg.contains("pg_terminate_backend"), "{msg}");
        assert!(!msg.contains("Fix the migration's SQL"), "{msg}");
    }
}
