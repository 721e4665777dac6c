//! Which table lock each statement of a migration takes, read from squawk's parse tree (not
//! from the text), so `plan` and the production gate can put the lock next to the live size
//! of the table it is taken on.
//!
//! The modes are PostgreSQL's (docs: "Explicit Locking", and each command's page); only
//! statements that lock an existing relation are listed. A statement the parser cannot read
//! is skipped, never guessed.

use serde::Serialize;
use squawk_syntax::SourceFile;
use squawk_syntax::ast::{self, AstNode};

/// One lock a statement takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementLock {
    /// The statement's first line, shortened.
    pub statement: String,
    /// PostgreSQL's name of the mode, e.g. `ACCESS EXCLUSIVE`.
    pub mode: &'static str,
    /// The relation as the statement names it (PostgreSQL resolves it with `to_regclass`).
    pub table: String,
    /// The statement creates this table: nobody else can be waiting on it.
    pub creates: bool,
}

const ACCESS_EXCLUSIVE: &str = "ACCESS EXCLUSIVE";
const EXCLUSIVE: &str = "EXCLUSIVE";
const SHARE_ROW_EXCLUSIVE: &str = "SHARE ROW EXCLUSIVE";
const SHARE: &str = "SHARE";
const SHARE_UPDATE_EXCLUSIVE: &str = "SHARE UPDATE EXCLUSIVE";
const ROW_EXCLUSIVE: &str = "ROW EXCLUSIVE";

/// Strongest first: the order PostgreSQL's conflict table implies for these modes.
const STRENGTH: [&str; 6] = [
    ACCESS_EXCLUSIVE,
    EXCLUSIVE,
    SHARE_ROW_EXCLUSIVE,
    SHARE,
    SHARE_UPDATE_EXCLUSIVE,
    ROW_EXCLUSIVE,
];

fn stronger(a: &'static str, b: &'static str) -> &'static str {
    let rank = |m: &str| {
        STRENGTH
            .iter()
            .position(|s| *s == m)
            .unwrap_or(STRENGTH.len())
    };
    if rank(a) <= rank(b) { a } else { b }
}

/// Every table lock the statements of `sql` take, in statement order.
pub fn statement_locks(sql: &str) -> Vec<StatementLock> {
    let parse = SourceFile::parse(sql);
    let mut out = Vec::new();
    for stmt in parse.tree().stmts() {
        let statement = crate::split::first_line(&stmt.syntax().text().to_string(), 70);
        let mut push = |mode: &'static str, table: Option<String>, creates: bool| {
            if let Some(table) = table.filter(|t| !t.is_empty()) {
                out.push(StatementLock {
                    statement: statement.clone(),
                    mode,
                    table,
                    creates,
                });
            }
        };
        match &stmt {
            ast::Stmt::AlterTable(s) => {
                let table = name(s.table_relation_name());
                let mode = s
                    .actions()
                    .map(|a| alter_table_action(&a))
                    .reduce(stronger)
                    .unwrap_or(ACCESS_EXCLUSIVE);
                push(mode, table, false);
            }
            ast::Stmt::CreateIndex(s) => {
                let mode = if s.concurrently_token().is_some() {
                    SHARE_UPDATE_EXCLUSIVE
                } else {
                    SHARE
                };
                push(mode, name(s.table_relation_name()), false);
            }
            ast::Stmt::CreateTable(s) => {
                push(ACCESS_EXCLUSIVE, name(s.table_name()), true);
            }
            ast::Stmt::DropTable(s) => {
                for t in s.table_name_refs() {
                    push(ACCESS_EXCLUSIVE, name(Some(t)), false);
                }
            }
            ast::Stmt::DropIndex(s) => {
                let mode = if s.concurrently_token().is_some() {
                    SHARE_UPDATE_EXCLUSIVE
                } else {
                    ACCESS_EXCLUSIVE
                };
                for i in s.index_refs() {
                    push(mode, name(Some(i)), false);
                }
            }
            ast::Stmt::Truncate(s) => {
                for t in s
                    .table_list()
                    .into_iter()
                    .flat_map(|l| l.table_relation_names())
                {
                    push(ACCESS_EXCLUSIVE, name(Some(t)), false);
                }
            }
            ast::Stmt::Insert(s) => push(ROW_EXCLUSIVE, name(s.relation_name_ref()), false),
            ast::Stmt::Update(s) => push(ROW_EXCLUSIVE, name(s.relation_name()), false),
            ast::Stmt::Delete(s) => push(ROW_EXCLUSIVE, name(s.relation_name()), false),
            ast::Stmt::Merge(s) => push(ROW_EXCLUSIVE, name(s.table_relation_name()), false),
            ast::Stmt::Lock(s) => {
                let mode = s
                    .lock_mode_clause()
                    .map(|c| explicit_mode(&c.syntax().text().to_string()))
                    .unwrap_or(ACCESS_EXCLUSIVE);
                for r in s
                    .relation_list()
                    .into_iter()
                    .flat_map(|l| l.relation_names())
                {
                    push(mode, name(Some(r)), false);
                }
            }
            ast::Stmt::CreateTrigger(s) => {
                push(
                    SHARE_ROW_EXCLUSIVE,
                    name(s.on_relation().and_then(|o| o.relation_name_ref())),
                    false,
                );
            }
            ast::Stmt::DropTrigger(s) => {
                push(
                    ACCESS_EXCLUSIVE,
                    name(s.on_relation().and_then(|o| o.relation_name_ref())),
                    false,
                );
            }
            ast::Stmt::Vacuum(s) => {
                let mode = if s.full_token().is_some() {
                    ACCESS_EXCLUSIVE
                } else {
                    SHARE_UPDATE_EXCLUSIVE
                };
                for t in s
                    .table_and_columns_list()
                    .into_iter()
                    .flat_map(|l| l.table_and_columnss())
                {
                    push(mode, name(t.table_relation_name()), false);
                }
            }
            ast::Stmt::Cluster(s) => push(ACCESS_EXCLUSIVE, name(s.table_name_ref()), false),
            ast::Stmt::Refresh(s) => {
                let mode = if s.concurrently_token().is_some() {
                    EXCLUSIVE
                } else {
                    ACCESS_EXCLUSIVE
                };
                push(mode, name(s.view_ref()), false);
            }
            _ => {}
        }
        // A foreign key locks the table it references too (it adds triggers there).
        for node in stmt.syntax().descendants() {
            let referenced = if let Some(fk) = ast::ForeignKeyConstraint::cast(node.clone()) {
                fk.table_name_ref()
            } else if let Some(r) = ast::ReferencesConstraint::cast(node) {
                r.table()
            } else {
                continue;
            };
            push(SHARE_ROW_EXCLUSIVE, name(referenced), false);
        }
    }
    out
}

/// The columns `ALTER TABLE … ADD COLUMN` statements of `sql` add, as (table as written,
/// column as PostgreSQL stores its name).
pub fn added_columns(sql: &str) -> Vec<(String, String)> {
    let parse = SourceFile::parse(sql);
    let mut out = Vec::new();
    for stmt in parse.tree().stmts() {
        let ast::Stmt::AlterTable(s) = stmt else {
            continue;
        };
        let Some(table) = name(s.table_relation_name()) else {
            continue;
        };
        for action in s.actions() {
            if let ast::AlterTableAction::AddColumn(c) = action
                && let Some(column) = name(c.column_name())
            {
                out.push((table.clone(), stored_identifier(&column)));
            }
        }
    }
    out
}

/// An identifier as the catalog stores it: unquoted names fold to lower case.
pub fn stored_identifier(written: &str) -> String {
    match written.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => written.to_ascii_lowercase(),
    }
}

/// The lock one ALTER TABLE action needs (the statement takes the strongest of them).
fn alter_table_action(action: &ast::AlterTableAction) -> &'static str {
    use ast::AlterTableAction as A;
    match action {
        A::AddConstraint(c) => match c.constraint() {
            Some(ast::Constraint::ForeignKeyConstraint(_)) => SHARE_ROW_EXCLUSIVE,
            _ => ACCESS_EXCLUSIVE,
        },
        A::ValidateConstraint(_)
        | A::ClusterOn(_)
        | A::SetWithoutCluster(_)
        | A::AttachPartition(_) => SHARE_UPDATE_EXCLUSIVE,
        A::DisableTrigger(_)
        | A::EnableTrigger(_)
        | A::EnableAlwaysTrigger(_)
        | A::EnableReplicaTrigger(_) => SHARE_ROW_EXCLUSIVE,
        A::AlterColumn(c)
            if c.syntax()
                .text()
                .to_string()
                .to_ascii_uppercase()
                .contains("STATISTICS") =>
        {
            SHARE_UPDATE_EXCLUSIVE
        }
        _ => ACCESS_EXCLUSIVE,
    }
}

/// The mode named in `LOCK … IN mode MODE`.
fn explicit_mode(clause: &str) -> &'static str {
    let words = clause
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    // Longest names first: "SHARE ROW EXCLUSIVE" contains "ROW EXCLUSIVE".
    for mode in [
        ACCESS_EXCLUSIVE,
        SHARE_ROW_EXCLUSIVE,
        SHARE_UPDATE_EXCLUSIVE,
        ROW_EXCLUSIVE,
        EXCLUSIVE,
        "ACCESS SHARE",
        "ROW SHARE",
        SHARE,
    ] {
        if words.contains(&format!("IN {mode} MODE")) {
            return match mode {
                "ACCESS SHARE" => "ACCESS SHARE",
                "ROW SHARE" => "ROW SHARE",
                m => STRENGTH
                    .iter()
                    .copied()
                    .find(|s| *s == m)
                    .unwrap_or(ACCESS_EXCLUSIVE),
            };
        }
    }
    ACCESS_EXCLUSIVE
}

/// The relation's name as written, without `ONLY`, `*` and comments.
fn name<N: AstNode>(node: Option<N>) -> Option<String> {
    let node = node?;
    let text: String = node
        .syntax()
        .descendants_with_tokens()
        .filter_map(|e| e.into_token())
        .filter(|t| {
            let kind = format!("{:?}", t.kind());
            !(kind.contains("WHITESPACE") || kind.contains("COMMENT"))
        })
        .map(|t| t.text().to_string())
        .collect();
    let text = text
        .strip_prefix("ONLY")
        .unwrap_or(&text)
        .trim_end_matches('*');
    Some(text.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modes(sql: &str) -> Vec<(String, &'static str)> {
        statement_locks(sql)
            .into_iter()
            .map(|l| (l.table, l.mode))
            .collect()
    }

    #[test]
    fn index_builds_and_table_rewrites() {
        assert_eq!(
            modes("CREATE INDEX i ON assets (name);"),
            [("assets".to_string(), SHARE)]
        );
        assert_eq!(
            modes("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON public.assets (name);"),
            [("public.assets".to_string(), SHARE_UPDATE_EXCLUSIVE)]
        );
        assert_eq!(
            modes("ALTER TABLE ONLY assets ALTER COLUMN name TYPE varchar(10);"),
            [("assets".to_string(), ACCESS_EXCLUSIVE)]
        );
        assert_eq!(
            modes("ALTER TABLE \"Assets\" VALIDATE CONSTRAINT c;"),
            [("\"Assets\"".to_string(), SHARE_UPDATE_EXCLUSIVE)]
        );
    }

    #[test]
    fn foreign_keys_lock_both_tables() {
        assert_eq!(
            modes("ALTER TABLE a ADD CONSTRAINT f FOREIGN KEY (b_id) REFERENCES b (id) NOT VALID;"),
            [
                ("a".to_string(), SHARE_ROW_EXCLUSIVE),
                ("b".to_string(), SHARE_ROW_EXCLUSIVE)
            ]
        );
        let created = statement_locks("CREATE TABLE e (id int, a_id int REFERENCES a (id));");
        assert_eq!(created.len(), 2);
        assert!(created[0].creates && created[0].table == "e");
        assert_eq!(
            (created[1].table.as_str(), created[1].mode),
            ("a", SHARE_ROW_EXCLUSIVE)
        );
    }

    #[test]
    fn dml_lock_and_others() {
        assert_eq!(
            modes(
                "INSERT INTO a VALUES (1); UPDATE b SET x = 1; DELETE FROM c; TRUNCATE d, e; \
                 LOCK TABLE f IN SHARE ROW EXCLUSIVE MODE; SELECT 1; DROP TABLE g;"
            ),
            [
                ("a".to_string(), ROW_EXCLUSIVE),
                ("b".to_string(), ROW_EXCLUSIVE),
                ("c".to_string(), ROW_EXCLUSIVE),
                ("d".to_string(), ACCESS_EXCLUSIVE),
                ("e".to_string(), ACCESS_EXCLUSIVE),
                ("f".to_string(), SHARE_ROW_EXCLUSIVE),
                ("g".to_string(), ACCESS_EXCLUSIVE),
            ]
        );
    }

    #[test]
    fn added_columns_fold_like_postgresql() {
        assert_eq!(
            added_columns(
                "ALTER TABLE a ADD COLUMN Score int, ADD COLUMN \"Mixed\" text; CREATE TABLE b (x int);"
            ),
            [
                ("a".to_string(), "score".to_string()),
                ("a".to_string(), "Mixed".to_string())
            ]
        );
    }

    #[test]
    fn function_bodies_lock_nothing_when_created() {
        assert!(
            modes("CREATE FUNCTION f() RETURNS void AS $$ DELETE FROM a; $$ LANGUAGE sql;")
                .is_empty()
        );
    }
}
