//! The lock each statement takes, with the live size of the table it is taken on: the same
//! "ACCESS EXCLUSIVE" reads differently on an empty table and on one of 40 million rows.
//! Shown by `plan` and by the production gate of `up`.

use std::collections::BTreeMap;

use diesel::sql_types::{BigInt, Double, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

use crate::locks::{self, StatementLock};

/// One statement's lock, graded by the table's size now.
#[derive(Debug, Clone, Serialize)]
pub(super) struct GradedLock {
    #[serde(flatten)]
    lock: StatementLock,
    /// Rows now: the planner's estimate (pg_class.reltuples), or counted when the table was
    /// never analysed and is small; none when unknown or the table does not exist.
    rows: Option<i64>,
    /// pg_total_relation_size (table, indexes, TOAST); none when the table does not exist.
    bytes: Option<i64>,
    /// The two as text, e.g. `1.2 M rows, 840 MB`.
    size: String,
}

impl GradedLock {
    /// `ACCESS EXCLUSIVE on assets (1.2 M rows, 840 MB)`.
    pub(super) fn line(&self) -> String {
        format!(
            "{} on {} ({}): {}",
            self.lock.mode, self.lock.table, self.size, self.lock.statement
        )
    }
}

/// Above this a never-analysed table is not counted for a plan (the count would scan it).
const COUNT_BYTES_LIMIT: i64 = 64 * 1024 * 1024;

#[derive(diesel::QueryableByName)]
struct Size {
    #[diesel(sql_type = Nullable<Double>)]
    reltuples: Option<f64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    bytes: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pretty: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    rel: Option<String>,
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(Clone)]
struct Measured {
    rows: Option<i64>,
    bytes: Option<i64>,
    size: String,
}

/// The locks `sql` takes, each with its table's size. Never fails: a size that cannot be
/// read says so.
pub(super) async fn graded_locks(conn: &mut AsyncPgConnection, sql: &str) -> Vec<GradedLock> {
    let mut measured: BTreeMap<String, Measured> = BTreeMap::new();
    let mut out = Vec::new();
    for lock in locks::statement_locks(sql) {
        let m = match measured.get(&lock.table) {
            Some(m) => m.clone(),
            None => {
                let m = measure(conn, &lock.table).await;
                measured.insert(lock.table.clone(), m.clone());
                m
            }
        };
        let size = if lock.creates && m.bytes.is_none() {
            "new table".to_string()
        } else {
            m.size
        };
        out.push(GradedLock {
            lock,
            rows: m.rows,
            bytes: m.bytes,
            size,
        });
    }
    out
}

async fn measure(conn: &mut AsyncPgConnection, table: &str) -> Measured {
    let found: Result<Size, _> = diesel::sql_query(
        "SELECT c.reltuples::float8 AS reltuples, pg_total_relation_size(c.oid) AS bytes, \
                pg_size_pretty(pg_total_relation_size(c.oid)) AS pretty, c.oid::regclass::text AS rel \
         FROM (SELECT to_regclass($1) AS oid) r LEFT JOIN pg_class c ON c.oid = r.oid",
    )
    .bind::<Text, _>(table)
    .get_result(conn)
    .await;
    let unknown = |why: String| Measured {
        rows: None,
        bytes: None,
        size: why,
    };
    let s = match found {
        Ok(s) => s,
        Err(e) => return unknown(format!("size unavailable: {e}")),
    };
    let (Some(bytes), Some(rel)) = (s.bytes, s.rel) else {
        return unknown("does not exist yet".into());
    };
    let pretty = s.pretty.unwrap_or_else(|| format!("{bytes} bytes"));
    // reltuples is -1 until the first VACUUM/ANALYZE (PostgreSQL 14+): "unknown", not "none".
    let rows = match s.reltuples {
        Some(r) if r >= 0.0 => Some(r.round() as i64),
        _ if bytes <= COUNT_BYTES_LIMIT => {
            // `rel` is PostgreSQL's own quoting of the relation.
            diesel::sql_query(format!("SELECT count(*) AS n FROM {rel}"))
                .get_result::<Count>(conn)
                .await
                .ok()
                .map(|c| c.n)
        }
        _ => None,
    };
    let rows_text = match rows {
        Some(n) => format!("{} rows", human_count(n)),
        None => "rows unknown: never analysed".into(),
    };
    Measured {
        rows,
        bytes: Some(bytes),
        size: format!("{rows_text}, {pretty}"),
    }
}

/// 950, 12.3 k, 1.2 M, 3.4 bn.
fn human_count(n: i64) -> String {
    let f = n as f64;
    match n {
        ..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1} k", f / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} M", f / 1e6),
        _ => format!("{:.1} bn", f / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::human_count;

    #[test]
    fn counts_read_like_the_issue_asks() {
        assert_eq!(human_count(0), "0");
        assert_eq!(human_count(999), "999");
        assert_eq!(human_count(12_345), "12.3 k");
        assert_eq!(human_count(1_200_000), "1.2 M");
        assert_eq!(human_count(40_000_000_000), "40.0 bn");
    }
}
