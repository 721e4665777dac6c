//! The bulk table descriptions of the stages match the real schema.

use super::*;

#[test]
fn the_domain_bulk_tables_match_the_schema() {
    let db = schema_db();
    let mut c = db.client();
    for t in rows::ALL {
        let probe = format!(
            "SELECT {} FROM public.{} LIMIT 0",
            t.columns.join(", "),
            t.table
        );
        c.prepare(&probe)
            .unwrap_or_else(|e| panic!("{}: a column does not exist: {e}", t.table));
        let mut key: Vec<&str> = t.conflict_cols.to_vec();
        key.sort_unstable();
        let unique_keys: Vec<Vec<String>> = c
            .query(
                "SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                 WHERE i.indrelid = $1::text::regclass AND i.indisunique AND i.indpred IS NULL \
                 GROUP BY i.indexrelid",
                &[&t.table],
            )
            .expect("unique indexes")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(
            unique_keys
                .iter()
                .any(|k| k.iter().map(String::as_str).eq(key.iter().copied())),
            "{}: ({}) is not a unique key; unique keys: {unique_keys:?}",
            t.table,
            t.conflict_cols.join(", ")
        );
        for u in t.update_cols {
            assert!(
                t.columns.contains(u),
                "{}: update column {u} is not loaded",
                t.table
            );
            assert!(
                !t.conflict_cols.contains(u),
                "{}: {u} is part of the key",
                t.table
            );
        }
        for k in t.conflict_cols {
            assert!(
                t.columns.contains(k),
                "{}: key column {k} is not loaded",
                t.table
            );
        }
    }
}
