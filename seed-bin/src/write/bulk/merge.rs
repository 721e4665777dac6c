//! Step 2 of a load: the merge from the staging table, inside the caller's transaction.

use super::{BulkError, BulkTable, Result, ident, ident_list};
use crate::write::{Counts, changed};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{BigInt, Bool};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// How the rows of a staging table reach their target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The target had no rows when the load began, in the stage's transaction: a plain
    /// `INSERT … SELECT`, without the conflict arbitration and the per-row comparison of an
    /// upsert. A row can only collide with another row of the same load, which the unique
    /// index rejects (a generator bug, reported as such).
    Fresh {
        /// Insert with the per-row foreign-key triggers off; the loader checks the
        /// constraints itself once the table is loaded ([`super::foreign_keys`]).
        deferred_keys: bool,
    },
    /// `INSERT … ON CONFLICT … DO UPDATE … WHERE changed`; see [`merge_sql`] for `guard`.
    Upsert {
        /// Reject a second row with one key within the load instead of overwriting it.
        guard: bool,
    },
}

#[derive(diesel::QueryableByName)]
struct Empty {
    #[diesel(sql_type = Bool)]
    empty: bool,
}

/// Whether `table` has no rows visible to `conn`'s transaction. Only the stage that owns a
/// table writes it, under the stage's lock, so the answer holds for the whole load.
pub(crate) async fn is_empty(conn: &mut AsyncPgConnection, t: &BulkTable) -> Result<bool> {
    let q = format!(
        "SELECT NOT EXISTS (SELECT 1 FROM public.{}) AS empty",
        ident(t.table)
    );
    let e: Empty = diesel::sql_query(q)
        .get_result(conn)
        .await
        .map_err(|source| BulkError::Merge {
            table: t.table.to_string(),
            hint: String::new(),
            source,
        })?;
    Ok(e.empty)
}

#[derive(diesel::QueryableByName)]
struct Merged {
    #[diesel(sql_type = BigInt)]
    inserted: i64,
    #[diesel(sql_type = BigInt)]
    updated: i64,
}

/// Raised (as a failed integer cast naming the row's `xmin`) when a merge with the duplicate
/// guard meets a row this transaction already wrote.
const DUPLICATE_MARK: &str = "duplicate natural key within one bulk load";

/// The merge statement. `xmax = 0` holds exactly for rows this statement inserted (an updated
/// row version carries the updating transaction in `xmax`); rows whose update columns are not
/// distinct are filtered by the `WHERE`, so they are neither written nor returned.
///
/// With `guard`, a conflicting row whose `xmin` is this transaction (written by an earlier
/// segment of the same load) raises an error instead of being silently overwritten: without
/// it, which of two rows with one key wins would depend on stream timing. The error is a cast
/// of a non-constant string, so the planner cannot fold it into an unconditional failure.
pub(crate) fn merge_sql(t: &BulkTable, staging: &str, guard: bool) -> String {
    let cols = ident_list(t.columns);
    let action = if t.update_cols.is_empty() {
        "DO NOTHING".to_string()
    } else {
        let set = t
            .update_cols
            .iter()
            .map(|c| format!("{0} = EXCLUDED.{0}", ident(c)))
            .collect::<Vec<_>>()
            .join(", ");
        let changed = changed("t", t.update_cols);
        if guard {
            format!(
                "DO UPDATE SET {set} WHERE CASE WHEN t.xmin = pg_current_xact_id()::xid \
                 THEN (t.xmin::text || ': {DUPLICATE_MARK}')::int = 0 ELSE {changed} END"
            )
        } else {
            format!("DO UPDATE SET {set} WHERE {changed}")
        }
    };
    format!(
        "WITH merged AS (\
           INSERT INTO public.{target} AS t ({cols}) SELECT {cols} FROM groundwork.{staging} \
           ON CONFLICT ({key}) {action} RETURNING (t.xmax = 0) AS inserted) \
         SELECT count(*) FILTER (WHERE inserted) AS inserted, \
                count(*) FILTER (WHERE NOT inserted) AS updated FROM merged",
        target = ident(t.table),
        staging = ident(staging),
        key = ident_list(t.conflict_cols),
    )
}

/// What a merge that met two rows with one natural key says.
fn duplicate_hint(t: &BulkTable) -> String {
    format!(
        ". The generator produced two rows with the same ({}); every row's natural key must be unique within one load (a bug in the stage)",
        t.conflict_cols.join(", ")
    )
}

/// Adds the duplicate-key hint to a failed merge when the staging table (committed by its
/// stream, so `probe`, a connection outside the failed transaction, sees it) holds two rows
/// with one natural key. Other errors pass through.
pub(crate) async fn explain(
    probe: &tokio_postgres::Client,
    t: &BulkTable,
    staging: &str,
    e: BulkError,
) -> BulkError {
    let BulkError::Merge {
        table,
        hint,
        source,
    } = e
    else {
        return e;
    };
    if !hint.is_empty() {
        return BulkError::Merge {
            table,
            hint,
            source,
        };
    }
    let key = ident_list(t.conflict_cols);
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM groundwork.{} GROUP BY {key} HAVING count(*) > 1)",
        ident(staging)
    );
    let duplicate = match probe.query_one(&sql, &[]).await {
        Ok(row) => row.get::<_, bool>(0),
        // The merge's own error is the one to report.
        Err(_) => false,
    };
    BulkError::Merge {
        table,
        hint: if duplicate { duplicate_hint(t) } else { hint },
        source,
    }
}

/// The load into an empty target: every staged row is inserted as it is.
pub(crate) fn insert_sql(t: &BulkTable, staging: &str) -> String {
    let cols = ident_list(t.columns);
    format!(
        "INSERT INTO public.{target} ({cols}) SELECT {cols} FROM groundwork.{staging}",
        target = ident(t.table),
        staging = ident(staging),
    )
}

/// Runs the merge and drops the staging table, both on `conn` (inside its transaction).
pub(crate) async fn merge(
    conn: &mut AsyncPgConnection,
    t: &BulkTable,
    staging: &str,
    rows: u64,
    mode: Mode,
) -> Result<Counts> {
    let fail = |source: DieselError| {
        // A fresh load's duplicate is the unique index's violation (by kind, i.e. SQLSTATE
        // 23505); an upsert's duplicate across segments is the guard's cast, whose value carries
        // our own mark verbatim whatever the server's language. A duplicate within one staging
        // table fails the upsert with cardinality_violation, which diesel does not classify:
        // the loader probes the staging table for it ([`explain`]).
        let duplicate = matches!(
            (&source, mode),
            (
                DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _),
                Mode::Fresh { .. }
            )
        ) || source.to_string().contains(DUPLICATE_MARK);
        BulkError::Merge {
            table: t.table.to_string(),
            hint: if duplicate {
                duplicate_hint(t)
            } else {
                String::new()
            },
            source,
        }
    };
    let (inserted, updated) = match mode {
        Mode::Fresh { deferred_keys } => {
            // LOCAL: a failed statement's rollback also ends the window; DEFAULT is the
            // session's own value, whatever it was.
            if deferred_keys {
                diesel::sql_query("SET LOCAL session_replication_role = replica")
                    .execute(conn)
                    .await
                    .map_err(fail)?;
            }
            let n = diesel::sql_query(insert_sql(t, staging))
                .execute(conn)
                .await
                .map_err(fail)?;
            if deferred_keys {
                diesel::sql_query("SET LOCAL session_replication_role TO DEFAULT")
                    .execute(conn)
                    .await
                    .map_err(fail)?;
            }
            (n as u64, 0)
        }
        Mode::Upsert { guard } => {
            let m: Merged = diesel::sql_query(merge_sql(t, staging, guard))
                .get_result(conn)
                .await
                .map_err(fail)?;
            (m.inserted as u64, m.updated as u64)
        }
    };
    diesel::sql_query(format!("DROP TABLE groundwork.{}", ident(staging)))
        .execute(conn)
        .await
        .map_err(fail)?;
    Ok(Counts {
        rows,
        inserted,
        updated,
        unchanged: rows.saturating_sub(inserted + updated),
        deleted: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_sql_compares_only_update_columns() {
        let t = BulkTable {
            table: "tags",
            columns: &["id", "client_account_id", "name", "color"],
            conflict_cols: &["client_account_id", "name"],
            update_cols: &["color"],
        };
        let sql = merge_sql(&t, "stg_1_1_tags", false);
        assert!(sql.contains("ON CONFLICT (\"client_account_id\", \"name\") DO UPDATE SET \"color\" = EXCLUDED.\"color\" WHERE (t.\"color\") IS DISTINCT FROM (EXCLUDED.\"color\")"), "{sql}");
        assert!(sql.contains("FROM groundwork.\"stg_1_1_tags\""));
        let nothing = BulkTable {
            update_cols: &[],
            ..t
        };
        assert!(merge_sql(&nothing, "s", true).contains("DO NOTHING RETURNING"));
        assert!(merge_sql(&t, "s", true).contains("WHEN t.xmin = pg_current_xact_id()::xid"));
    }
}
