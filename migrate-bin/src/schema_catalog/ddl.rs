//! The DDL that makes one object as a catalog describes it: what a difference prints, so a
//! reader sees the drift in the language it was probably made in.

use super::{Column, Constraint, Table};

/// `name type [GENERATED …] [DEFAULT …] [NOT NULL]`, as in CREATE TABLE / ADD COLUMN.
pub(super) fn column(c: &Column) -> String {
    let mut s = format!("{} {}", c.name, c.data_type);
    if let Some(expr) = &c.generated {
        s.push_str(&format!(" GENERATED ALWAYS AS ({expr}) STORED"));
    }
    if let Some(identity) = &c.identity {
        s.push_str(&format!(" GENERATED {identity} AS IDENTITY"));
    }
    if let Some(default) = &c.default {
        s.push_str(&format!(" DEFAULT {default}"));
    }
    if c.not_null {
        s.push_str(" NOT NULL");
    }
    s
}

/// `CREATE TABLE` with its columns and constraints (its indexes and triggers are objects
/// of their own).
pub(super) fn create_table(name: &str, t: &Table) -> String {
    let mut lines: Vec<String> = t.columns.iter().map(column).collect();
    lines.extend(
        t.constraints
            .iter()
            .map(|(n, k)| format!("CONSTRAINT {n} {}", k.definition)),
    );
    let head = match t.kind.as_str() {
        "unlogged table" => "CREATE UNLOGGED TABLE",
        _ => "CREATE TABLE",
    };
    format!("{head} {name} (\n    {}\n);", lines.join(",\n    "))
}

pub(super) fn add_constraint(table: &str, name: &str, k: &Constraint) -> String {
    format!(
        "ALTER TABLE {table} ADD CONSTRAINT {name} {};",
        k.definition
    )
}

pub(super) fn drop_constraint(table: &str, name: &str) -> String {
    format!("ALTER TABLE {table} DROP CONSTRAINT {name};")
}

/// The column changes that turn `from` into `to` (same name), one statement each.
pub(super) fn alter_column(table: &str, from: &Column, to: &Column) -> Vec<String> {
    let at = format!("ALTER TABLE {table} ALTER COLUMN {}", to.name);
    let mut out = Vec::new();
    if from.data_type != to.data_type || from.generated != to.generated {
        match &to.generated {
            Some(_) if from.generated != to.generated => out.push(format!(
                "-- generated column changed: ALTER TABLE {table} DROP COLUMN {name}; ALTER TABLE \
                 {table} ADD COLUMN {def};",
                name = to.name,
                def = column(to)
            )),
            _ => out.push(format!("{at} TYPE {};", to.data_type)),
        }
    }
    if from.identity != to.identity {
        match (&from.identity, &to.identity) {
            (_, None) => out.push(format!("{at} DROP IDENTITY;")),
            (None, Some(kind)) => out.push(format!("{at} ADD GENERATED {kind} AS IDENTITY;")),
            (Some(_), Some(kind)) => out.push(format!("{at} SET GENERATED {kind};")),
        }
    }
    if from.default != to.default && to.generated.is_none() {
        match &to.default {
            Some(d) => out.push(format!("{at} SET DEFAULT {d};")),
            None => out.push(format!("{at} DROP DEFAULT;")),
        }
    }
    if from.not_null != to.not_null {
        out.push(format!(
            "{at} {} NOT NULL;",
            if to.not_null { "SET" } else { "DROP" }
        ));
    }
    out
}

/// `'text'` as an SQL string literal.
pub(super) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `ALTER TABLE … ENABLE/DISABLE TRIGGER` for a pg_trigger `tgenabled` value.
pub(super) fn trigger_state(table: &str, name: &str, enabled: &str) -> String {
    let how = match enabled {
        "D" => "DISABLE",
        "R" => "ENABLE REPLICA",
        "A" => "ENABLE ALWAYS",
        _ => "ENABLE",
    };
    format!("ALTER TABLE {table} {how} TRIGGER {name};")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: &str) -> Column {
        Column {
            name: name.into(),
            data_type: ty.into(),
            default: None,
            not_null: false,
            identity: None,
            generated: None,
        }
    }

    #[test]
    fn a_column_reads_as_in_create_table() {
        let mut c = col("note", "text");
        assert_eq!(column(&c), "note text");
        c.default = Some("''::text".into());
        c.not_null = true;
        assert_eq!(column(&c), "note text DEFAULT ''::text NOT NULL");
    }

    #[test]
    fn alter_column_names_each_change() {
        let from = col("name", "character varying(100)");
        let mut to = col("name", "text");
        to.not_null = true;
        assert_eq!(
            alter_column("public.t", &from, &to),
            vec![
                "ALTER TABLE public.t ALTER COLUMN name TYPE text;",
                "ALTER TABLE public.t ALTER COLUMN name SET NOT NULL;",
            ]
        );
    }
}
