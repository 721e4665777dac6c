//! The live schema of a database as data: a [`Catalog`] read from PostgreSQL's system
//! catalogs in one query ([`snapshot`]), and the differences between two of them as DDL
//! ([`diff`]). `verify --schema` compares the live database with a scratch database the
//! migrations were applied into; other checks read one catalog (e.g. which tables have which
//! keys).
//!
//! Bookkeeping is not schema: the `groundwork` schema (checksums, environment stamp, audit
//! log, seed ledger), diesel_cli's `__diesel_schema_migrations`, system schemas and the
//! members of extensions (an extension is compared as one object) are left out.
//!
//! Every name is as PostgreSQL's `%I` quotes it (`public.assets`, `public."Odd Name"`), so a
//! name is valid SQL as printed. (`commands/catalog.rs` holds the small catalog facts single
//! commands ask for; this module is the whole-schema picture.)

mod ddl;
mod diff;
mod snapshot;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub(crate) use diff::{Change, Difference, diff};
pub(crate) use snapshot::snapshot;

/// The schema of one database.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Catalog {
    /// Installed extensions by name.
    #[serde(default)]
    pub extensions: BTreeMap<String, Extension>,
    /// Enum types (`schema.name`) with their labels in sort order.
    #[serde(default)]
    pub enums: BTreeMap<String, Vec<String>>,
    /// Tables (`schema.name`), partitioned ones and partitions included.
    #[serde(default)]
    pub tables: BTreeMap<String, Table>,
    /// Views and materialized views (`schema.name`).
    #[serde(default)]
    pub views: BTreeMap<String, View>,
    /// Indexes (`schema.name`) that no primary key, unique or exclusion constraint owns
    /// (those are compared as the constraint).
    #[serde(default)]
    pub indexes: BTreeMap<String, Index>,
    /// Functions and procedures (`schema.name(argument types)`).
    #[serde(default)]
    pub functions: BTreeMap<String, Function>,
    /// User triggers (`schema.table.trigger`).
    #[serde(default)]
    pub triggers: BTreeMap<String, Trigger>,
}

/// An installed extension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Extension {
    /// The schema its objects live in.
    pub schema: String,
    /// The installed version.
    pub version: String,
}

/// A table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Table {
    /// `table`, `partitioned table` or `unlogged table`.
    pub kind: String,
    /// Its columns in position order.
    #[serde(default)]
    pub columns: Vec<Column>,
    /// Its constraints by name.
    #[serde(default)]
    pub constraints: BTreeMap<String, Constraint>,
}

impl Table {
    /// The column called `name`.
    pub(crate) fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A column of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Column {
    /// Its name.
    pub name: String,
    /// Its type as `format_type` writes it (e.g. `character varying(100)`).
    #[serde(rename = "type")]
    pub data_type: String,
    /// Its default expression, if any (a generated column's expression is in `generated`).
    pub default: Option<String>,
    /// `NOT NULL`.
    pub not_null: bool,
    /// `ALWAYS` or `BY DEFAULT` for an identity column.
    pub identity: Option<String>,
    /// The expression of a `GENERATED ALWAYS AS (…) STORED` column.
    pub generated: Option<String>,
}

/// A table constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Constraint {
    /// `primary key`, `unique`, `foreign key`, `check`, `exclusion` or `trigger`.
    pub kind: String,
    /// As `pg_get_constraintdef` writes it (e.g. `FOREIGN KEY (a) REFERENCES t(id)`).
    pub definition: String,
}

/// A view or materialized view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct View {
    /// `view` or `materialized view`.
    pub kind: String,
    /// Its query, as `pg_get_viewdef` writes it.
    pub definition: String,
}

/// An index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Index {
    /// The table (`schema.name`).
    pub table: String,
    /// As `pg_get_indexdef` writes it.
    pub definition: String,
    /// False for an INVALID index (a failed or interrupted `CREATE INDEX CONCURRENTLY`).
    pub valid: bool,
}

/// A function or procedure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Function {
    /// `function` or `procedure`.
    pub kind: String,
    /// `md5` of the whole definition, to compare at a glance in JSON.
    pub hash: String,
    /// The whole definition, as `pg_get_functiondef` writes it (`CREATE OR REPLACE …`).
    pub definition: String,
}

/// A trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Trigger {
    /// The table (`schema.name`).
    pub table: String,
    /// The trigger's own name.
    pub name: String,
    /// As `pg_get_triggerdef` writes it.
    pub definition: String,
    /// `O` (enabled), `D` (disabled), `R` (replica only) or `A` (always), as pg_trigger.
    pub enabled: String,
}
