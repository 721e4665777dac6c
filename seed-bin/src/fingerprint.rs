//! Table snapshots (to count inserted/updated/unchanged rows) and fingerprints (to detect
//! change and to compare databases). All computed by PostgreSQL, in a canonical order.

use crate::error::{Result, SeedError};
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// A table a stage owns, and the columns left out of its fingerprint (values that are random
/// by design, such as an API key's hash and lookup prefix).
#[derive(Debug, Clone, Copy)]
pub struct OwnedTable {
    pub name: &'static str,
    pub not_fingerprinted: &'static [&'static str],
}

/// Shorthand for a table fingerprinted whole.
pub const fn table(name: &'static str) -> OwnedTable {
    OwnedTable {
        name,
        not_fingerprinted: &[],
    }
}

#[derive(diesel::QueryableByName)]
struct KeyHash {
    #[diesel(sql_type = Text)]
    k: String,
    #[diesel(sql_type = Text)]
    h: String,
}

#[derive(diesel::QueryableByName)]
struct Fp {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Text)]
    fp: String,
}

#[derive(diesel::QueryableByName)]
struct PkCols {
    #[diesel(sql_type = Text)]
    cols: String,
}

fn ident(name: &str) -> String {
    groundwork_migrate::policy::quote_ident(name)
}

async fn pk_expr(conn: &mut AsyncPgConnection, table: &str) -> Result<String> {
    let r: PkCols = diesel::sql_query(
        "SELECT coalesce(string_agg('t.' || quote_ident(a.attname), ', ' ORDER BY a.attnum), 't.ctid') AS cols
         FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
         WHERE i.indrelid = to_regclass('public.' || quote_ident($1)) AND i.indisprimary",
    )
    .bind::<Text, _>(table)
    .get_result(conn)
    .await
    .map_err(SeedError::db(format!("reading the primary key of {table}")))?;
    Ok(r.cols)
}

/// Primary key → hash of the row, for every row of a table.
pub async fn snapshot(
    conn: &mut AsyncPgConnection,
    table: &str,
) -> Result<HashMap<String, String>> {
    let pk = pk_expr(conn, table).await?;
    let row = row_expr(conn, table, &[]).await?;
    let sql = format!(
        "SELECT (ROW({pk}))::text AS k, hash_record_extended({row}, 0)::text AS h FROM public.{} t",
        ident(table)
    );
    let rows: Vec<KeyHash> = diesel::sql_query(sql)
        .load(conn)
        .await
        .map_err(SeedError::db(format!("reading {table}")))?;
    Ok(rows.into_iter().map(|r| (r.k, r.h)).collect())
}

#[derive(diesel::QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    name: String,
    /// An enum (or an array of one): stored and hashed as its OID, which differs per database.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    by_label: bool,
}

/// `ROW(t."a", t."b", …)` over the table's columns in table order, minus `excluded`.
async fn row_expr(conn: &mut AsyncPgConnection, table: &str, excluded: &[&str]) -> Result<String> {
    let cols: Vec<Column> = diesel::sql_query(
        "SELECT a.attname::text AS name,
                coalesce(e.typtype = 'e', false) AS by_label
         FROM pg_attribute a
         JOIN pg_type ty ON ty.oid = a.atttypid
         LEFT JOIN pg_type e ON e.oid = CASE WHEN ty.typelem <> 0 THEN ty.typelem ELSE ty.oid END
         WHERE a.attrelid = to_regclass('public.' || quote_ident($1)) AND a.attnum > 0
           AND NOT a.attisdropped ORDER BY a.attnum",
    )
    .bind::<Text, _>(table)
    .load(conn)
    .await
    .map_err(SeedError::db(format!("reading the columns of {table}")))?;
    let list: Vec<String> = cols
        .into_iter()
        .filter(|c| !excluded.contains(&c.name.as_str()))
        .map(|c| {
            // Labels, not OIDs: the same rows in another database must hash the same.
            let cast = if c.by_label { "::text" } else { "" };
            format!("t.{}{cast}", ident(&c.name))
        })
        .collect();
    if list.is_empty() {
        return Err(SeedError::Internal(format!(
            "{table} has no columns left to fingerprint"
        )));
    }
    Ok(format!("ROW({})", list.join(", ")))
}

/// Row count and an order-independent hash of the rows (minus excluded columns).
/// Independent of physical order and of the session (connections run in UTC).
pub async fn table_fingerprint(
    conn: &mut AsyncPgConnection,
    t: &OwnedTable,
) -> Result<(u64, String)> {
    let row = row_expr(conn, t.name, t.not_fingerprinted).await?;
    // The sum of the rows' 64-bit hashes: no sort and no aggregated string, so it stays flat
    // in memory. `hash_record_extended` hashes the binary values (the hash functions
    // PostgreSQL's hash indexes and partitions use), about ten times faster than rendering
    // every row as text and taking its md5: at `--scale 1000` the fingerprints went from
    // about 10 s of a fresh run to about 1 s.
    let sql = format!(
        "SELECT count(*)::bigint AS n,
                coalesce(sum(hash_record_extended({row}, 0))::text, '') AS fp
         FROM public.{} t",
        ident(t.name)
    );
    let r: Fp = diesel::sql_query(sql)
        .get_result(conn)
        .await
        .map_err(SeedError::db(format!("fingerprinting {}", t.name)))?;
    Ok((r.n.max(0) as u64, r.fp))
}

/// Cheap change signal of a stage's tables: per table, the row count and the sum of the rows'
/// `xmin` (the id of the transaction that wrote each row version). Every INSERT or UPDATE gives
/// the row a newer `xmin` than any recorded one, and a DELETE changes the count, so any write
/// after the state was taken changes it (until the 32-bit transaction counter wraps around);
/// VACUUM FREEZE keeps the original `xmin` visible. It reads no column values, so it costs a
/// fraction of [`stage_fingerprint`]. It tells "maybe changed" (then the runner compares the
/// full fingerprint) from "not written since" — never "same content": a restored copy of the
/// same rows differs.
pub async fn table_state(conn: &mut AsyncPgConnection, tables: &[OwnedTable]) -> Result<String> {
    let mut out = String::new();
    for t in tables {
        let sql = format!(
            "SELECT count(*)::bigint AS n, coalesce(sum(xmin::text::bigint), 0)::text AS fp
             FROM public.{}",
            ident(t.name)
        );
        let r: Fp = diesel::sql_query(sql)
            .get_result(conn)
            .await
            .map_err(SeedError::db(format!("reading the state of {}", t.name)))?;
        out.push_str(&format!("{}:{}:{}\n", t.name, r.n, r.fp));
    }
    Ok(out)
}

/// Fingerprint of a stage: SHA-256 over its tables' counts and fingerprints.
pub async fn stage_fingerprint(
    conn: &mut AsyncPgConnection,
    tables: &[OwnedTable],
) -> Result<String> {
    let mut h = Sha256::new();
    for t in tables {
        let (n, fp) = table_fingerprint(conn, t).await?;
        h.update(format!("{}:{n}:{fp}\n", t.name));
    }
    Ok(hex::encode(h.finalize()))
}

/// Combines stage fingerprints into the dataset fingerprint.
pub fn combine<'a>(parts: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut h = Sha256::new();
    for (stage, fp) in parts {
        h.update(format!("{stage}:{fp}\n"));
    }
    hex::encode(h.finalize())
}
