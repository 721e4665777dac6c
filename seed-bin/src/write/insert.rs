//! The INSERT path of the table writer: chunked multi-row `INSERT … ON CONFLICT DO UPDATE` on
//! natural keys, counted by comparing the tables before and after.

use super::Counts;
use crate::error::Result;
use crate::fingerprint::{self, OwnedTable};
use diesel_async::AsyncPgConnection;
use std::collections::{BTreeMap, HashMap};

/// Rows per INSERT: the widest table (assets) binds 23 columns per row, and PostgreSQL's
/// protocol caps a statement at 65 535 bind parameters; 2 000 × 23 = 46 000 stays under it.
pub const CHUNK_ROWS: usize = 2_000;

/// `insert_or_update!(conn, table, rows, (conflict columns), [columns to update])`: one multi-row
/// `INSERT … ON CONFLICT (natural key) DO UPDATE SET col = excluded.col` per chunk, skipping
/// unchanged rows by the writer's one rule ([`crate::write::changed`]). Rows must not repeat
/// a key inside one call (PostgreSQL refuses to update a row twice).
#[macro_export]
macro_rules! insert_or_update {
    ($conn:expr, $table:ident, $rows:expr, ($($target:ident),+), [$($col:ident),+ $(,)?]) => {{
        use diesel::ExpressionMethods as _;
        use diesel::query_dsl::methods::FilterDsl as _;
        use diesel::upsert::excluded;
        use domain::schema::$table::dsl as t;
        let changed = $crate::write::changed(
            &$crate::write::bulk::ident(stringify!($table)),
            &[$(stringify!($col)),+],
        );
        let mut written = 0usize;
        for chunk in $rows.chunks($crate::write::insert::CHUNK_ROWS) {
            written += diesel_async::RunQueryDsl::execute(
                diesel::insert_into(domain::schema::$table::table)
                    .values(chunk)
                    .on_conflict(($(t::$target),+))
                    .do_update()
                    .set(($(t::$col.eq(excluded(t::$col)),)+))
                    .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(&changed)),
                $conn,
            )
            .await?;
        }
        written
    }};
}

/// The rows of an INSERT-path stage's tables before it writes, to count what it did: small
/// tables, so comparing every row costs little and also sees writes outside `insert_or_update!` (a new
/// password hash, say).
pub struct Snapshot {
    before: Vec<(&'static str, HashMap<String, String>)>,
}

impl Snapshot {
    /// Reads every row (key and hash) of `tables`.
    pub async fn take(conn: &mut AsyncPgConnection, tables: &[OwnedTable]) -> Result<Snapshot> {
        let mut before = Vec::with_capacity(tables.len());
        for t in tables {
            before.push((t.name, fingerprint::snapshot(conn, t.name).await?));
        }
        Ok(Snapshot { before })
    }

    /// What changed in each table since [`take`](Self::take).
    pub async fn counts(self, conn: &mut AsyncPgConnection) -> Result<BTreeMap<String, Counts>> {
        let mut out = BTreeMap::new();
        for (name, before) in self.before {
            let after = fingerprint::snapshot(conn, name).await?;
            out.insert(name.to_string(), diff(&before, &after));
        }
        Ok(out)
    }
}

/// Compares two snapshots of one table (from [`fingerprint::snapshot`]).
fn diff(before: &HashMap<String, String>, after: &HashMap<String, String>) -> Counts {
    let mut c = Counts {
        rows: after.len() as u64,
        ..Default::default()
    };
    for (k, h) in after {
        match before.get(k) {
            None => c.inserted += 1,
            Some(old) if old == h => c.unchanged += 1,
            Some(_) => c.updated += 1,
        }
    }
    c.deleted = before.keys().filter(|k| !after.contains_key(*k)).count() as u64;
    c
}
