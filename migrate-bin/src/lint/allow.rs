//! Allow comments: `-- migrate:allow RULE[, RULE…] reason: WHY` on the line(s) before a
//! statement silences those rules for that statement only, and the reason is written to
//! the audit log when the migration is applied. Mistakes in them are findings that nothing
//! silences: no reason (`allow-without-reason`), an unknown rule, a comment that is not
//! before a statement, or squawk's own `squawk-ignore` comments, which would silence a rule
//! without a reason (`invalid-allow`).

use std::ops::Range;

use squawk_syntax::SyntaxKind;
use squawk_syntax::ast::{self, AstNode};

use super::Raw;
use super::catalog::{self, Own};

/// The comment's marker.
pub const MARKER: &str = "migrate:allow";
const REASON: &str = "reason:";

/// A finding accepted for a whole migration by the config (`[[lint.allow]]`): for
/// migrations applied already, which cannot get a comment without changing their checksum.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigAllow {
    /// The migration's version, e.g. `20260209090000`.
    pub migration: String,
    /// The rule id.
    pub rule: String,
    /// Why the finding is acceptable.
    pub reason: String,
}

/// One well-formed allow comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AllowComment {
    /// The rules it names.
    pub(super) rules: Vec<String>,
    /// Its reason (`None`: missing, so it silences nothing).
    pub(super) reason: Option<String>,
    /// The statement it applies to (the next one).
    pub(super) statement: Option<Range<usize>>,
}

/// Every allow comment of `file`, and the findings its mistakes make. `statements` are the
/// file's statements (from their first keyword to their end), in order.
pub(super) fn scan(
    file: &ast::SourceFile,
    statements: &[Range<usize>],
) -> (Vec<AllowComment>, Vec<Raw>) {
    let mut comments = Vec::new();
    let mut findings = Vec::new();
    for token in file
        .syntax()
        .descendants_with_tokens()
        .filter_map(|e| e.into_token())
        .filter(|t| t.kind() == SyntaxKind::COMMENT)
    {
        let text = token.text();
        let range = token.text_range();
        let range = usize::from(range.start())..usize::from(range.end());
        let body = text
            .strip_prefix("--")
            .or_else(|| text.strip_prefix("/*").map(|b| b.trim_end_matches("*/")))
            .unwrap_or(text)
            .trim();
        let mut bad = |rule: Own, message: String, help: &str| {
            findings.push(Raw {
                rule: rule.id().to_string(),
                range: range.clone(),
                message,
                help: Some(help.to_string()),
            });
        };
        if body.starts_with("squawk-ignore") {
            bad(
                Own::InvalidAllow,
                "`squawk-ignore` silences a rule without saying why, and without the audit \
                 log knowing."
                    .into(),
                "Replace it with `-- migrate:allow RULE reason: WHY` on the line before the \
                 statement.",
            );
            continue;
        }
        let Some(rest) = body.strip_prefix(MARKER) else {
            continue;
        };
        if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
            continue;
        }
        let (names, reason) = match rest.find(REASON) {
            Some(at) => (&rest[..at], Some(rest[at + REASON.len()..].trim())),
            None => (rest, None),
        };
        let rules: Vec<String> = names
            .split([',', ' ', '\t'])
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect();
        let statement = match statement_after(range.start, statements) {
            Ok(s) => s,
            Err(problem) => {
                bad(
                    Own::InvalidAllow,
                    format!("This allow comment {problem}, so it silences nothing."),
                    "Put `-- migrate:allow RULE reason: WHY` on its own line directly before \
                     the statement it is for.",
                );
                continue;
            }
        };
        if rules.is_empty() {
            bad(
                Own::InvalidAllow,
                "This allow comment names no rule.".into(),
                "Name the rule(s) it silences: `-- migrate:allow RULE[, RULE] reason: WHY`; \
                 `migrate lint --rules` lists the ids.",
            );
            continue;
        }
        if let Some(unknown) = rules.iter().find(|r| catalog::find(r).is_none()) {
            bad(
                Own::InvalidAllow,
                format!("This allow comment names `{unknown}`, which is not a rule."),
                "Use a rule id as `migrate lint` prints it; `migrate lint --rules` lists them.",
            );
            continue;
        }
        let reason = reason.filter(|r| !r.is_empty()).map(str::to_string);
        if reason.is_none() {
            bad(
                Own::AllowWithoutReason,
                format!(
                    "This allow comment for {} gives no reason, so it silences nothing.",
                    rules.join(", ")
                ),
                "Say why the finding is acceptable here: `-- migrate:allow RULE reason: WHY` \
                 (the reason goes to the audit log when the migration is applied).",
            );
        }
        comments.push(AllowComment {
            rules,
            reason,
            statement: Some(statement),
        });
    }
    (comments, findings)
}

/// The statement a comment at `at` belongs to: the next one, unless the comment sits inside
/// a statement or after the last one.
fn statement_after(at: usize, statements: &[Range<usize>]) -> Result<Range<usize>, &'static str> {
    if statements.iter().any(|s| s.contains(&at)) {
        return Err("sits inside a statement");
    }
    statements
        .iter()
        .find(|s| s.start > at)
        .cloned()
        .ok_or("is followed by no statement")
}

#[cfg(test)]
mod tests {
    use super::*;
    use squawk_syntax::SourceFile;

    fn scan_sql(sql: &str) -> (Vec<AllowComment>, Vec<String>) {
        let file = SourceFile::parse(sql).tree();
        let statements = super::super::statement_ranges(&file);
        let (comments, findings) = scan(&file, &statements);
        (
            comments,
            findings
                .into_iter()
                .map(|f| format!("{}: {}", f.rule, f.message))
                .collect(),
        )
    }

    #[test]
    fn parses_rules_and_reason() {
        let (c, f) = scan_sql(
            "-- migrate:allow ban-drop-table, ban-drop-column reason: nothing reads it since v2\nDROP TABLE t;",
        );
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(c[0].rules, ["ban-drop-table", "ban-drop-column"]);
        assert_eq!(c[0].reason.as_deref(), Some("nothing reads it since v2"));
        assert_eq!(c[0].statement, Some(83..96));
    }

    #[test]
    fn mistakes_are_findings() {
        let cases = [
            (
                "-- migrate:allow ban-drop-table\nDROP TABLE t;",
                "allow-without-reason",
            ),
            (
                "-- migrate:allow ban-drop-table reason:   \nDROP TABLE t;",
                "allow-without-reason",
            ),
            (
                "-- migrate:allow no-such-rule reason: x\nDROP TABLE t;",
                "invalid-allow: This allow comment names `no-such-rule`",
            ),
            (
                "-- migrate:allow reason: x\nDROP TABLE t;",
                "invalid-allow: This allow comment names no rule",
            ),
            (
                "DROP TABLE t;\n-- migrate:allow ban-drop-table reason: x\n",
                "invalid-allow: This allow comment is followed by no statement",
            ),
            (
                "DROP TABLE -- migrate:allow ban-drop-table reason: x\n t;",
                "invalid-allow: This allow comment sits inside a statement",
            ),
            (
                "-- squawk-ignore ban-drop-table\nDROP TABLE t;",
                "invalid-allow: `squawk-ignore`",
            ),
        ];
        for (sql, expected) in cases {
            let (_, f) = scan_sql(sql);
            assert_eq!(f.len(), 1, "{sql}: {f:?}");
            assert!(f[0].starts_with(expected), "{sql}: {f:?}");
        }
    }

    #[test]
    fn other_comments_are_ignored() {
        let (c, f) = scan_sql("-- migrate:allowance is fine\n-- plain\nSELECT 1;");
        assert!(c.is_empty() && f.is_empty());
    }
}
