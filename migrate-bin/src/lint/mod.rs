//! A small scanner for operations known to lock or rewrite big tables, for `migrate plan`
//! and the production plan. It looks at statements as text (no full SQL parser): good enough
//! to flag the usual suspects, and it never blocks a run, it only warns.

pub mod catalog;

use crate::split::split_statements;

/// One risky operation found in a migration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    /// Short kind, e.g. `index_without_concurrently`.
    pub kind: &'static str,
    /// The table concerned, as written in the SQL (lower-cased), when known.
    pub table: Option<String>,
    /// What it does and what to do instead.
    pub message: String,
}

/// Scans `sql` and returns warnings. `table_exists` tells whether a table already exists in
/// the database: operations on tables the pending migrations create are harmless (empty).
pub fn scan(sql: &str, table_exists: &dyn Fn(&str) -> bool) -> Vec<Warning> {
    let mut warnings = Vec::new();
    for statement in split_statements(sql) {
        let code = strip_comments(&statement);
        let upper = normalise(&code);
        scan_statement(&upper, &code, table_exists, &mut warnings);
    }
    warnings
}

fn scan_statement(
    upper: &str,
    code: &str,
    table_exists: &dyn Fn(&str) -> bool,
    out: &mut Vec<Warning>,
) {
    let words: Vec<&str> = upper.split(' ').collect();
    let original: Vec<String> = normalise(code).split(' ').map(str::to_lowercase).collect();
    let starts = |prefix: &[&str]| words.len() >= prefix.len() && words[..prefix.len()] == *prefix;

    if starts(&["CREATE", "INDEX"]) || starts(&["CREATE", "UNIQUE", "INDEX"]) {
        if !words.contains(&"CONCURRENTLY")
            && let Some(pos) = words.iter().position(|w| *w == "ON")
        {
            let t = if words.get(pos + 1) == Some(&"ONLY") {
                pos + 2
            } else {
                pos + 1
            };
            if let Some(table) = original.get(t).map(|s| clean_name(s))
                && table_exists(&table)
            {
                out.push(Warning {
                    kind: "index_without_concurrently",
                    table: Some(table.clone()),
                    message: format!(
                        "CREATE INDEX on existing table {table} without CONCURRENTLY blocks writes to it while the index builds; use CREATE INDEX CONCURRENTLY in a run_in_transaction = false migration"
                    ),
                });
            }
        }
        return;
    }

    if starts(&["DROP", "TABLE"]) {
        let mut t = 2;
        if words.get(t) == Some(&"IF") && words.get(t + 1) == Some(&"EXISTS") {
            t += 2;
        }
        let table = original.get(t).map(|s| clean_name(s));
        out.push(Warning {
            kind: "drop_table",
            message: format!(
                "DROP TABLE {} destroys its data and takes an exclusive lock; make sure nothing reads it any more and a backup exists",
                table.as_deref().unwrap_or("?")
            ),
            table,
        });
        return;
    }

    if !starts(&["ALTER", "TABLE"]) {
        return;
    }
    let mut t = 2;
    if words.get(t) == Some(&"IF") && words.get(t + 1) == Some(&"EXISTS") {
        t += 2;
    }
    if words.get(t) == Some(&"ONLY") {
        t += 1;
    }
    let Some(table) = original.get(t).map(|s| clean_name(s)) else {
        return;
    };
    if !table_exists(&table) {
        return;
    }
    // Each comma-separated action of the ALTER TABLE, roughly (commas inside parentheses of
    // a CHECK are rare enough in such actions not to matter for a warning).
    let actions = upper.splitn(t + 2, ' ').last().unwrap_or_default();
    for action in actions.split(',') {
        let a = action.trim();
        let has = |needle: &str| a.contains(needle);
        let warn = |kind: &'static str, message: String| Warning {
            kind,
            table: Some(table.clone()),
            message,
        };
        if a.starts_with("ADD") && !has("CONSTRAINT") && has(" NOT NULL") && !has(" DEFAULT ") {
            out.push(warn(
                "add_not_null_column_without_default",
                format!("adding a NOT NULL column without DEFAULT to {table} fails on existing rows or needs a full rewrite; add it nullable, backfill, then SET NOT NULL"),
            ));
        }
        if has("ALTER COLUMN") && (has(" TYPE ") || has(" SET DATA TYPE "))
            || (a.starts_with("ALTER ") && has(" TYPE "))
        {
            out.push(warn(
                "alter_column_type",
                format!("changing a column type on {table} usually rewrites the table under an exclusive lock; add a new column and backfill instead"),
            ));
        }
        if a.starts_with("DROP COLUMN")
            || (a.starts_with("DROP ") && !has("CONSTRAINT") && !has("DEFAULT") && !has("NOT NULL"))
        {
            out.push(warn(
                "drop_column",
                format!("dropping a column of {table} breaks code that still reads it; deploy code that no longer uses it first"),
            ));
        }
        if a.starts_with("ADD")
            && (has("FOREIGN KEY") || has("CHECK") || (has("CONSTRAINT") && has("REFERENCES")))
            && !has("NOT VALID")
        {
            out.push(warn(
                "constraint_without_not_valid",
                format!("adding a foreign key or check to {table} without NOT VALID scans the whole table under lock; add it NOT VALID, then VALIDATE CONSTRAINT in a later migration"),
            ));
        }
    }
}

fn strip_comments(statement: &str) -> String {
    statement
        .lines()
        .map(|l| match l.find("--") {
            Some(i) if !l[..i].contains('\'') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Upper-cased, single-spaced text.
fn normalise(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// `public."Accounts"(` → `public.accounts`; drops a trailing parenthesis or semicolon.
fn clean_name(raw: &str) -> String {
    let end = raw.find('(').unwrap_or(raw.len());
    raw[..end]
        .trim_end_matches(';')
        .replace('"', "")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<&'static str> {
        scan(sql, &|t| t == "accounts" || t == "public.accounts")
            .into_iter()
            .map(|w| w.kind)
            .collect()
    }

    #[test]
    fn flags_index_without_concurrently_on_existing_tables_only() {
        assert_eq!(
            kinds("CREATE INDEX a_idx ON accounts (name);"),
            ["index_without_concurrently"]
        );
        assert_eq!(
            kinds("CREATE UNIQUE INDEX a_idx ON public.accounts(name);"),
            ["index_without_concurrently"]
        );
        assert!(kinds("CREATE INDEX CONCURRENTLY a_idx ON accounts (name);").is_empty());
        assert!(kinds("CREATE INDEX n_idx ON new_table (x);").is_empty());
    }

    #[test]
    fn flags_not_null_column_without_default() {
        assert_eq!(
            kinds("ALTER TABLE accounts ADD COLUMN x int NOT NULL;"),
            ["add_not_null_column_without_default"]
        );
        assert!(kinds("ALTER TABLE accounts ADD COLUMN x int NOT NULL DEFAULT 0;").is_empty());
        assert!(kinds("ALTER TABLE accounts ADD COLUMN x int;").is_empty());
    }

    #[test]
    fn flags_type_change_drop_column_and_constraints() {
        assert_eq!(
            kinds("ALTER TABLE accounts ALTER COLUMN name TYPE varchar(10);"),
            ["alter_column_type"]
        );
        assert_eq!(
            kinds("ALTER TABLE accounts DROP COLUMN name;"),
            ["drop_column"]
        );
        assert_eq!(
            kinds("ALTER TABLE accounts ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES b (id);"),
            ["constraint_without_not_valid"]
        );
        assert!(kinds("ALTER TABLE accounts ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES b (id) NOT VALID;").is_empty());
        assert_eq!(
            kinds("ALTER TABLE accounts ADD CONSTRAINT c CHECK (x > 0);"),
            ["constraint_without_not_valid"]
        );
        assert!(kinds("ALTER TABLE accounts DROP CONSTRAINT c;").is_empty());
    }

    #[test]
    fn flags_drop_table_always_and_ignores_new_tables_for_alter() {
        assert_eq!(kinds("DROP TABLE IF EXISTS whatever;"), ["drop_table"]);
        assert!(kinds("ALTER TABLE new_table ADD COLUMN x int NOT NULL;").is_empty());
    }

    #[test]
    fn comments_do_not_trigger_warnings() {
        assert!(kinds("-- DROP TABLE accounts;\nSELECT 1;").is_empty());
    }
}
