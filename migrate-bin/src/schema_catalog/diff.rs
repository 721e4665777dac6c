//! Two catalogs compared: what the live database has that the migrations do not make
//! (extra), what they make that it lacks (missing), and what both have but differently.
//!
//! Each difference carries the DDL that turns the expected schema into the live one, i.e.
//! what someone probably ran by hand: put it in a migration to keep the change, or undo it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::ddl;
use super::{Catalog, Table};

/// How an object differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Change {
    /// In the live database only.
    Extra,
    /// Made by the migrations, absent from the live database.
    Missing,
    /// In both, not the same.
    Different,
}

impl Change {
    /// `+`, `-` or `~`, as the text report marks it.
    pub(crate) fn sign(self) -> char {
        match self {
            Self::Extra => '+',
            Self::Missing => '-',
            Self::Different => '~',
        }
    }
}

/// One difference between the expected and the live schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Difference {
    /// Extra, missing or different.
    pub change: Change,
    /// `extension`, `enum`, `table`, `column`, `constraint`, `view`, `index`, `function`
    /// or `trigger`.
    pub kind: &'static str,
    /// The object, e.g. `public.assets.note` for a column.
    pub object: String,
    /// What differs, in words (empty when the sign says it all).
    pub detail: String,
    /// The DDL that turns the expected object into the live one (`--` lines where no
    /// statement can).
    pub ddl: String,
    /// The definition the migrations make, when there is one to show.
    pub expected: Option<String>,
    /// The definition in the live database.
    pub actual: Option<String>,
}

/// Every difference between `expected` (the migrations' schema) and `actual` (the live
/// one), in a stable order: extensions, enums, tables (then their columns and
/// constraints), views, indexes, functions, triggers; by name within each.
pub(crate) fn diff(expected: &Catalog, actual: &Catalog) -> Vec<Difference> {
    let mut out = Vec::new();
    extensions(expected, actual, &mut out);
    enums(expected, actual, &mut out);
    tables(expected, actual, &mut out);
    views(expected, actual, &mut out);
    indexes(expected, actual, &mut out);
    functions(expected, actual, &mut out);
    triggers(expected, actual, &mut out);
    out
}

/// The union of both maps' keys, each with what either side has.
fn pairs<'a, V>(
    expected: &'a BTreeMap<String, V>,
    actual: &'a BTreeMap<String, V>,
) -> impl Iterator<Item = (&'a String, Option<&'a V>, Option<&'a V>)> {
    let keys: BTreeSet<&String> = expected.keys().chain(actual.keys()).collect();
    keys.into_iter()
        .map(|k| (k, expected.get(k), actual.get(k)))
}

fn push(
    out: &mut Vec<Difference>,
    change: Change,
    kind: &'static str,
    object: &str,
    detail: impl Into<String>,
    ddl: impl Into<String>,
) -> usize {
    out.push(Difference {
        change,
        kind,
        object: object.to_string(),
        detail: detail.into(),
        ddl: ddl.into(),
        expected: None,
        actual: None,
    });
    out.len() - 1
}

fn extensions(expected: &Catalog, actual: &Catalog, out: &mut Vec<Difference>) {
    for (name, e, a) in pairs(&expected.extensions, &actual.extensions) {
        match (e, a) {
            (None, Some(a)) => {
                push(
                    out,
                    Change::Extra,
                    "extension",
                    name,
                    format!("version {}", a.version),
                    format!(
                        "CREATE EXTENSION {name} WITH SCHEMA {} VERSION {};",
                        a.schema,
                        ddl::literal(&a.version)
                    ),
                );
            }
            (Some(_), None) => {
                push(
                    out,
                    Change::Missing,
                    "extension",
                    name,
                    "",
                    format!("DROP EXTENSION {name};"),
                );
            }
            (Some(e), Some(a)) if e != a => {
                let mut statements = Vec::new();
                if e.version != a.version {
                    statements.push(format!(
                        "ALTER EXTENSION {name} UPDATE TO {};",
                        ddl::literal(&a.version)
                    ));
                }
                if e.schema != a.schema {
                    statements.push(format!("ALTER EXTENSION {name} SET SCHEMA {};", a.schema));
                }
                push(
                    out,
                    Change::Different,
                    "extension",
                    name,
                    format!(
                        "version {} in schema {} expected, version {} in schema {} in the database",
                        e.version, e.schema, a.version, a.schema
                    ),
                    statements.join("\n"),
                );
            }
            _ => {}
        }
    }
}

fn enums(expected: &Catalog, actual: &Catalog, out: &mut Vec<Difference>) {
    for (name, e, a) in pairs(&expected.enums, &actual.enums) {
        let labels = |l: &[String]| {
            l.iter()
                .map(|s| ddl::literal(s))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (e, a) {
            (None, Some(a)) => {
                push(
                    out,
                    Change::Extra,
                    "enum",
                    name,
                    "",
                    format!("CREATE TYPE {name} AS ENUM ({});", labels(a)),
                );
            }
            (Some(_), None) => {
                push(
                    out,
                    Change::Missing,
                    "enum",
                    name,
                    "",
                    format!("DROP TYPE {name};"),
                );
            }
            (Some(e), Some(a)) if e != a => {
                let detail = format!(
                    "labels ({}) expected, ({}) in the database",
                    labels(e),
                    labels(a)
                );
                let statements = match added_labels(e, a) {
                    Some(added) => added
                        .iter()
                        .map(|(label, position)| {
                            format!(
                                "ALTER TYPE {name} ADD VALUE {}{position};",
                                ddl::literal(label)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                    None => {
                        "-- labels were removed, renamed or reordered: no ALTER TYPE ADD VALUE \
                             makes this; compare the label lists"
                            .to_string()
                    }
                };
                let i = push(out, Change::Different, "enum", name, detail, statements);
                out[i].expected = Some(labels(e));
                out[i].actual = Some(labels(a));
            }
            _ => {}
        }
    }
}

/// When `actual` is `expected` with labels inserted (order kept), the added labels with
/// their `BEFORE`/`AFTER` clause; otherwise `None`.
fn added_labels(expected: &[String], actual: &[String]) -> Option<Vec<(String, String)>> {
    let mut rest = expected.iter().peekable();
    let mut added = Vec::new();
    let mut previous: Option<&String> = None;
    for label in actual {
        if rest.peek() == Some(&label) {
            rest.next();
        } else if expected.contains(label) {
            return None;
        } else {
            let position = match previous {
                Some(p) => format!(" AFTER {}", ddl::literal(p)),
                None => format!(" BEFORE {}", ddl::literal(expected.first()?)),
            };
            added.push((label.clone(), position));
        }
        previous = Some(label);
    }
    if rest.next().is_some() {
        return None;
    }
    Some(added)
}

fn tables(expected: &Catalog, actual: &Catalog, out: &mut Vec<Difference>) {
    for (name, e, a) in pairs(&expected.tables, &actual.tables) {
        match (e, a) {
            (None, Some(a)) => {
                push(
                    out,
                    Change::Extra,
                    "table",
                    name,
                    "",
                    ddl::create_table(name, a),
                );
            }
            (Some(_), None) => {
                push(
                    out,
                    Change::Missing,
                    "table",
                    name,
                    "",
                    format!("DROP TABLE {name};"),
                );
            }
            (Some(e), Some(a)) if e != a => table(name, e, a, out),
            _ => {}
        }
    }
}

fn table(name: &str, e: &Table, a: &Table, out: &mut Vec<Difference>) {
    if e.kind != a.kind {
        push(
            out,
            Change::Different,
            "table",
            name,
            format!("{} expected, {} in the database", e.kind, a.kind),
            match a.kind.as_str() {
                "unlogged table" => format!("ALTER TABLE {name} SET UNLOGGED;"),
                "table" if e.kind == "unlogged table" => format!("ALTER TABLE {name} SET LOGGED;"),
                _ => "-- a table cannot be turned into a partitioned one (or back) in place".into(),
            },
        );
    }
    for c in &a.columns {
        let object = format!("{name}.{}", c.name);
        match e.column(&c.name) {
            None => {
                push(
                    out,
                    Change::Extra,
                    "column",
                    &object,
                    "",
                    format!("ALTER TABLE {name} ADD COLUMN {};", ddl::column(c)),
                );
            }
            Some(ec) if ec != c => {
                let i = push(
                    out,
                    Change::Different,
                    "column",
                    &object,
                    format!(
                        "{} expected, {} in the database",
                        ddl::column(ec),
                        ddl::column(c)
                    ),
                    ddl::alter_column(name, ec, c).join("\n"),
                );
                out[i].expected = Some(ddl::column(ec));
                out[i].actual = Some(ddl::column(c));
            }
            Some(_) => {}
        }
    }
    for c in &e.columns {
        if a.column(&c.name).is_none() {
            push(
                out,
                Change::Missing,
                "column",
                &format!("{name}.{}", c.name),
                "",
                format!("ALTER TABLE {name} DROP COLUMN {};", c.name),
            );
        }
    }
    for (cname, ek, ak) in pairs(&e.constraints, &a.constraints) {
        let object = format!("{name}.{cname}");
        match (ek, ak) {
            (None, Some(ak)) => {
                let i = push(
                    out,
                    Change::Extra,
                    "constraint",
                    &object,
                    ak.kind.clone(),
                    ddl::add_constraint(name, cname, ak),
                );
                out[i].actual = Some(ak.definition.clone());
            }
            (Some(ek), None) => {
                let i = push(
                    out,
                    Change::Missing,
                    "constraint",
                    &object,
                    ek.kind.clone(),
                    ddl::drop_constraint(name, cname),
                );
                out[i].expected = Some(ek.definition.clone());
            }
            (Some(ek), Some(ak)) if ek != ak => {
                let i = push(
                    out,
                    Change::Different,
                    "constraint",
                    &object,
                    format!(
                        "{} expected, {} in the database",
                        ek.definition, ak.definition
                    ),
                    format!(
                        "{}\n{}",
                        ddl::drop_constraint(name, cname),
                        ddl::add_constraint(name, cname, ak)
                    ),
                );
                out[i].expected = Some(ek.definition.clone());
                out[i].actual = Some(ak.definition.clone());
            }
            _ => {}
        }
    }
}

fn views(expected: &Catalog, actual: &Catalog, out: &mut Vec<Difference>) {
    for (name, e, a) in pairs(&expected.views, &actual.views) {
        let create = |kind: &str, def: &str| {
            let def = def.trim().trim_end_matches(';');
            match kind {
                "materialized view" => format!("CREATE MATERIALIZED VIEW {name} AS\n{def};"),
                _ => format!("CREATE OR REPLACE VIEW {name} AS\n{def};"),
            }
        };
        match (e, a) {
            (None, Some(a)) => {
                push(
                    out,
                    Change::Extra,
                    "view",
                    name,
                    a.kind.clone(),
                    create(&a.kind, &a.definition),
                );
            }
            (Some(e), None) => {
                push(
                    out,
                    Change::Missing,
                    "view",
                    name,
                    e.kind.clone(),
                    format!("DROP {} {name};", e.kind.to_uppercase()),
                );
            }
            (Some(e), Some(a)) if e != a => {
                let i = push(
                    out,
                    Change::Different,
                    "view",
                    name,
                    "its query differs",
                    create(&a.kind, &a.definition),
                );
                out[i].expected = Some(e.definition.clone());
                out[i].actual = Some(a.definition.clone());
            }
            _ => {}
        }
    }
}

fn indexes(expected: &Catalog, actual: &Catalog, out: &mut Vec<Difference>) {
    let invalid = |valid: bool| {
        if valid {
            ""
        } else {
            "INVALID (a CREATE INDEX CONCURRENTLY failed or was interrupted)"
        }
    };
    for (name, e, a) in pairs(&expected.indexes, &actual.indexes) {
        match (e, a) {
            // An index of an extra or missing table goes with its table.
            (None, Some(a)) if expected.tables.contains_key(&a.table) => {
                let i = push(
                    out,
                    Change::Extra,
                    "index",
                    name,
                    invalid(a.valid),
                    format!("{};", a.definition),
                );
                out[i].actual = Some(a.definition.clone());
            }
            (Some(e), None) if actual.tables.contains_key(&e.table) => {
                let i = push(
                    out,
                    Change::Missing,
                    "index",
                    name,
                    "",
                    format!("DROP INDEX {name};"),
                );
                out[i].expected = Some(e.definition.clone());
            }
            (Some(e), Some(a)) if e.definition != a.definition => {
                let i = push(
                    out,
                    Change::Different,
                    "index",
                    name,
                    format!(
                        "{} expected, {} in the database",
                        e.definition, a.definition
                    ),
                    format!("DROP INDEX {name};\n{};", a.definition),
                );
                out[i].expected = Some(e.definition.clone());
                out[i].actual = Some(a.definition.clone());
            }
            (Some(e), Some(a)) if e.valid != a.valid => {
                let (detail, ddl) = if a.valid {
                    (
                        "valid in the database, INVALID when the migrations make it".to_string(),
                        "-- nothing to undo: the migrations leave it INVALID".to_string(),
                    )
                } else {
                    (
                        invalid(false).to_string(),
                        format!(
                            "-- rebuild it: REINDEX INDEX CONCURRENTLY {name}; (or DROP INDEX \
                             CONCURRENTLY {name}; and create it again)"
                        ),
                    )
                };
                let i = push(out, Change::Different, "index", name, detail, ddl);
                out[i].expected = Some(e.definition.clone());
                out[i].actual = Some(a.definition.clone());
            }
            _ => {}
        }
    }
}

fn functions(expected: &Catalog, actual: &Catalog, out: &mut Vec<Difference>) {
    for (name, e, a) in pairs(&expected.functions, &actual.functions) {
        match (e, a) {
            (None, Some(a)) => {
                push(
                    out,
                    Change::Extra,
                    "function",
                    name,
                    procedure_or_not(&a.kind),
                    format!("{};", a.definition.trim_end()),
                );
            }
            (Some(e), None) => {
                push(
                    out,
                    Change::Missing,
                    "function",
                    name,
                    procedure_or_not(&e.kind),
                    format!("DROP {} {name};", e.kind.to_uppercase()),
                );
            }
            (Some(e), Some(a)) if e != a => {
                let i = push(
                    out,
                    Change::Different,
                    "function",
                    name,
                    format!(
                        "definition md5 {} expected, {} in the database",
                        e.hash, a.hash
                    ),
                    format!("{};", a.definition.trim_end()),
                );
                out[i].expected = Some(e.definition.clone());
                out[i].actual = Some(a.definition.clone());
            }
            _ => {}
        }
    }
}

/// The kind says "function" already; a procedure is worth saying.
fn procedure_or_not(kind: &str) -> &str {
    if kind == "procedure" { "procedure" } else { "" }
}

fn triggers(expected: &Catalog, actual: &Catalog, out: &mut Vec<Difference>) {
    for (name, e, a) in pairs(&expected.triggers, &actual.triggers) {
        match (e, a) {
            (None, Some(a)) if expected.tables.contains_key(&a.table) => {
                let mut ddl = format!("{};", a.definition);
                if a.enabled != "O" {
                    ddl.push('\n');
                    ddl.push_str(&ddl::trigger_state(&a.table, &a.name, &a.enabled));
                }
                push(out, Change::Extra, "trigger", name, "", ddl);
            }
            (Some(e), None) if actual.tables.contains_key(&e.table) => {
                let i = push(
                    out,
                    Change::Missing,
                    "trigger",
                    name,
                    "",
                    format!("DROP TRIGGER {} ON {};", e.name, e.table),
                );
                out[i].expected = Some(e.definition.clone());
            }
            (Some(e), Some(a)) if e.definition != a.definition => {
                let i = push(
                    out,
                    Change::Different,
                    "trigger",
                    name,
                    "its definition differs",
                    format!("DROP TRIGGER {} ON {};\n{};", e.name, e.table, a.definition),
                );
                out[i].expected = Some(e.definition.clone());
                out[i].actual = Some(a.definition.clone());
            }
            (Some(e), Some(a)) if e.enabled != a.enabled => {
                push(
                    out,
                    Change::Different,
                    "trigger",
                    name,
                    format!(
                        "{} in the database",
                        match a.enabled.as_str() {
                            "D" => "disabled",
                            "R" => "enabled for replica sessions only",
                            "A" => "enabled always",
                            _ => "enabled",
                        }
                    ),
                    ddl::trigger_state(&a.table, &a.name, &a.enabled),
                );
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema_catalog::{Column, Index};

    fn labels(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn added_enum_labels_keep_their_position() {
        let e = labels(&["a", "b"]);
        assert_eq!(
            added_labels(&e, &labels(&["a", "x", "b", "y"])),
            Some(vec![
                ("x".into(), " AFTER 'a'".into()),
                ("y".into(), " AFTER 'b'".into())
            ])
        );
        assert_eq!(
            added_labels(&e, &labels(&["x", "a", "b"])),
            Some(vec![("x".into(), " BEFORE 'a'".into())])
        );
        assert_eq!(added_labels(&e, &labels(&["b", "a"])), None);
        assert_eq!(added_labels(&e, &labels(&["a"])), None);
    }

    fn catalog_with_table() -> Catalog {
        let mut c = Catalog::default();
        c.tables.insert(
            "public.t".into(),
            Table {
                kind: "table".into(),
                columns: vec![Column {
                    name: "id".into(),
                    data_type: "integer".into(),
                    default: None,
                    not_null: true,
                    identity: None,
                    generated: None,
                }],
                constraints: BTreeMap::new(),
            },
        );
        c
    }

    #[test]
    fn equal_catalogs_have_no_differences() {
        let c = catalog_with_table();
        assert!(diff(&c, &c.clone()).is_empty());
    }

    #[test]
    fn an_extra_column_and_an_invalid_index_are_reported_as_ddl() {
        let expected = catalog_with_table();
        let mut actual = expected.clone();
        if let Some(t) = actual.tables.get_mut("public.t") {
            t.columns.push(Column {
                name: "note".into(),
                data_type: "text".into(),
                default: None,
                not_null: false,
                identity: None,
                generated: None,
            });
        }
        actual.indexes.insert(
            "public.t_note_idx".into(),
            Index {
                table: "public.t".into(),
                definition: "CREATE INDEX t_note_idx ON public.t USING btree (note)".into(),
                valid: false,
            },
        );
        let d = diff(&expected, &actual);
        assert_eq!(d.len(), 2, "{d:#?}");
        assert_eq!(d[0].change, Change::Extra);
        assert_eq!(d[0].ddl, "ALTER TABLE public.t ADD COLUMN note text;");
        assert_eq!(d[1].kind, "index");
        assert!(d[1].detail.contains("INVALID"), "{d:#?}");
    }

    #[test]
    fn a_missing_table_is_one_difference_not_one_per_index() {
        let mut expected = catalog_with_table();
        expected.indexes.insert(
            "public.t_idx".into(),
            Index {
                table: "public.t".into(),
                definition: "CREATE INDEX t_idx ON public.t USING btree (id)".into(),
                valid: true,
            },
        );
        let d = diff(&expected, &Catalog::default());
        assert_eq!(d.len(), 1, "{d:#?}");
        assert_eq!(d[0].ddl, "DROP TABLE public.t;");
    }
}
