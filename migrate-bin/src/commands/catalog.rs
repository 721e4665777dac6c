//! What the commands ask the server's catalog outside the engine's bookkeeping: live row
//! counts (for a revert plan), the server version (for pg_dump), and creating the database
//! (`setup`).

use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::error::MigrateError;
use crate::policy::ConnInfo;

#[derive(diesel::QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

/// `server_version_num`, e.g. 150004: pg_dump must be at least as new as the server.
pub(super) async fn server_version_num(conn: &mut AsyncPgConnection) -> Result<u32, MigrateError> {
    let row: Setting = diesel::sql_query("SELECT current_setting('server_version_num') AS value")
        .get_result(conn)
        .await
        .map_err(|e| MigrateError::db("reading the server version", &e))?;
    row.value
        .trim()
        .parse()
        .map_err(|_| MigrateError::Database {
            context: "reading the server version".into(),
            error: format!("server_version_num is `{}`, not a number", row.value),
        })
}

#[derive(diesel::QueryableByName)]
struct Relation {
    #[diesel(sql_type = Nullable<Text>)]
    rel: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    estimate: Option<i64>,
}

#[derive(diesel::QueryableByName)]
struct Counts {
    #[diesel(sql_type = BigInt)]
    rows: i64,
    #[diesel(sql_type = BigInt)]
    non_null: i64,
}

/// Above this planner estimate a table is not counted (a full scan of it could take minutes
/// on the live database); the estimate is shown instead, labelled as such.
const COUNT_LIMIT: i64 = 10_000_000;

/// What is in `table` (or its `column`) now, for the plan. Never fails: a table that cannot
/// be counted is said to be so.
pub(super) async fn live_rows(
    conn: &mut AsyncPgConnection,
    table: &str,
    column: Option<&str>,
) -> String {
    let found: Result<Relation, _> = diesel::sql_query(
        "SELECT to_regclass($1)::text AS rel, \
                (SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass($1)) AS estimate",
    )
    .bind::<Text, _>(table)
    .get_result(conn)
    .await;
    let rel = match found {
        Ok(Relation {
            rel: Some(rel),
            estimate,
        }) => {
            if let Some(n) = estimate.filter(|n| *n > COUNT_LIMIT) {
                return format!("about {n} rows (planner estimate; too big to count for a plan)");
            }
            rel
        }
        Ok(_) => return "the table does not exist (nothing to lose)".into(),
        Err(e) => return format!("row count unavailable ({e})"),
    };
    // `rel` is PostgreSQL's own quoting of the table; `column` is as down.sql writes it.
    let sql = match column {
        Some(c) => format!("SELECT count(*) AS rows, count({c}) AS non_null FROM {rel}"),
        None => format!("SELECT count(*) AS rows, count(*) AS non_null FROM {rel}"),
    };
    match diesel::sql_query(sql).get_result::<Counts>(conn).await {
        Ok(c) if column.is_some() => format!("{} rows, {} non-null values", c.rows, c.non_null),
        Ok(c) => format!("{} rows", c.rows),
        Err(e) => format!("row count unavailable ({e})"),
    }
}

#[derive(diesel::QueryableByName)]
struct Database {
    #[diesel(sql_type = Bool)]
    exists: bool,
    #[diesel(sql_type = Text)]
    quoted: String,
}

/// Creates the database of `target` via the `postgres` maintenance database.
/// Returns whether it was created.
pub(super) async fn create_database_if_missing(target: &ConnInfo) -> Result<bool, MigrateError> {
    let name = target.database();
    let maintenance = target.with_database("postgres");
    let mut conn = crate::policy::connect(&maintenance, &crate::policy::application_name()).await?;
    // The server quotes the name: CREATE DATABASE takes no bind parameter.
    let row: Database = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists, \
                quote_ident($1) AS quoted",
    )
    .bind::<Text, _>(&name)
    .get_result(&mut conn)
    .await
    .map_err(|e| MigrateError::db("checking whether the database exists", &e))?;
    if row.exists {
        return Ok(false);
    }
    diesel::sql_query(format!("CREATE DATABASE {}", row.quoted))
        .execute(&mut conn)
        .await
        .map_err(|e| MigrateError::db(format!("creating database {name}"), &e))?;
    Ok(true)
}
