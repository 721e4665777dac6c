//! Database dumps and content snapshots: "the database is byte-identical" checks.

use std::process::Command;

use crate::process::output_text;
use crate::server::connect;

/// Normalised `pg_dump` of `url` with extra `args`.
pub fn pg_dump(url: &str, args: &[&str]) -> String {
    let out = Command::new("pg_dump")
        .args(["--no-owner", "--no-privileges"])
        .args(args)
        .arg("--dbname")
        .arg(url)
        .output()
        .expect("run pg_dump (is PostgreSQL's client installed?)");
    assert!(
        out.status.success(),
        "pg_dump failed:\n{}",
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        // pg_dump 15.14+ writes a random key into \restrict lines.
        .filter(|l| {
            !l.starts_with("--") && !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict")
        })
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a database looks like: its whole schema (every schema, `pg_dump
/// --schema-only`, normalised) and a content hash of every table of every
/// non-system schema, listed from the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbSnapshot {
    /// Normalised `pg_dump --schema-only` of the whole database.
    pub schema: String,
    /// `schema.table` → `rows:<n> md5:<hash of the ordered rows as JSON text>`.
    pub tables: std::collections::BTreeMap<String, String>,
}

/// Every ordinary and partitioned table outside the system schemas, as
/// `(schema, table)`, from `pg_class` (never a copied list).
pub fn user_tables(url: &str) -> Vec<(String, String)> {
    let mut c = connect(url).unwrap_or_else(|e| panic!("connect {}: {e}", crate::redact(url)));
    c.query(
        "SELECT n.nspname::text, c.relname::text FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') \
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
         ORDER BY 1, 2",
        &[],
    )
    .expect("list tables")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// Content hash of every user table. `ignore` lists what legitimately
/// differs between two runs: `("schema.table", &[])` leaves a table out,
/// `("schema.table", &["col", …])` hashes it without those columns.
pub fn content_hashes(
    url: &str,
    ignore: &[(&str, &[&str])],
) -> std::collections::BTreeMap<String, String> {
    let mut c = connect(url).unwrap_or_else(|e| panic!("connect {}: {e}", crate::redact(url)));
    let mut out = std::collections::BTreeMap::new();
    for (schema, table) in user_tables(url) {
        let key = format!("{schema}.{table}");
        let drop_cols: &[&str] = match ignore.iter().find(|(t, _)| *t == key) {
            Some((_, [])) => continue,
            Some((_, cols)) => cols,
            None => &[],
        };
        let minus = if drop_cols.is_empty() {
            String::new()
        } else {
            let list = drop_cols
                .iter()
                .map(|c| format!("'{c}'"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(" - ARRAY[{list}]::text[]")
        };
        let sql = format!(
            "SELECT count(*), coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), '') FROM \
             (SELECT (to_jsonb(t){minus})::text AS r FROM \"{schema}\".\"{table}\" t) s"
        );
        let row = c
            .query_one(&sql, &[])
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let n: i64 = row.get(0);
        let h: String = row.get(1);
        out.insert(key, format!("rows:{n} md5:{h}"));
    }
    out
}

/// Snapshot of the whole database at `url` (schema dump + every table's content).
pub fn db_snapshot(url: &str) -> DbSnapshot {
    DbSnapshot {
        schema: pg_dump(url, &["--schema-only"]),
        tables: content_hashes(url, &[]),
    }
}

/// What differs between two snapshots, one line per difference (empty when
/// identical): tables added, removed or changed, and the first lines of the
/// schema dump that differ.
pub fn snapshot_diff(before: &DbSnapshot, after: &DbSnapshot) -> Vec<String> {
    let mut diffs = Vec::new();
    for (t, h) in &before.tables {
        match after.tables.get(t) {
            None => diffs.push(format!("table {t} disappeared (was {h})")),
            Some(h2) if h2 != h => diffs.push(format!("table {t} content changed: {h} -> {h2}")),
            Some(_) => {}
        }
    }
    for (t, h) in &after.tables {
        if !before.tables.contains_key(t) {
            diffs.push(format!("table {t} appeared ({h})"));
        }
    }
    if before.schema != after.schema {
        let a: Vec<&str> = before.schema.lines().collect();
        let b: Vec<&str> = after.schema.lines().collect();
        let removed: Vec<&&str> = a.iter().filter(|l| !b.contains(l)).take(8).collect();
        let added: Vec<&&str> = b.iter().filter(|l| !a.contains(l)).take(8).collect();
        let mut schemas: Vec<String> = removed
            .iter()
            .chain(added.iter())
            .filter_map(|l| schema_of_line(l))
            .collect();
        schemas.sort();
        schemas.dedup();
        diffs.push(format!(
            "schema dump differs (schemas involved: {schemas:?}); removed lines: {removed:?}; \
             added lines: {added:?}"
        ));
    }
    diffs
}

fn schema_of_line(line: &str) -> Option<String> {
    let re = regex::Regex::new(r#"\b("?[A-Za-z_][A-Za-z0-9_]*"?)\.[A-Za-z_"]"#).ok()?;
    re.captures(line).map(|c| c[1].trim_matches('"').to_owned())
}

/// Asserts that two snapshots are identical, naming every table and schema
/// that differs.
pub fn assert_same_snapshot(before: &DbSnapshot, after: &DbSnapshot, context: &str) {
    let diffs = snapshot_diff(before, after);
    assert!(
        diffs.is_empty(),
        "{context}: the database changed:\n  {}",
        diffs.join("\n  ")
    );
}
