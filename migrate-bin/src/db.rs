//! The engine's bookkeeping tables (connections come from [`crate::policy::connect`]).
//!
//! diesel_cli's `__diesel_schema_migrations` stays exactly as diesel creates it, so
//! `diesel migration list` keeps working; everything of our own lives in the `groundwork`
//! schema so `diesel print-schema` of `public` stays clean.

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use crate::error::MigrateError;
// The engine's modules open their connections by these names.
pub(crate) use crate::policy::connect;

/// diesel_cli's own DDL, byte for byte, so both tools create the same table.
pub(crate) const DIESEL_TABLE_DDL: &str = "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (
       version VARCHAR(50) PRIMARY KEY NOT NULL,
       run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);";

/// The engine's own tables. `IF NOT EXISTS` because every writing run ensures them.
pub(crate) const GROUNDWORK_DDL: &str = "
CREATE SCHEMA IF NOT EXISTS groundwork;
CREATE TABLE IF NOT EXISTS groundwork.migration_checksums (
    version VARCHAR(50) PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- NULL for migrations applied by diesel_cli and adopted later.
    duration_ms BIGINT
);
CREATE TABLE IF NOT EXISTS groundwork.environment (
    -- A single row: the primary key can only be true.
    singleton BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    env TEXT NOT NULL CHECK (env IN ('dev', 'test', 'staging', 'prod')),
    stamped_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    stamped_by TEXT NOT NULL DEFAULT current_user
);
CREATE TABLE IF NOT EXISTS groundwork.audit_runs (
    id BIGSERIAL PRIMARY KEY,
    command TEXT NOT NULL,
    env TEXT NOT NULL,
    db_user TEXT NOT NULL DEFAULT current_user,
    os_user TEXT,
    host TEXT,
    binary_version TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    finished_at TIMESTAMPTZ,
    -- running | succeeded | failed | interrupted (the process died; found by the next run)
    outcome TEXT NOT NULL DEFAULT 'running',
    error TEXT,
    backup_path TEXT,
    backup_size_bytes BIGINT,
    backup_sha256 TEXT
);
CREATE TABLE IF NOT EXISTS groundwork.audit_migrations (
    id BIGSERIAL PRIMARY KEY,
    run_id BIGINT NOT NULL REFERENCES groundwork.audit_runs (id),
    version VARCHAR(50) NOT NULL,
    name TEXT NOT NULL,
    -- apply | revert | accept_checksum
    action TEXT NOT NULL,
    run_in_transaction BOOLEAN NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    duration_ms BIGINT,
    -- succeeded | failed
    outcome TEXT NOT NULL,
    error TEXT,
    -- For a failed non-transactional migration: how many statements had taken effect.
    statements_done INTEGER,
    detail TEXT
);";

/// One row of `__diesel_schema_migrations`, with our checksum record if there is one.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct AppliedRecord {
    /// The migration's version.
    #[diesel(sql_type = Text)]
    pub version: String,
    /// When it was applied (diesel's `run_on`, server time without zone).
    #[diesel(sql_type = Timestamp)]
    pub run_on: NaiveDateTime,
    /// Name recorded by `migrate` (none for migrations applied by diesel_cli).
    #[diesel(sql_type = Nullable<Text>)]
    pub name: Option<String>,
    /// Checksum recorded by `migrate` (none for migrations applied by diesel_cli).
    #[diesel(sql_type = Nullable<Text>)]
    pub checksum: Option<String>,
}

#[derive(QueryableByName)]
struct Present {
    #[diesel(sql_type = Bool)]
    present: bool,
}

pub(crate) async fn relation_exists(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> Result<bool, diesel::result::Error> {
    let row: Present = diesel::sql_query("SELECT to_regclass($1) IS NOT NULL AS present")
        .bind::<Text, _>(name)
        .get_result(conn)
        .await?;
    Ok(row.present)
}

/// Every applied migration, ordered by version. Read-only: a database that was never
/// migrated simply has none.
pub(crate) async fn load_applied(
    conn: &mut AsyncPgConnection,
) -> Result<Vec<AppliedRecord>, MigrateError> {
    let ctx = "reading the applied migrations";
    if !relation_exists(conn, "__diesel_schema_migrations")
        .await
        .map_err(|e| MigrateError::db(ctx, &e))?
    {
        return Ok(Vec::new());
    }
    let with_checksums = relation_exists(conn, "groundwork.migration_checksums")
        .await
        .map_err(|e| MigrateError::db(ctx, &e))?;
    let sql = if with_checksums {
        "SELECT m.version::text AS version, m.run_on, c.name, c.checksum \
         FROM __diesel_schema_migrations m \
         LEFT JOIN groundwork.migration_checksums c ON c.version = m.version \
         ORDER BY m.version"
    } else {
        "SELECT version::text AS version, run_on, NULL::text AS name, NULL::text AS checksum \
         FROM __diesel_schema_migrations ORDER BY version"
    };
    diesel::sql_query(sql)
        .load(conn)
        .await
        .map_err(|e| MigrateError::db(ctx, &e))
}

/// Creates the bookkeeping tables if missing.
/// Creates the `groundwork` schema and its tables if missing.
pub(crate) async fn ensure_groundwork_tables(
    conn: &mut AsyncPgConnection,
) -> Result<(), diesel::result::Error> {
    conn.batch_execute(GROUNDWORK_DDL).await
}

/// Creates all bookkeeping tables (diesel's and ours) if missing.
pub(crate) async fn ensure_bookkeeping(
    conn: &mut AsyncPgConnection,
) -> Result<(), diesel::result::Error> {
    conn.batch_execute(DIESEL_TABLE_DDL).await?;
    conn.batch_execute(GROUNDWORK_DDL).await
}

/// Records an applied migration in diesel's table and in ours.
pub(crate) async fn record_applied(
    conn: &mut AsyncPgConnection,
    version: &str,
    name: &str,
    checksum: &str,
    duration_ms: i64,
) -> Result<(), diesel::result::Error> {
    // One statement instead of two: a round trip saved per migration, and `up` on a fresh
    // database is measured against diesel_cli (docs/performance.md).
    diesel::sql_query(
        "WITH diesel AS (INSERT INTO __diesel_schema_migrations (version) VALUES ($1)) \
         INSERT INTO groundwork.migration_checksums (version, name, checksum, applied_at, duration_ms) \
         VALUES ($1, $2, $3, now(), $4) \
         ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, checksum = EXCLUDED.checksum, \
         applied_at = EXCLUDED.applied_at, duration_ms = EXCLUDED.duration_ms",
    )
    .bind::<Text, _>(version)
    .bind::<Text, _>(name)
    .bind::<Text, _>(checksum)
    .bind::<BigInt, _>(duration_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records (or replaces) the checksum row of an applied migration.
pub(crate) async fn record_checksum(
    conn: &mut AsyncPgConnection,
    version: &str,
    name: &str,
    checksum: &str,
    duration_ms: Option<i64>,
) -> Result<(), diesel::result::Error> {
    diesel::sql_query(
        "INSERT INTO groundwork.migration_checksums (version, name, checksum, applied_at, duration_ms) \
         VALUES ($1, $2, $3, now(), $4) \
         ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, checksum = EXCLUDED.checksum, \
         applied_at = EXCLUDED.applied_at, duration_ms = EXCLUDED.duration_ms",
    )
    .bind::<Text, _>(version)
    .bind::<Text, _>(name)
    .bind::<Text, _>(checksum)
    .bind::<Nullable<BigInt>, _>(duration_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// Adopts a migration applied by diesel_cli: records its checksum, keeping diesel's `run_on`.
pub(crate) async fn adopt(
    conn: &mut AsyncPgConnection,
    version: &str,
    name: &str,
    checksum: &str,
) -> Result<(), diesel::result::Error> {
    diesel::sql_query(
        "INSERT INTO groundwork.migration_checksums (version, name, checksum, applied_at, duration_ms) \
         SELECT version, $2, $3, run_on AT TIME ZONE current_setting('TimeZone'), NULL \
         FROM __diesel_schema_migrations WHERE version = $1 \
         ON CONFLICT (version) DO NOTHING",
    )
    .bind::<Text, _>(version)
    .bind::<Text, _>(name)
    .bind::<Text, _>(checksum)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes the bookkeeping of a reverted migration.
pub(crate) async fn record_reverted(
    conn: &mut AsyncPgConnection,
    version: &str,
) -> Result<(), diesel::result::Error> {
    diesel::sql_query("DELETE FROM __diesel_schema_migrations WHERE version = $1")
        .bind::<Text, _>(version)
        .execute(conn)
        .await?;
    diesel::sql_query("DELETE FROM groundwork.migration_checksums WHERE version = $1")
        .bind::<Text, _>(version)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records the environment stamp unless the database already has one.
pub(crate) async fn stamp_environment(
    conn: &mut AsyncPgConnection,
    env: &str,
) -> Result<(), diesel::result::Error> {
    diesel::sql_query(
        "INSERT INTO groundwork.environment (env) VALUES ($1) ON CONFLICT (singleton) DO NOTHING",
    )
    .bind::<Text, _>(env)
    .execute(conn)
    .await?;
    Ok(())
}
