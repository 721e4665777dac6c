//! Which migrations are applied, with their checksums, and the environment stamp.
//!
//! diesel_cli's `__diesel_schema_migrations` stays exactly as diesel creates it, so
//! `diesel migration list` keeps working; everything of our own lives in the `groundwork`
//! schema so `diesel print-schema` of `public` stays clean.

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use super::audit::MigrationRecord;
use super::schema::{__diesel_schema_migrations as diesel_table, environment, migration_checksums};
use crate::env::Environment;
use crate::error::MigrateError;

/// diesel_cli's own DDL, byte for byte, so both tools create the same table.
pub(crate) const DIESEL_TABLE_DDL: &str = "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (
       version VARCHAR(50) PRIMARY KEY NOT NULL,
       run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);";

/// The engine's own tables (see [`super::schema`]). `IF NOT EXISTS` because every writing
/// run ensures them.
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
    -- apply | revert | accept_checksum | repair | resolve | out_of_order
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedRecord {
    /// The migration's version.
    pub version: String,
    /// When it was applied (diesel's `run_on`, server time without zone).
    pub run_on: NaiveDateTime,
    /// Name recorded by `migrate` (none for migrations applied by diesel_cli).
    pub name: Option<String>,
    /// Checksum recorded by `migrate` (none for migrations applied by diesel_cli).
    pub checksum: Option<String>,
}

#[derive(diesel::QueryableByName)]
struct Present {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    present: bool,
}

#[derive(diesel::QueryableByName)]
struct Tables {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    diesel: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    checksums: bool,
}

/// Whether the table or view `name` (schema-qualified or on the search path) exists.
pub(crate) async fn relation_exists(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> Result<bool, diesel::result::Error> {
    let row: Present = diesel::sql_query("SELECT to_regclass($1) IS NOT NULL AS present")
        .bind::<diesel::sql_types::Text, _>(name)
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
    let fail = |e: diesel::result::Error| MigrateError::db(ctx, &e);
    // Both probes in one query: this runs several times at the start of every session.
    let tables: Tables = diesel::sql_query(
        "SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL AS diesel, \
                to_regclass('groundwork.migration_checksums') IS NOT NULL AS checksums",
    )
    .get_result(conn)
    .await
    .map_err(fail)?;
    if !tables.diesel {
        return Ok(Vec::new());
    }
    let with_checksums = tables.checksums;
    let rows: Vec<(String, NaiveDateTime, Option<String>, Option<String>)> = if with_checksums {
        diesel_table::table
            .left_join(
                migration_checksums::table
                    .on(migration_checksums::version.eq(diesel_table::version)),
            )
            .select((
                diesel_table::version,
                diesel_table::run_on,
                migration_checksums::name.nullable(),
                migration_checksums::checksum.nullable(),
            ))
            .order(diesel_table::version)
            .load(conn)
            .await
            .map_err(fail)?
    } else {
        diesel_table::table
            .select((diesel_table::version, diesel_table::run_on))
            .order(diesel_table::version)
            .load::<(String, NaiveDateTime)>(conn)
            .await
            .map_err(fail)?
            .into_iter()
            .map(|(version, run_on)| (version, run_on, None, None))
            .collect()
    };
    Ok(rows
        .into_iter()
        .map(|(version, run_on, name, checksum)| AppliedRecord {
            version,
            run_on,
            name,
            checksum,
        })
        .collect())
}

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

/// Records one applied (`checksum` given) or reverted (`checksum` none) migration and its
/// audit row `rec` in ONE statement: diesel's row, our checksum row and the audit row.
///
/// `up` over a large folder is measured against diesel_cli (docs/performance.md), which
/// spends one cached INSERT per migration; this keeps ours at one round trip too. diesel's
/// query builder has no data-modifying CTE, and `sql_query` is never kept in the statement
/// cache (each use would pay a Parse round trip), hence the small query type below.
pub(crate) async fn record_step(
    conn: &mut AsyncPgConnection,
    checksum: Option<&str>,
    rec: &MigrationRecord<'_>,
) -> Result<(), diesel::result::Error> {
    RecordStep { checksum, rec }.execute(conn).await?;
    Ok(())
}

struct RecordStep<'a> {
    checksum: Option<&'a str>,
    rec: &'a MigrationRecord<'a>,
}

impl QueryId for RecordStep<'_> {
    type QueryId = ();
    // Two SQL shapes (apply, revert) under one type: the statement cache keys them by
    // their SQL text instead of by type.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<Pg> for RecordStep<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};
        let rec = self.rec;
        match self.checksum {
            Some(checksum) => {
                out.push_sql(
                    "WITH diesel AS (INSERT INTO __diesel_schema_migrations (version) VALUES (",
                );
                out.push_bind_param::<Text, _>(rec.version)?;
                out.push_sql(
                    ")), checksum AS (INSERT INTO groundwork.migration_checksums \
                     (version, name, checksum, applied_at, duration_ms) VALUES (",
                );
                out.push_bind_param::<Text, _>(rec.version)?;
                out.push_sql(", ");
                out.push_bind_param::<Text, _>(rec.name)?;
                out.push_sql(", ");
                out.push_bind_param::<Text, _>(checksum)?;
                out.push_sql(", now(), ");
                out.push_bind_param::<Nullable<BigInt>, _>(&rec.duration_ms)?;
                out.push_sql(
                    ") ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, \
                     checksum = EXCLUDED.checksum, applied_at = EXCLUDED.applied_at, \
                     duration_ms = EXCLUDED.duration_ms) ",
                );
            }
            None => {
                out.push_sql(
                    "WITH diesel AS (DELETE FROM __diesel_schema_migrations WHERE version = ",
                );
                out.push_bind_param::<Text, _>(rec.version)?;
                out.push_sql(
                    "), checksum AS (DELETE FROM groundwork.migration_checksums WHERE version = ",
                );
                out.push_bind_param::<Text, _>(rec.version)?;
                out.push_sql(") ");
            }
        }
        // The same columns and values as `record_migration` writes.
        out.push_sql(
            "INSERT INTO groundwork.audit_migrations (run_id, version, name, action, \
             run_in_transaction, duration_ms, outcome, error, statements_done, detail) VALUES (",
        );
        out.push_bind_param::<BigInt, _>(&rec.run_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(rec.version)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(rec.name)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(rec.action)?;
        out.push_sql(", ");
        out.push_bind_param::<Bool, _>(&rec.run_in_transaction)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<BigInt>, _>(&rec.duration_ms)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(rec.outcome())?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&rec.error)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Integer>, _>(&rec.statements_done)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&rec.detail)?;
        out.push_sql(")");
        Ok(())
    }
}

/// Records (or replaces) the checksum row of an applied migration.
pub(crate) async fn record_checksum(
    conn: &mut AsyncPgConnection,
    version: &str,
    name: &str,
    checksum: &str,
    duration_ms: Option<i64>,
) -> Result<(), diesel::result::Error> {
    use migration_checksums::dsl as c;
    // applied_at is left to its default (now()), which EXCLUDED carries into the update.
    diesel::insert_into(c::migration_checksums)
        .values((
            c::version.eq(version),
            c::name.eq(name),
            c::checksum.eq(checksum),
            c::duration_ms.eq(duration_ms),
        ))
        .on_conflict(c::version)
        .do_update()
        .set((
            c::name.eq(excluded(c::name)),
            c::checksum.eq(excluded(c::checksum)),
            c::applied_at.eq(excluded(c::applied_at)),
            c::duration_ms.eq(excluded(c::duration_ms)),
        ))
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
    use diesel::sql_types::Text;
    // An INSERT … SELECT with a time-zone conversion: clearer as SQL than as query builder.
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

/// Records the environment stamp unless the database already has one.
pub(crate) async fn stamp_environment(
    conn: &mut AsyncPgConnection,
    env: &str,
) -> Result<(), diesel::result::Error> {
    diesel::insert_into(environment::table)
        .values(environment::env.eq(env))
        .on_conflict(environment::singleton)
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// The environment recorded in the database, if it was stamped.
pub async fn read_stamp(conn: &mut AsyncPgConnection) -> Result<Option<Environment>, MigrateError> {
    let fail = |e: diesel::result::Error| MigrateError::db("reading the environment stamp", &e);
    if !relation_exists(conn, "groundwork.environment")
        .await
        .map_err(fail)?
    {
        return Ok(None);
    }
    let stamp: Option<String> = environment::table
        .select(environment::env)
        .first(conn)
        .await
        .optional()
        .map_err(fail)?;
    Ok(stamp.map(|s| s.parse()).transpose()?)
}

/// Refuses when the database is stamped with another environment than the one requested.
pub fn check_stamp(stamp: Option<Environment>, requested: Environment) -> Result<(), MigrateError> {
    match stamp {
        Some(stamped) if stamped != requested => {
            Err(MigrateError::EnvironmentMismatch { stamped, requested })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_must_match() {
        assert!(check_stamp(None, Environment::Prod).is_ok());
        assert!(check_stamp(Some(Environment::Dev), Environment::Dev).is_ok());
        let err = check_stamp(Some(Environment::Prod), Environment::Staging).unwrap_err();
        assert!(
            err.to_string().contains("prod") && err.to_string().contains("staging"),
            "{err}"
        );
    }
}
