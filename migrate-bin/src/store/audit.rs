//! The audit log: every run that changes the database and every migration it applied,
//! reverted or accepted. Rows are written outside the migrations' transactions, so a failed
//! migration still leaves its record.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::error::MigrateError;
use crate::identity::{host, os_user};

/// A verified pre-migration backup file, as a run's audit row records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupInfo {
    /// Where it was written: absolute, with every symbolic link of the folder resolved.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// SHA-256 of the file (hex).
    pub sha256: String,
    /// Entries `pg_restore --list` found in it.
    pub entries: usize,
}

/// Starts an audit run and returns its id. Runs left `running` by a process that died are
/// marked `interrupted` first: the caller holds the migration lock, so none is really running.
pub(crate) async fn begin_run(
    conn: &mut AsyncPgConnection,
    command: &str,
    env: &str,
    backup: Option<&BackupInfo>,
) -> Result<i64, diesel::result::Error> {
    use super::schema::audit_runs::dsl as r;
    diesel::update(r::audit_runs.filter(r::outcome.eq("running")))
        .set((
            r::outcome.eq("interrupted"),
            r::error.eq(
                "the process ended before finishing (killed or crashed); found by the next run",
            ),
        ))
        .execute(conn)
        .await?;
    diesel::insert_into(r::audit_runs)
        .values((
            r::command.eq(command),
            r::env.eq(env),
            r::os_user.eq(os_user()),
            r::host.eq(host()),
            r::binary_version.eq(env!("CARGO_PKG_VERSION")),
            r::backup_path.eq(backup.map(|b| b.path.display().to_string())),
            r::backup_size_bytes
                .eq(backup.map(|b| i64::try_from(b.size_bytes).unwrap_or(i64::MAX))),
            r::backup_sha256.eq(backup.map(|b| b.sha256.clone())),
        ))
        .returning(r::id)
        .get_result(conn)
        .await
}

/// One migration's audit record.
pub(crate) struct MigrationRecord<'a> {
    pub run_id: i64,
    pub version: &'a str,
    pub name: &'a str,
    pub action: &'a str,
    pub run_in_transaction: bool,
    pub duration_ms: Option<i64>,
    pub error: Option<&'a str>,
    pub statements_done: Option<i32>,
    pub detail: Option<&'a str>,
}

impl MigrationRecord<'_> {
    pub(super) fn outcome(&self) -> &'static str {
        if self.error.is_some() {
            "failed"
        } else {
            "succeeded"
        }
    }
}

/// Appends one migration record.
pub(crate) async fn record_migration(
    conn: &mut AsyncPgConnection,
    rec: &MigrationRecord<'_>,
) -> Result<(), diesel::result::Error> {
    use super::schema::audit_migrations::dsl as m;
    diesel::insert_into(m::audit_migrations)
        .values((
            m::run_id.eq(rec.run_id),
            m::version.eq(rec.version),
            m::name.eq(rec.name),
            m::action.eq(rec.action),
            m::run_in_transaction.eq(rec.run_in_transaction),
            m::duration_ms.eq(rec.duration_ms),
            m::outcome.eq(rec.outcome()),
            m::error.eq(rec.error),
            m::statements_done.eq(rec.statements_done),
            m::detail.eq(rec.detail),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// A note about a migration a run is about to apply (e.g. a lint allow it relies on),
/// written as an audit record of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The migration's version.
    pub version: String,
    /// Its name.
    pub name: String,
    /// Whether it runs in a transaction.
    pub run_in_transaction: bool,
    /// What the note says.
    pub detail: String,
}

/// Closes an audit run.
pub(crate) async fn finish_run(
    conn: &mut AsyncPgConnection,
    run_id: i64,
    error: Option<&str>,
) -> Result<(), diesel::result::Error> {
    use super::schema::audit_runs::dsl as r;
    diesel::update(r::audit_runs.find(run_id))
        .set((
            r::finished_at.eq(super::schema::clock_timestamp().nullable()),
            r::outcome.eq(if error.is_some() {
                "failed"
            } else {
                "succeeded"
            }),
            r::error.eq(error),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// One run of the audit log, with its migrations.
#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
pub struct RunRecord {
    /// Run id.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// `up`, `down`, `redo`, `setup`, `accept-checksum`, or a caller such as `seed`.
    #[diesel(sql_type = Text)]
    pub command: String,
    /// Environment named by the run.
    #[diesel(sql_type = Text)]
    pub env: String,
    /// Database user.
    #[diesel(sql_type = Text)]
    pub db_user: String,
    /// Operating-system user.
    #[diesel(sql_type = Nullable<Text>)]
    pub os_user: Option<String>,
    /// Host the binary ran on.
    #[diesel(sql_type = Nullable<Text>)]
    pub host: Option<String>,
    /// Version of the binary.
    #[diesel(sql_type = Text)]
    pub binary_version: String,
    /// Start.
    #[diesel(sql_type = Timestamptz)]
    pub started_at: DateTime<Utc>,
    /// End (none while running or if interrupted).
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub finished_at: Option<DateTime<Utc>>,
    /// running | succeeded | failed | interrupted.
    #[diesel(sql_type = Text)]
    pub outcome: String,
    /// The error, if it failed.
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
    /// Backup taken before the run.
    #[diesel(sql_type = Nullable<Text>)]
    pub backup_path: Option<String>,
    /// Its size.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub backup_size_bytes: Option<i64>,
    /// Its SHA-256.
    #[diesel(sql_type = Nullable<Text>)]
    pub backup_sha256: Option<String>,
    /// `action version name (outcome, N ms)` for each migration of the run.
    #[diesel(sql_type = Nullable<Text>)]
    pub migrations: Option<String>,
}

/// The newest `limit` runs, newest first. Empty when the audit table does not exist yet.
pub async fn history(
    conn: &mut AsyncPgConnection,
    limit: i64,
) -> Result<Vec<RunRecord>, MigrateError> {
    let ctx = "reading the audit log";
    if !super::bookkeeping::relation_exists(conn, "groundwork.audit_runs")
        .await
        .map_err(|e| MigrateError::db(ctx, &e))?
    {
        return Ok(Vec::new());
    }
    diesel::sql_query(
        "SELECT r.id, r.command, r.env, r.db_user, r.os_user, r.host, r.binary_version, r.started_at, r.finished_at, \
                r.outcome, r.error, r.backup_path, r.backup_size_bytes, r.backup_sha256, \
                (SELECT string_agg(m.action || ' ' || m.version || ' ' || m.name || ' (' || \
                        CASE WHEN m.action = 'allow' THEN m.detail ELSE m.outcome || \
                        coalesce(', ' || m.duration_ms || ' ms', '') END || ')', '; ' ORDER BY m.id) \
                   FROM groundwork.audit_migrations m WHERE m.run_id = r.id) AS migrations \
         FROM groundwork.audit_runs r ORDER BY r.id DESC LIMIT $1",
    )
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
    .map_err(|e| MigrateError::db(ctx, &e))
}

/// A non-transactional migration whose last attempt failed part-way and which is still not
/// applied: its earlier statements are in effect.
#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
pub struct PartialFailure {
    /// Version.
    #[diesel(sql_type = Text)]
    pub version: String,
    /// Name.
    #[diesel(sql_type = Text)]
    pub name: String,
    /// When it failed.
    #[diesel(sql_type = Timestamptz)]
    pub failed_at: DateTime<Utc>,
    /// Statements that had taken effect.
    #[diesel(sql_type = Nullable<Integer>)]
    pub statements_done: Option<i32>,
    /// The error.
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
}

/// Failed non-transactional migrations that are still pending.
pub async fn partial_failures(
    conn: &mut AsyncPgConnection,
) -> Result<Vec<PartialFailure>, MigrateError> {
    let ctx = "reading failed non-transactional migrations";
    if !super::bookkeeping::relation_exists(conn, "groundwork.audit_migrations")
        .await
        .map_err(|e| MigrateError::db(ctx, &e))?
    {
        return Ok(Vec::new());
    }
    // A first run that failed or was killed before its first migration committed leaves
    // our schema without diesel's table (created in that migration's transaction): then
    // nothing is applied, and referring to the table would fail every later run.
    let diesel_table = super::bookkeeping::relation_exists(conn, "__diesel_schema_migrations")
        .await
        .map_err(|e| MigrateError::db(ctx, &e))?;
    let not_applied = if diesel_table {
        "AND NOT EXISTS (SELECT 1 FROM __diesel_schema_migrations d WHERE d.version = last.version)"
    } else {
        ""
    };
    diesel::sql_query(format!(
        "SELECT version::text AS version, name, finished_at AS failed_at, statements_done, error FROM ( \
            SELECT DISTINCT ON (version) version, name, finished_at, statements_done, error, outcome, run_in_transaction \
            FROM groundwork.audit_migrations WHERE action = 'apply' ORDER BY version, id DESC) last \
         WHERE outcome = 'failed' AND NOT run_in_transaction {not_applied} \
         ORDER BY version",
    ))
    .load(conn)
    .await
    .map_err(|e| MigrateError::db(ctx, &e))
}

#[derive(QueryableByName)]
struct IndexName {
    #[diesel(sql_type = Text)]
    name: String,
}

/// An index found by name.
#[derive(Debug, Clone, QueryableByName)]
pub struct NamedIndex {
    /// `schema.name`, quoted where needed.
    #[diesel(sql_type = Text)]
    pub qualified: String,
    /// The bare name (as in pg_class).
    #[diesel(sql_type = Text)]
    pub relname: String,
    /// False while a CREATE INDEX CONCURRENTLY is running or after it failed or was killed.
    #[diesel(sql_type = Bool)]
    pub valid: bool,
}

/// Indexes with one of these names in a schema on the search path (where an unqualified
/// CREATE INDEX of a migration puts them).
pub async fn indexes_named(
    conn: &mut AsyncPgConnection,
    names: &[String],
) -> Result<Vec<NamedIndex>, MigrateError> {
    diesel::sql_query(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS qualified, c.relname::text AS relname, \
                i.indisvalid AS valid \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relname = ANY ($1) AND n.nspname = ANY (current_schemas(false)) ORDER BY 1",
    )
    .bind::<diesel::sql_types::Array<Text>, _>(names)
    .load(conn)
    .await
    .map_err(|e| MigrateError::db("looking for indexes left by an interrupted migration", &e))
}

/// Indexes left INVALID (e.g. by a failed CREATE INDEX CONCURRENTLY), as `schema.name`.
pub async fn invalid_indexes(conn: &mut AsyncPgConnection) -> Result<Vec<String>, MigrateError> {
    let rows: Vec<IndexName> = diesel::sql_query(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT i.indisvalid ORDER BY 1",
    )
    .load(conn)
    .await
    .map_err(|e| MigrateError::db("looking for invalid indexes", &e))?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}
