//! The audit log: every run that changes the database and every migration it applied,
//! reverted or accepted. Rows are written outside the migrations' transactions, so a failed
//! migration still leaves its record.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::backup::BackupInfo;
use crate::error::MigrateError;

/// Who runs this process, for the audit log.
pub(crate) fn os_user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .or_else(user_from_uid)
        .unwrap_or_else(|| "unknown".into())
}

/// Cron jobs and containers often run without `USER`: look the real uid up in /etc/passwd.
fn user_from_uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?;
        (id == uid).then(|| name.to_string())
    })
}

/// The host this process runs on, for the audit log.
pub(crate) fn host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Starts an audit run and returns its id. Runs left `running` by a process that died are
/// marked `interrupted` first: the caller holds the migration lock, so none is really running.
pub(crate) async fn begin_run(
    conn: &mut AsyncPgConnection,
    command: &str,
    env: &str,
    backup: Option<&BackupInfo>,
) -> Result<i64, diesel::result::Error> {
    diesel::sql_query(
        "UPDATE groundwork.audit_runs SET outcome = 'interrupted', \
         error = 'the process ended before finishing (killed or crashed); found by the next run' \
         WHERE outcome = 'running'",
    )
    .execute(conn)
    .await?;
    let row: Id = diesel::sql_query(
        "INSERT INTO groundwork.audit_runs (command, env, os_user, host, binary_version, backup_path, backup_size_bytes, backup_sha256) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind::<Text, _>(command)
    .bind::<Text, _>(env)
    .bind::<Text, _>(os_user())
    .bind::<Text, _>(host())
    .bind::<Text, _>(env!("CARGO_PKG_VERSION"))
    .bind::<Nullable<Text>, _>(backup.map(|b| b.path.display().to_string()))
    .bind::<Nullable<BigInt>, _>(backup.map(|b| i64::try_from(b.size_bytes).unwrap_or(i64::MAX)))
    .bind::<Nullable<Text>, _>(backup.map(|b| b.sha256.clone()))
    .get_result(conn)
    .await?;
    Ok(row.id)
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

/// Appends one migration record.
pub(crate) async fn record_migration(
    conn: &mut AsyncPgConnection,
    r: &MigrationRecord<'_>,
) -> Result<(), diesel::result::Error> {
    diesel::sql_query(
        "INSERT INTO groundwork.audit_migrations \
         (run_id, version, name, action, run_in_transaction, duration_ms, outcome, error, statements_done, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind::<BigInt, _>(r.run_id)
    .bind::<Text, _>(r.version)
    .bind::<Text, _>(r.name)
    .bind::<Text, _>(r.action)
    .bind::<Bool, _>(r.run_in_transaction)
    .bind::<Nullable<BigInt>, _>(r.duration_ms)
    .bind::<Text, _>(if r.error.is_some() { "failed" } else { "succeeded" })
    .bind::<Nullable<Text>, _>(r.error)
    .bind::<Nullable<Integer>, _>(r.statements_done)
    .bind::<Nullable<Text>, _>(r.detail)
    .execute(conn)
    .await?;
    Ok(())
}

/// Closes an audit run.
pub(crate) async fn finish_run(
    conn: &mut AsyncPgConnection,
    run_id: i64,
    error: Option<&str>,
) -> Result<(), diesel::result::Error> {
    diesel::sql_query(
        "UPDATE groundwork.audit_runs SET finished_at = clock_timestamp(), outcome = $2, error = $3 WHERE id = $1",
    )
    .bind::<BigInt, _>(run_id)
    .bind::<Text, _>(if error.is_some() { "failed" } else { "succeeded" })
    .bind::<Nullable<Text>, _>(error)
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
    if !crate::db::relation_exists(conn, "groundwork.audit_runs")
        .await
        .map_err(|e| MigrateError::db(ctx, &e))?
    {
        return Ok(Vec::new());
    }
    diesel::sql_query(
        "SELECT r.id, r.command, r.env, r.db_user, r.os_user, r.host, r.binary_version, r.started_at, r.finished_at, \
                r.outcome, r.error, r.backup_path, r.backup_size_bytes, r.backup_sha256, \
                (SELECT string_agg(m.action || ' ' || m.version || ' ' || m.name || ' (' || m.outcome || \
                        coalesce(', ' || m.duration_ms || ' ms', '') || ')', '; ' ORDER BY m.id) \
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
    if !crate::db::relation_exists(conn, "groundwork.audit_migrations")
        .await
        .map_err(|e| MigrateError::db(ctx, &e))?
    {
        return Ok(Vec::new());
    }
    // A first run that failed or was killed before its first migration committed leaves
    // our schema without diesel's table (created in that migration's transaction): then
    // nothing is applied, and referring to the table would fail every later run.
    let diesel_table = crate::db::relation_exists(conn, "__diesel_schema_migrations")
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
