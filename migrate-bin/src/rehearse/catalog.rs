//! A comparable picture of the schema, for the `down-not-undo` check: one line per object
//! (table, column, constraint, index, type, function, trigger, view, sequence, extension),
//! so "after down.sql" and "before up.sql" compare as two sets of lines.

use std::collections::BTreeSet;

use tokio_postgres::Client;

/// The schema's lines, sorted.
pub type Catalog = BTreeSet<String>;

// The tool's own bookkeeping (schema `groundwork`, diesel's table) changes with every
// migration by design, so it is left out.
const USER_NS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'groundwork') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'";

fn queries() -> Vec<String> {
    vec![
        format!(
            "SELECT 'relation ' || n.nspname || '.' || c.relname || ' kind ' || c.relkind::text \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {USER_NS} \
               AND c.relname <> '__diesel_schema_migrations'"
        ),
        format!(
            "SELECT 'column ' || n.nspname || '.' || c.relname || '.' || a.attname || ' ' \
               || format_type(a.atttypid, a.atttypmod) \
               || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END \
               || COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '') \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
               AND {USER_NS} AND c.relname <> '__diesel_schema_migrations'"
        ),
        format!(
            "SELECT 'constraint ' || n.nspname || '.' || c.relname || ' ' || k.conname || ' ' \
               || pg_get_constraintdef(k.oid) \
             FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE {USER_NS} AND c.relname <> '__diesel_schema_migrations'"
        ),
        format!(
            "SELECT 'index ' || pg_get_indexdef(i.indexrelid) \
               || CASE WHEN i.indisvalid THEN '' ELSE ' (INVALID)' END \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE {USER_NS} AND c.relname <> '__diesel_schema_migrations_pkey'"
        ),
        format!(
            "SELECT 'type ' || n.nspname || '.' || t.typname || ' ' || t.typtype::text \
               || COALESCE(' (' || (SELECT string_agg(quote_literal(e.enumlabel), ', ' \
                  ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) || ')', '') \
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
             WHERE t.typtype IN ('e', 'd', 'r') AND {USER_NS}"
        ),
        format!(
            "SELECT 'function ' || n.nspname || '.' || p.proname || '(' \
               || pg_get_function_identity_arguments(p.oid) || ') ' || md5(pg_get_functiondef(p.oid)) \
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE p.prokind IN ('f', 'p') AND {USER_NS} \
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')"
        ),
        format!(
            "SELECT 'trigger ' || pg_get_triggerdef(t.oid) \
             FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE NOT t.tgisinternal AND {USER_NS}"
        ),
        format!(
            "SELECT 'view ' || n.nspname || '.' || c.relname || ' ' || md5(pg_get_viewdef(c.oid)) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('v', 'm') AND {USER_NS}"
        ),
        "SELECT 'extension ' || extname FROM pg_extension".to_string(),
    ]
}

/// Reads the catalog of the database `client` is connected to.
pub async fn snapshot(client: &Client) -> Result<Catalog, tokio_postgres::Error> {
    let mut lines = Catalog::new();
    for sql in queries() {
        for row in client.query(&sql, &[]).await? {
            lines.insert(row.get(0));
        }
    }
    Ok(lines)
}

/// What `after` has that `before` lacks (`+`) and the reverse (`-`).
pub fn differences(before: &Catalog, after: &Catalog) -> Vec<String> {
    let extra = after.difference(before).map(|l| format!("+ {l}"));
    let missing = before.difference(after).map(|l| format!("- {l}"));
    extra.chain(missing).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_extra_and_missing_lines() {
        let before: Catalog = ["column a.x int", "index i"].map(String::from).into();
        let after: Catalog = ["column a.x bigint", "index i"].map(String::from).into();
        assert_eq!(
            differences(&before, &after),
            vec!["+ column a.x bigint", "- column a.x int"]
        );
        assert!(differences(&before, &before).is_empty());
    }
}
