//! Adapter to the migration engine: environment stamp, pending migrations, apply, revert.
//!
//! TODO(migrate): switch these to `groundwork_migrate`'s API once it lands on main; until
//! then they read the stamp table directly and report no migrations.

use crate::error::{Result, SeedError};
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[derive(diesel::QueryableByName)]
struct Present {
    #[diesel(sql_type = Bool)]
    present: bool,
}

#[derive(diesel::QueryableByName)]
struct Stamp {
    #[diesel(sql_type = Text)]
    env: String,
}

/// The database's environment stamp, or `None` when it was never stamped.
pub async fn env_stamp(conn: &mut AsyncPgConnection) -> Result<Option<String>> {
    let p: Present =
        diesel::sql_query("SELECT to_regclass('groundwork.environment') IS NOT NULL AS present")
            .get_result(conn)
            .await
            .map_err(SeedError::db("looking for the environment stamp"))?;
    if !p.present {
        return Ok(None);
    }
    let rows: Vec<Stamp> =
        diesel::sql_query("SELECT env::text AS env FROM groundwork.environment LIMIT 1")
            .load(conn)
            .await
            .map_err(SeedError::db("reading the environment stamp"))?;
    Ok(rows.into_iter().next().map(|s| s.env))
}

/// Versions of the embedded migrations not yet applied.
pub async fn pending(_url: &str) -> Result<Vec<String>> {
    Ok(Vec::new())
}

/// Applies pending migrations (dev/test only; the caller checks), stamping `env` on a fresh database.
pub async fn apply_pending(_url: &str, _env: &str) -> Result<Vec<String>> {
    Ok(Vec::new())
}

/// Reverts every applied migration (for `seed reset --hard`).
pub async fn revert_all(_url: &str, _env: &str) -> Result<usize> {
    Err(SeedError::Migration(
        "the migration engine is not linked yet".into(),
    ))
}
