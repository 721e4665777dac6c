//! The dedicated connection and the engine's bookkeeping tables.
//!
//! diesel_cli's `__diesel_schema_migrations` stays exactly as diesel creates it, so
//! `diesel migration list` keeps working; everything of our own lives in the `groundwork`
//! schema so `diesel print-schema` of `public` stays clean.

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use tokio_postgres::error::SqlState;

use crate::conninfo::ConnInfo;
use crate::error::MigrateError;

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

/// A driver connection's I/O half, to be spawned by whoever opened it.
pub type DriverConnection =
    tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>;

/// Opens a plain driver connection (for `COPY` and other work diesel-async cannot do) within
/// the connect deadline of `info`. The caller spawns the returned connection half.
pub async fn connect_client(
    info: &ConnInfo,
    application_name: &str,
) -> Result<(tokio_postgres::Client, DriverConnection), MigrateError> {
    within_deadline(info, open_client(info, application_name)).await
}

/// Opens a dedicated (never pooled) connection, so session state such as advisory locks and
/// `lock_timeout` belongs to this run alone and dies with it. Every connection of both
/// binaries goes through here or [`connect_client`], so none can hang: the whole of it (TCP
/// connect, startup and authentication handshake, diesel-async's setup) must finish within
/// [`ConnInfo::connect_timeout`].
pub async fn connect(
    info: &ConnInfo,
    application_name: &str,
) -> Result<AsyncPgConnection, MigrateError> {
    within_deadline(info, async {
        let (client, connection) = open_client(info, application_name).await?;
        AsyncPgConnection::try_from_client_and_connection(client, connection)
            .await
            .map_err(|e| MigrateError::Unreachable {
                url: info.redacted(),
                reason: info.scrub(&e.to_string()),
            })
    })
    .await
}

async fn open_client(
    info: &ConnInfo,
    application_name: &str,
) -> Result<(tokio_postgres::Client, DriverConnection), MigrateError> {
    let mut config = info.config().clone();
    config.application_name(application_name);
    config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| classify_connect_error(&e, info))
}

/// tokio-postgres's `connect_timeout` bounds only the TCP connect of each host; a server
/// that accepts the connection and never speaks would hold the startup handshake forever.
/// One deadline over the whole attempt is what "never hang" needs.
async fn within_deadline<T>(
    info: &ConnInfo,
    attempt: impl std::future::Future<Output = Result<T, MigrateError>>,
) -> Result<T, MigrateError> {
    let limit = info.connect_timeout();
    match tokio::time::timeout(limit, attempt).await {
        Ok(result) => result,
        Err(_) => Err(MigrateError::Unreachable {
            url: info.redacted(),
            reason: format!(
                "the server at {} did not complete the connection within {:.1} s (it accepted \
                 the TCP connection or the network swallowed it, but the startup handshake never \
                 finished). If it is only slow, raise --connect-timeout (or DATABASE_CONNECT_TIMEOUT)",
                info.host_port(),
                limit.as_secs_f64()
            ),
        }),
    }
}

fn classify_connect_error(e: &tokio_postgres::Error, info: &ConnInfo) -> MigrateError {
    if e.code() == Some(&SqlState::INVALID_CATALOG_NAME) {
        return MigrateError::DatabaseMissing {
            database: info.database(),
            url: info.redacted(),
        };
    }
    let reason = match e.as_db_error() {
        Some(db) => format!("the server refused the connection: {}", db.message()),
        None => {
            // tokio-postgres puts the useful part (e.g. "Connection refused") in the source.
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                let s_text = s.to_string();
                if !text.contains(&s_text) {
                    text = format!("{text}: {s_text}");
                }
                source = s.source();
            }
            let mut text = format!("{text} (server {})", info.host_port());
            if info.config().get_ssl_mode() == tokio_postgres::config::SslMode::Require {
                text.push_str(
                    "; sslmode=require cannot be met: migrate and seed connect without TLS, so \
                     use sslmode=disable or prefer on a trusted network, or a TLS tunnel",
                );
            }
            text
        }
    };
    MigrateError::Unreachable {
        url: info.redacted(),
        reason: info.scrub(&reason),
    }
}

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
