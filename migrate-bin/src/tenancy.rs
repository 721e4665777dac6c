//! Tenant-distribution readiness, the `tenant-distribution` lint rule: whether the schema
//! the migrations produce could be distributed by `client_account_id` (Citus) as it is.
//!
//! Citus co-locates a tenant's rows only if every tenant-owned table can be distributed by
//! the tenant column, and it refuses what it cannot enforce per shard: a primary key or
//! unique constraint/index without the distribution column, a foreign key between
//! distributed tables that does not pair the two distribution columns, `ON DELETE SET NULL`
//! / `SET DEFAULT` (even PostgreSQL 15's column-list form) or an `ON UPDATE` action on a
//! foreign key that contains the distribution column, and a foreign key from a replicated
//! (reference) table to a distributed one. This module reads those facts from the catalog of
//! a migrated database and reports each violation with the DDL that fixes it; the
//! distribution DDL itself is in docs/scaling.md.
//!
//! A table is **tenant-owned** when it has the tenant column, or when it references a
//! tenant-owned table or the tenant root by any foreign key (so a table that points at
//! tenant data but lacks the column is found and flagged). The tenant root
//! (`client_accounts`) and the declared global and reference tables ([`Layout`]) are
//! replicated, never tenant-owned; every other table must be one or the other. A schema
//! without the tenant root is not multi-tenant in this sense: the rule reports nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use diesel::sql_types::{Array, Bool, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::error::MigrateError;

/// The rule's id in the lint catalogue, the config file and allow comments.
pub(crate) const RULE: &str = "tenant-distribution";

/// What the project declares about its tables (docs/schema.md, "Global (not tenant-owned)
/// tables"; docs/scaling.md shows the DDL each kind gets).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    /// The distribution column every tenant-owned table carries.
    pub tenant_column: &'static str,
    /// The table whose rows are the tenants (referenced by `tenant_column`).
    pub root: &'static str,
    /// Tables shared by every tenant whose rows are not lookup data (replicated).
    pub global: &'static [&'static str],
    /// Lookup data shared by every tenant (replicated).
    pub reference: &'static [&'static str],
}

/// This project's layout.
pub(crate) const PROJECT: Layout = Layout {
    tenant_column: "client_account_id",
    root: "client_accounts",
    global: &["users"],
    reference: &["sixr_strategies", "technology_catalog"],
};

impl Layout {
    fn is_shared(&self, table: &str) -> bool {
        table == self.root || self.global.contains(&table) || self.reference.contains(&table)
    }
}

/// What is wrong, one kind per Citus refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Problem {
    /// References tenant data but has no tenant column.
    MissingColumn,
    /// The tenant column may be NULL (a distributed row needs a distribution value).
    NullableColumn,
    /// The primary key does not contain the tenant column.
    PrimaryKey,
    /// A unique constraint or unique index does not contain the tenant column.
    Unique,
    /// A foreign key between tenant-owned tables does not pair the tenant columns.
    ForeignKey,
    /// A foreign key containing the tenant column sets it (or its row) on delete/update.
    ForeignKeyAction,
    /// A replicated table (root, global, reference) references tenant-owned data.
    SharedReferencesTenant,
    /// Neither tenant-owned nor declared global/reference.
    Undeclared,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingColumn => "missing-column",
            Self::NullableColumn => "nullable-column",
            Self::PrimaryKey => "primary-key",
            Self::Unique => "unique",
            Self::ForeignKey => "foreign-key",
            Self::ForeignKeyAction => "foreign-key-action",
            Self::SharedReferencesTenant => "shared-references-tenant",
            Self::Undeclared => "undeclared",
        })
    }
}

/// One violation: the table, what is wrong (naming the constraint), and the DDL that fixes
/// it (statements in order; a `--` line where a step is the application's or a person's).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Finding {
    pub table: String,
    pub problem: Problem,
    pub message: String,
    pub fix: Vec<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.table, self.message)?;
        for (i, line) in self.fix.iter().enumerate() {
            let label = if i == 0 { "fix:" } else { "    " };
            write!(f, "\n  {label} {line}")?;
        }
        Ok(())
    }
}

/// Checks the schema of the database `conn` is connected to (a scratch database the
/// migrations were applied to) against `layout`. Findings are sorted by table.
pub(crate) async fn check(
    conn: &mut AsyncPgConnection,
    layout: &Layout,
) -> Result<Vec<Finding>, MigrateError> {
    Ok(evaluate(&Catalog::load(conn, layout).await?, layout))
}

/// The catalog facts the rule needs, per table (named as `regclass` prints it: bare when on
/// the search path, else schema-qualified).
#[derive(Debug, Default, Clone)]
pub(crate) struct Catalog {
    /// Every user table, with whether its tenant column is NOT NULL (`None`: no column).
    pub tables: BTreeMap<String, Option<bool>>,
    pub keys: Vec<Key>,
    pub foreign_keys: Vec<ForeignKey>,
}

/// A primary key, unique constraint or unique index.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub table: String,
    pub name: String,
    /// `p`, `u`, or `i` for a unique index that belongs to no constraint.
    pub kind: char,
    /// Key columns in order; `None` for an expression.
    pub columns: Vec<Option<String>>,
}

/// A foreign key constraint.
#[derive(Debug, Clone)]
pub(crate) struct ForeignKey {
    pub table: String,
    pub name: String,
    pub columns: Vec<String>,
    pub target: String,
    pub target_columns: Vec<String>,
    /// `confdeltype` / `confupdtype`: a no action, r restrict, c cascade, n set null,
    /// d set default.
    pub on_delete: char,
    pub on_update: char,
}

#[derive(diesel::QueryableByName)]
struct TableRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Bool>)]
    tenant_not_null: Option<bool>,
}

#[derive(diesel::QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Text)]
    table: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Array<Nullable<Text>>)]
    columns: Vec<Option<String>>,
}

#[derive(diesel::QueryableByName)]
struct ForeignKeyRow {
    #[diesel(sql_type = Text)]
    table: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Array<Text>)]
    columns: Vec<String>,
    #[diesel(sql_type = Text)]
    target: String,
    #[diesel(sql_type = Array<Text>)]
    target_columns: Vec<String>,
    #[diesel(sql_type = Text)]
    on_delete: String,
    #[diesel(sql_type = Text)]
    on_update: String,
}

/// User tables: not the system schemas, not the tools' bookkeeping (`groundwork` schema,
/// diesel's table), not extension members, not partitions (their parent is checked).
const USER_TABLES: &str = "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'groundwork') \
       AND n.nspname NOT LIKE 'pg\\_%' \
       AND NOT (n.nspname = 'public' AND c.relname = '__diesel_schema_migrations') \
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                       AND d.objid = c.oid AND d.deptype = 'e')";

impl Catalog {
    async fn load(conn: &mut AsyncPgConnection, layout: &Layout) -> Result<Self, MigrateError> {
        let tables: Vec<TableRow> = diesel::sql_query(format!(
            "SELECT c.oid::regclass::text AS name, \
                    (SELECT a.attnotnull FROM pg_attribute a WHERE a.attrelid = c.oid \
                       AND a.attname = $1 AND NOT a.attisdropped) AS tenant_not_null \
             FROM pg_class c WHERE c.oid IN ({USER_TABLES})"
        ))
        .bind::<Text, _>(layout.tenant_column)
        .load(conn)
        .await
        .map_err(|e| {
            MigrateError::db("reading the tables for the tenant-distribution check", &e)
        })?;
        // Key columns only (indnkeyatts): INCLUDE columns do not make a key unique.
        let keys: Vec<KeyRow> = diesel::sql_query(format!(
            "SELECT i.indrelid::regclass::text AS table, ic.relname::text AS name, \
                    COALESCE(con.contype::text, 'i') AS kind, \
                    ARRAY(SELECT a.attname::text FROM unnest(i.indkey[0:i.indnkeyatts - 1]) \
                            WITH ORDINALITY k(attnum, ord) \
                          LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                          ORDER BY k.ord) AS columns \
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
             LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid \
                  AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u') \
             WHERE i.indisunique AND i.indrelid IN ({USER_TABLES})"
        ))
        .load(conn)
        .await
        .map_err(|e| MigrateError::db("reading the keys for the tenant-distribution check", &e))?;
        let foreign_keys: Vec<ForeignKeyRow> = diesel::sql_query(format!(
            "SELECT con.conrelid::regclass::text AS table, con.conname::text AS name, \
                    ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, ord) \
                          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n \
                          ORDER BY k.ord) AS columns, \
                    con.confrelid::regclass::text AS target, \
                    ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, ord) \
                          JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n \
                          ORDER BY k.ord) AS target_columns, \
                    con.confdeltype::text AS on_delete, con.confupdtype::text AS on_update \
             FROM pg_constraint con \
             WHERE con.contype = 'f' AND con.conrelid IN ({USER_TABLES}) AND con.conparentid = 0"
        ))
        .load(conn)
        .await
        .map_err(|e| {
            MigrateError::db("reading the foreign keys for the tenant-distribution check", &e)
        })?;
        let first = |s: &str| s.chars().next().unwrap_or('a');
        Ok(Catalog {
            tables: tables
                .into_iter()
                .map(|t| (t.name, t.tenant_not_null))
                .collect(),
            keys: keys
                .into_iter()
                .map(|k| Key {
                    kind: first(&k.kind),
                    table: k.table,
                    name: k.name,
                    columns: k.columns,
                })
                .collect(),
            foreign_keys: foreign_keys
                .into_iter()
                .map(|f| ForeignKey {
                    on_delete: first(&f.on_delete),
                    on_update: first(&f.on_update),
                    table: f.table,
                    name: f.name,
                    columns: f.columns,
                    target: f.target,
                    target_columns: f.target_columns,
                })
                .collect(),
        })
    }
}

/// The tenant-owned tables: those with the tenant column, then (to a fixed point) those
/// referencing a tenant-owned table or the root. Replicated tables never are.
fn tenant_owned(catalog: &Catalog, layout: &Layout) -> BTreeSet<String> {
    let mut owned: BTreeSet<String> = catalog
        .tables
        .iter()
        .filter(|(t, col)| col.is_some() && !layout.is_shared(t))
        .map(|(t, _)| t.clone())
        .collect();
    loop {
        let more: Vec<String> = catalog
            .foreign_keys
            .iter()
            .filter(|fk| !layout.is_shared(&fk.table) && !owned.contains(&fk.table))
            .filter(|fk| fk.target == layout.root || owned.contains(&fk.target))
            .map(|fk| fk.table.clone())
            .collect();
        if more.is_empty() {
            return owned;
        }
        owned.extend(more);
    }
}

/// The rule itself, on catalog facts (pure, so every case is testable without a server).
pub(crate) fn evaluate(catalog: &Catalog, layout: &Layout) -> Vec<Finding> {
    if !catalog.tables.contains_key(layout.root) {
        return Vec::new();
    }
    let col = layout.tenant_column;
    let owned = tenant_owned(catalog, layout);
    let mut findings = Vec::new();
    for (table, tenant_col) in &catalog.tables {
        if !owned.contains(table) {
            if !layout.is_shared(table) {
                findings.push(undeclared(table, layout));
            }
            continue;
        }
        match tenant_col {
            None => findings.push(missing_column(table, catalog, layout)),
            Some(false) => findings.push(Finding {
                table: table.clone(),
                problem: Problem::NullableColumn,
                message: format!(
                    "{col} may be NULL; a distributed row needs a distribution value"
                ),
                fix: vec![
                    format!("ALTER TABLE {table} ADD CONSTRAINT {table}_{col}_not_null CHECK ({col} IS NOT NULL) NOT VALID;"),
                    format!("ALTER TABLE {table} VALIDATE CONSTRAINT {table}_{col}_not_null;"),
                    format!("ALTER TABLE {table} ALTER COLUMN {col} SET NOT NULL;"),
                ],
            }),
            Some(true) => {}
        }
    }
    for key in &catalog.keys {
        if owned.contains(&key.table) && !key.columns.iter().any(|c| c.as_deref() == Some(col)) {
            findings.push(key_finding(key, col));
        }
    }
    for fk in &catalog.foreign_keys {
        findings.extend(foreign_key_finding(fk, &owned, layout));
    }
    findings
        .sort_by(|a, b| (&a.table, a.problem, &a.message).cmp(&(&b.table, b.problem, &b.message)));
    findings
}

fn undeclared(table: &str, layout: &Layout) -> Finding {
    Finding {
        table: table.to_string(),
        problem: Problem::Undeclared,
        message: format!(
            "has no {col} and references no tenant data, but is not declared global or \
             reference, so it could be neither distributed nor replicated as it is",
            col = layout.tenant_column
        ),
        fix: vec![
            format!(
                "-- tenant data: ALTER TABLE {table} ADD COLUMN {col} uuid REFERENCES {root} (id); \
                 then backfill, SET NOT NULL and add it to every key",
                col = layout.tenant_column,
                root = layout.root
            ),
            "-- shared data: add it to the global or reference tables of tenancy::PROJECT and docs/schema.md".into(),
        ],
    }
}

fn missing_column(table: &str, catalog: &Catalog, layout: &Layout) -> Finding {
    let col = layout.tenant_column;
    let via: Vec<String> = catalog
        .foreign_keys
        .iter()
        .filter(|fk| fk.table == table)
        .map(|fk| format!("{} ({}) -> {}", fk.name, fk.columns.join(", "), fk.target))
        .collect();
    Finding {
        table: table.to_string(),
        problem: Problem::MissingColumn,
        message: format!(
            "references tenant data ({}) but has no {col}, so its rows cannot live on their \
             tenant's shard",
            via.join("; ")
        ),
        fix: vec![
            format!(
                "ALTER TABLE {table} ADD COLUMN {col} uuid REFERENCES {} (id);",
                layout.root
            ),
            format!(
                "-- backfill {col} from the parent row, then SET NOT NULL and add {col} to the primary key, every unique key and every foreign key to tenant data"
            ),
        ],
    }
}

fn key_finding(key: &Key, col: &str) -> Finding {
    let shown: Vec<&str> = key
        .columns
        .iter()
        .map(|c| c.as_deref().unwrap_or("(expression)"))
        .collect();
    let (table, name) = (&key.table, &key.name);
    let plain: Option<Vec<&str>> = key.columns.iter().map(|c| c.as_deref()).collect();
    let new_index = format!(
        "{}_tenant",
        name.trim_end_matches("_key").trim_end_matches("_pkey")
    );
    let (what, problem, fix) = match (key.kind, plain) {
        ('p', Some(cols)) => (
            "primary key",
            Problem::PrimaryKey,
            vec![
                format!(
                    "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {new_index} ON {table} ({col}, {});",
                    cols.join(", ")
                ),
                format!(
                    "ALTER TABLE {table} DROP CONSTRAINT {name}, ADD CONSTRAINT {name} PRIMARY KEY USING INDEX {new_index};"
                ),
            ],
        ),
        ('u', Some(cols)) => (
            "unique constraint",
            Problem::Unique,
            vec![
                format!(
                    "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {new_index} ON {table} ({col}, {});",
                    cols.join(", ")
                ),
                format!(
                    "ALTER TABLE {table} DROP CONSTRAINT {name}, ADD CONSTRAINT {name} UNIQUE USING INDEX {new_index};"
                ),
            ],
        ),
        (kind, _) => (
            if kind == 'i' { "unique index" } else { "key" },
            if kind == 'p' {
                Problem::PrimaryKey
            } else {
                Problem::Unique
            },
            vec![
                format!(
                    "-- create a unique index CONCURRENTLY with the same definition and {col} added, then:"
                ),
                format!("DROP INDEX CONCURRENTLY IF EXISTS {name};"),
            ],
        ),
    };
    Finding {
        table: table.clone(),
        problem,
        message: format!(
            "{what} {name} ({}) does not include {col}; a table distributed by {col} can only \
             enforce keys that contain it",
            shown.join(", ")
        ),
        fix,
    }
}

fn foreign_key_finding(
    fk: &ForeignKey,
    owned: &BTreeSet<String>,
    layout: &Layout,
) -> Option<Finding> {
    let col = layout.tenant_column;
    let (table, name, target) = (&fk.table, &fk.name, &fk.target);
    let from_owned = owned.contains(table);
    if !from_owned {
        // Only a replicated table can get here (an unreplicated referrer is tenant-owned).
        return owned.contains(target).then(|| Finding {
            table: table.clone(),
            problem: Problem::SharedReferencesTenant,
            message: format!(
                "{name} references tenant-owned {target}, but {table} is replicated to every \
                 node and Citus allows no foreign key from a replicated table to a distributed one"
            ),
            fix: vec![
                format!("ALTER TABLE {table} DROP CONSTRAINT {name};"),
                format!("-- or make {table} tenant-owned: add {col}, and remove it from the declared global/reference tables"),
            ],
        });
    }
    let pos = fk.columns.iter().position(|c| c == col);
    let paired = owned.contains(target)
        && pos.is_some_and(|i| fk.target_columns.get(i).map(String::as_str) == Some(col));
    let cols = fk.columns.join(", ");
    let target_cols = fk.target_columns.join(", ");
    if owned.contains(target) && !paired {
        let (new_cols, new_target): (Vec<&str>, Vec<&str>) = std::iter::once((col, col))
            .chain(
                fk.columns
                    .iter()
                    .zip(&fk.target_columns)
                    .filter(|(c, t)| c.as_str() != col && t.as_str() != col)
                    .map(|(c, t)| (c.as_str(), t.as_str())),
            )
            .unzip();
        return Some(Finding {
            table: table.clone(),
            problem: Problem::ForeignKey,
            message: format!(
                "foreign key {name} ({cols}) -> {target} ({target_cols}) does not pair {col} \
                 with {target}.{col}; between tables distributed by {col} Citus only accepts \
                 keys that do, and it is also what stops a row pointing at another tenant's"
            ),
            fix: vec![
                format!(
                    "ALTER TABLE {table} DROP CONSTRAINT {name}, ADD CONSTRAINT {name} FOREIGN KEY ({}) REFERENCES {target} ({}){} NOT VALID;",
                    new_cols.join(", "),
                    new_target.join(", "),
                    action_sql(fk)
                ),
                format!("ALTER TABLE {table} VALIDATE CONSTRAINT {name};"),
            ],
        });
    }
    let sets_on_delete = matches!(fk.on_delete, 'n' | 'd');
    let acts_on_update = matches!(fk.on_update, 'n' | 'd' | 'c');
    if pos.is_some() && (sets_on_delete || acts_on_update) {
        let what = if sets_on_delete {
            format!("ON DELETE {}", action_word(fk.on_delete))
        } else {
            format!("ON UPDATE {}", action_word(fk.on_update))
        };
        return Some(Finding {
            table: table.clone(),
            problem: Problem::ForeignKeyAction,
            message: format!(
                "foreign key {name} ({cols}) -> {target} has {what}; Citus refuses that action \
                 on a foreign key that contains the distribution column {col} (also with a \
                 column list)"
            ),
            fix: vec![
                format!(
                    "ALTER TABLE {table} DROP CONSTRAINT {name}, ADD CONSTRAINT {name} FOREIGN KEY ({cols}) REFERENCES {target} ({target_cols}){} NOT VALID;",
                    if fk.on_delete == 'c' {
                        " ON DELETE CASCADE"
                    } else {
                        ""
                    }
                ),
                format!("ALTER TABLE {table} VALIDATE CONSTRAINT {name};"),
                format!(
                    "-- the application clears the reference before it deletes the {target} row"
                ),
            ],
        });
    }
    None
}

fn action_word(action: char) -> &'static str {
    match action {
        'r' => "RESTRICT",
        'c' => "CASCADE",
        'n' => "SET NULL",
        'd' => "SET DEFAULT",
        _ => "NO ACTION",
    }
}

/// The ON DELETE clause to keep when a key is rewritten (its ON UPDATE is reported on its own).
fn action_sql(fk: &ForeignKey) -> String {
    match fk.on_delete {
        'r' | 'c' => format!(" ON DELETE {}", action_word(fk.on_delete)),
        _ => String::new(),
    }
}

#[cfg(test)]
#[path = "tenancy_tests.rs"]
mod tests;
