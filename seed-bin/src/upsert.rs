//! Chunked upserts on natural keys.

/// Rows per INSERT: the widest table (assets) binds 23 columns per row, and PostgreSQL's
/// protocol caps a statement at 65 535 bind parameters; 2 000 × 23 = 46 000 stays under it.
pub const CHUNK_ROWS: usize = 2_000;

/// `upsert!(conn, table, rows, (conflict columns), [columns to update])`: one multi-row
/// `INSERT … ON CONFLICT (natural key) DO UPDATE SET col = excluded.col` per chunk.
/// Rows must not repeat a key inside one call (PostgreSQL refuses to update a row twice).
///
/// The `DO UPDATE … WHERE (cols) IS DISTINCT FROM (excluded cols)` clause skips rows whose
/// values are already right: a rerun then writes no new row versions at all, so even the
/// physical order of a `pg_dump` stays the same, and `updated_at` triggers never fire.
#[macro_export]
macro_rules! upsert {
    ($conn:expr, $table:ident, $rows:expr, ($($target:ident),+), [$($col:ident),+ $(,)?]) => {{
        use diesel::ExpressionMethods as _;
        use diesel::query_dsl::methods::FilterDsl as _;
        use diesel::upsert::excluded;
        use domain::schema::$table::dsl as t;
        let cols: &[&str] = &[$(stringify!($col)),+];
        let changed = format!(
            "({}) IS DISTINCT FROM ({})",
            cols.iter().map(|c| format!("{}.{c}", stringify!($table))).collect::<Vec<_>>().join(", "),
            cols.iter().map(|c| format!("excluded.{c}")).collect::<Vec<_>>().join(", "),
        );
        let mut written = 0usize;
        for chunk in $rows.chunks($crate::upsert::CHUNK_ROWS) {
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
