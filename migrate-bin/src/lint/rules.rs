//! Our own rules: what squawk cannot know because it depends on how the engine runs a
//! migration (metadata.toml's run_in_transaction) or on what a rerun after a kill meets.

use squawk_syntax::ast::{self, AstNode};
use squawk_syntax::{SyntaxKind, SyntaxNode};

use super::Raw;
use super::catalog::Own;

/// Findings of our statement rules in `file`.
pub(super) fn check(file: &ast::SourceFile, in_transaction: bool) -> Vec<Raw> {
    let mut out = Vec::new();
    for stmt in file.stmts() {
        let node = stmt.syntax();
        if in_transaction {
            if let Some(keyword) = transaction_control(&stmt) {
                out.push(raw(
                    Own::TransactionControlInTransaction,
                    node,
                    format!(
                        "`{keyword}` in a migration the engine runs in a transaction: it would \
                         commit or abandon part of the migration behind the engine's back, so \
                         the bookkeeping no longer says what was applied."
                    ),
                    "Remove it and let the engine manage the transaction; if the migration must \
                     control transactions itself, put `run_in_transaction = false` in its \
                     metadata.toml.",
                ));
            }
            if has_concurrently(node) {
                out.push(raw(
                    Own::ConcurrentlyInTransaction,
                    node,
                    "CONCURRENTLY in a migration the engine runs in a transaction: PostgreSQL \
                     refuses it there (cannot run inside a transaction block)."
                        .into(),
                    "Move the statement into its own migration with `run_in_transaction = false` \
                     in its metadata.toml, alone in its up.sql.",
                ));
            }
        }
        if let Some((message, help)) = not_rerunnable(&stmt) {
            out.push(raw(
                Own::ConcurrentlyNotRerunnable,
                node,
                message.into(),
                help,
            ));
        }
    }
    out
}

fn raw(rule: Own, node: &SyntaxNode, message: String, help: &str) -> Raw {
    let range = node.text_range();
    Raw {
        rule: rule.id().to_string(),
        range: usize::from(range.start())..usize::from(range.end()),
        message,
        help: Some(help.to_string()),
    }
}

/// The statement's leading keywords, as written (`START TRANSACTION`, `END`, `ABORT`…),
/// when it begins, ends or splits a transaction.
fn transaction_control(stmt: &ast::Stmt) -> Option<String> {
    if !matches!(
        stmt,
        ast::Stmt::Begin(_)
            | ast::Stmt::Commit(_)
            | ast::Stmt::Rollback(_)
            | ast::Stmt::SavepointCreate(_)
            | ast::Stmt::ReleaseSavepoint(_)
            | ast::Stmt::PrepareTransaction(_)
    ) {
        return None;
    }
    let words: Vec<String> = stmt
        .syntax()
        .descendants_with_tokens()
        .filter_map(|e| e.into_token())
        .filter(|t| !t.kind().is_trivia())
        .take(2)
        .map(|t| t.text().to_ascii_uppercase())
        .collect();
    Some(match words.as_slice() {
        [first, second, ..]
            if ["TRANSACTION", "PREPARED", "SAVEPOINT"].contains(&second.as_str()) =>
        {
            format!("{first} {second}")
        }
        [first, ..] => first.clone(),
        [] => String::new(),
    })
}

/// Whether the statement uses CONCURRENTLY (index builds and drops, REINDEX, REFRESH
/// MATERIALIZED VIEW, DETACH PARTITION).
fn has_concurrently(node: &SyntaxNode) -> bool {
    node.descendants_with_tokens()
        .any(|e| e.kind() == SyntaxKind::CONCURRENTLY_KW)
}

/// A concurrent index build or drop that fails when run again after a kill.
fn not_rerunnable(stmt: &ast::Stmt) -> Option<(&'static str, &'static str)> {
    match stmt {
        ast::Stmt::CreateIndex(create)
            if create.concurrently_token().is_some() && create.if_not_exists().is_none() =>
        {
            Some((
                "CREATE INDEX CONCURRENTLY without IF NOT EXISTS: when a run is killed after the \
                 index was built but before the migration was recorded, the rerun fails because \
                 the index exists, and only `migrate up --repair` gets past it, by dropping and \
                 rebuilding the finished index.",
                "Write `CREATE INDEX CONCURRENTLY IF NOT EXISTS`: a rerun then keeps a finished \
                 index, and an INVALID one (a build that was killed) is still dropped and rebuilt \
                 first by `migrate up` (dev/test) or `migrate up --repair` (staging/prod).",
            ))
        }
        ast::Stmt::DropIndex(drop)
            if drop.concurrently_token().is_some() && drop.if_exists().is_none() =>
        {
            Some((
                "DROP INDEX CONCURRENTLY without IF EXISTS: when a run is killed after the drop \
                 finished but before the migration was recorded, the rerun fails because the \
                 index is gone.",
                "Write `DROP INDEX CONCURRENTLY IF EXISTS`.",
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use squawk_syntax::SourceFile;

    fn rules(sql: &str, in_tx: bool) -> Vec<(String, String)> {
        check(&SourceFile::parse(sql).tree(), in_tx)
            .into_iter()
            .map(|r| {
                (
                    r.rule,
                    r.message.split(' ').take(3).collect::<Vec<_>>().join(" "),
                )
            })
            .collect()
    }

    #[test]
    fn transaction_control_only_in_transactional_migrations() {
        let sql = "BEGIN;\nCREATE TABLE t (id int);\nSAVEPOINT s;\nRELEASE SAVEPOINT s;\nCOMMIT;\nSTART TRANSACTION;\nROLLBACK;\nEND;\nABORT;\n";
        let found = rules(sql, true);
        let keywords: Vec<&str> = found.iter().map(|(_, m)| m.as_str()).collect();
        assert!(
            found
                .iter()
                .all(|(r, _)| r == "transaction-control-in-transaction")
        );
        assert_eq!(
            keywords,
            [
                "`BEGIN` in a",
                "`SAVEPOINT` in a",
                "`RELEASE SAVEPOINT` in",
                "`COMMIT` in a",
                "`START TRANSACTION` in",
                "`ROLLBACK` in a",
                "`END` in a",
                "`ABORT` in a",
            ]
        );
        assert!(rules(sql, false).is_empty());
    }

    #[test]
    fn function_bodies_are_not_transaction_control() {
        let sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\n\
                   DO $$ BEGIN PERFORM 1; END $$;\n";
        assert!(rules(sql, true).is_empty(), "{:?}", rules(sql, true));
    }

    #[test]
    fn concurrently_in_a_transaction_and_without_if_exists() {
        assert_eq!(
            rules("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);", true),
            [(
                "concurrently-in-transaction".to_string(),
                "CONCURRENTLY in a".to_string()
            )]
        );
        assert!(rules("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);", false).is_empty());
        assert!(rules("DROP INDEX CONCURRENTLY IF EXISTS i;", false).is_empty());
        assert!(rules("REINDEX INDEX CONCURRENTLY i;", false).is_empty());
        assert_eq!(
            rules("CREATE INDEX CONCURRENTLY i ON t (a);", false)[0].0,
            "concurrently-not-rerunnable"
        );
        assert_eq!(
            rules("DROP INDEX CONCURRENTLY i;", false)[0].0,
            "concurrently-not-rerunnable"
        );
        assert_eq!(
            rules("REFRESH MATERIALIZED VIEW CONCURRENTLY v;", true).len(),
            1
        );
    }
}
