//! The migration linter behind `migrate lint`, `plan` and the staging/prod `up` gate:
//! squawk's rules ([`squawk`]) and ours ([`rules`]), each at the severity the config gives
//! it ([`catalog`]), minus what an allow comment with a reason silences ([`allow`]).
//!
//! One migration file in, its findings out; reading the config and choosing which
//! migrations to lint is the commands' business.

pub mod allow;
pub mod catalog;
pub mod report;
mod rules;
mod squawk;

use std::ops::Range;

use squawk_syntax::SourceFile;
use squawk_syntax::ast::{self, AstNode};

use crate::source::Migration;

use allow::{AllowComment, ConfigAllow};
use catalog::{Own, Severities, Severity};

/// A finding before severity and allows are applied: which rule, where (byte range in the
/// file), what and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Raw {
    rule: String,
    range: Range<usize>,
    message: String,
    help: Option<String>,
}

/// One rule broken by one statement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The rule id, e.g. `require-concurrent-index-creation`.
    pub rule: String,
    /// `error` or `warning` (off rules are not reported).
    pub severity: Severity,
    /// 1-based line of the offending text in the file.
    pub line: usize,
    /// 1-based column (in characters) of the offending text.
    pub column: usize,
    /// The offending statement, as written.
    pub statement: String,
    /// 1-based line where the statement starts.
    pub statement_line: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when the rule says.
    pub help: Option<String>,
}

/// A finding silenced by an allow (comment or config entry), with its reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Allowed {
    /// The rule silenced.
    pub rule: String,
    /// Why, as the allow says.
    pub reason: String,
    /// 1-based line of the statement it silenced.
    pub line: usize,
    /// `comment` (in the file) or `config` (a `[[lint.allow]]` entry).
    pub source: &'static str,
}

/// The linted file: its findings (ordered by position) and what allows silenced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileLint {
    /// Reported findings.
    pub findings: Vec<Finding>,
    /// Silenced findings, one per rule and statement.
    pub allowed: Vec<Allowed>,
}

/// What one file is and how it runs.
pub struct Input<'a> {
    /// The SQL.
    pub sql: &'a str,
    /// The migration's version (matched against `[[lint.allow]]` entries).
    pub version: &'a str,
    /// Whether the engine runs it in a transaction (metadata.toml).
    pub run_in_transaction: bool,
}

/// Lints a migration's up.sql (what `up` runs).
pub fn lint_up(m: &Migration, severities: &Severities, config_allows: &[ConfigAllow]) -> FileLint {
    let input = Input {
        sql: &m.up_sql,
        version: &m.version,
        run_in_transaction: m.run_in_transaction,
    };
    lint(&input, severities, config_allows)
}

/// Lints one migration file.
pub fn lint(input: &Input<'_>, severities: &Severities, config_allows: &[ConfigAllow]) -> FileLint {
    let parse = SourceFile::parse(input.sql);
    let file = parse.tree();
    let statements = statement_ranges(&file);

    let mut raw = squawk::check(&parse, input.sql, input.run_in_transaction, severities);
    raw.extend(rules::check(&file, input.run_in_transaction));
    let (comments, allow_findings) = allow::scan(&file, &statements);
    raw.retain(|r| severities.of(&r.rule) != Severity::Off);
    let statement_of = |at: usize| statements.iter().find(|s| s.contains(&at)).cloned();
    // squawk's prefer-robust-stmts says the same as our concurrently-not-rerunnable about a
    // concurrent index statement, with a less precise fix: keep ours.
    let ours: Vec<Option<Range<usize>>> = raw
        .iter()
        .filter(|r| r.rule == Own::ConcurrentlyNotRerunnable.id())
        .map(|r| statement_of(r.range.start))
        .collect();
    raw.retain(|r| r.rule != "prefer-robust-stmts" || !ours.contains(&statement_of(r.range.start)));

    let line_index = LineIndex::new(input.sql);
    let mut out = FileLint::default();
    for r in raw {
        let stmt = statement_of(r.range.start);
        let (line, _) = line_index.position(stmt.as_ref().map_or(r.range.start, |s| s.start));
        if let Some(reason) = comment_reason(&comments, &r.rule, stmt.as_ref()) {
            push_allowed(&mut out, &r.rule, reason, line, "comment");
            continue;
        }
        if let Some(entry) = config_allows
            .iter()
            .find(|a| a.migration == input.version && a.rule == r.rule)
        {
            push_allowed(&mut out, &r.rule, &entry.reason, line, "config");
            continue;
        }
        out.findings
            .push(finding(r, stmt, severities, input.sql, &line_index));
    }
    // Mistakes in allow comments are never silenced, by anything.
    for r in allow_findings {
        let stmt = Some(r.range.clone());
        out.findings
            .push(finding(r, stmt, severities, input.sql, &line_index));
    }
    out.findings.sort_by_key(|f| (f.line, f.column));
    out
}

/// Each statement from its first keyword (leading comments belong to the tree's node but
/// not to the statement as a reader sees it) to its end.
fn statement_ranges(file: &ast::SourceFile) -> Vec<Range<usize>> {
    file.stmts()
        .map(|s| {
            let node = s.syntax();
            let end = usize::from(node.text_range().end());
            let start = node
                .descendants_with_tokens()
                .filter_map(|e| e.into_token())
                .find(|t| !t.kind().is_trivia())
                .map_or(end, |t| usize::from(t.text_range().start()));
            start..end
        })
        .collect()
}

fn comment_reason<'c>(
    comments: &'c [AllowComment],
    rule: &str,
    stmt: Option<&Range<usize>>,
) -> Option<&'c str> {
    let stmt = stmt?;
    comments
        .iter()
        .filter(|c| c.statement.as_ref() == Some(stmt))
        .find(|c| c.rules.iter().any(|r| r == rule))
        .and_then(|c| c.reason.as_deref())
}

fn push_allowed(out: &mut FileLint, rule: &str, reason: &str, line: usize, source: &'static str) {
    // squawk can report a rule twice for one statement (e.g. two columns); one allow
    // silences them together and is recorded once.
    if out
        .allowed
        .iter()
        .any(|a| a.rule == rule && a.line == line && a.source == source)
    {
        return;
    }
    out.allowed.push(Allowed {
        rule: rule.to_string(),
        reason: reason.to_string(),
        line,
        source,
    });
}

fn finding(
    r: Raw,
    stmt: Option<Range<usize>>,
    severities: &Severities,
    sql: &str,
    lines: &LineIndex,
) -> Finding {
    let (line, column) = lines.position(r.range.start);
    let stmt = stmt.unwrap_or_else(|| r.range.clone());
    let (statement_line, _) = lines.position(stmt.start);
    let text = sql.get(stmt).unwrap_or_default();
    Finding {
        severity: severities.of(&r.rule),
        rule: r.rule,
        line,
        column,
        statement: text.trim().to_string(),
        statement_line,
        message: r.message,
        help: r.help,
    }
}

/// Byte offset → 1-based line and column.
struct LineIndex<'a> {
    sql: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(sql: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { sql, starts }
    }

    fn position(&self, at: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|s| *s <= at).max(1);
        let start = self.starts[line - 1];
        let column = self
            .sql
            .get(start..at)
            .map_or(1, |text| text.chars().count() + 1);
        (line, column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(sql: &str, in_tx: bool) -> FileLint {
        lint(
            &Input {
                sql,
                version: "1",
                run_in_transaction: in_tx,
            },
            &Severities::default(),
            &[],
        )
    }

    fn rules_of(lint: &FileLint) -> Vec<&str> {
        lint.findings.iter().map(|f| f.rule.as_str()).collect()
    }

    #[test]
    fn squawk_finding_has_line_statement_and_help() {
        let out = run(
            "SELECT 1;\n\nCREATE INDEX a_idx ON accounts (name);\n",
            true,
        );
        assert_eq!(rules_of(&out), ["require-concurrent-index-creation"]);
        let f = &out.findings[0];
        assert_eq!((f.line, f.column), (3, 1));
        assert_eq!(f.statement, "CREATE INDEX a_idx ON accounts (name);");
        assert_eq!(f.severity, Severity::Error);
        assert!(f.help.as_deref().unwrap_or("").contains("concurrently"));
    }

    #[test]
    fn timeout_rules_are_off_by_default() {
        let out = run("ALTER TABLE accounts ADD COLUMN x text;\n", true);
        assert!(
            !rules_of(&out).iter().any(|r| r.contains("timeout")),
            "{out:?}"
        );
    }

    #[test]
    fn allow_with_reason_silences_only_the_next_statement() {
        let sql = "-- migrate:allow require-concurrent-index-creation reason: empty table\n\
                   CREATE INDEX a_idx ON accounts (name);\n\
                   CREATE INDEX b_idx ON accounts (name);\n";
        let out = run(sql, true);
        assert_eq!(rules_of(&out), ["require-concurrent-index-creation"]);
        assert_eq!(out.findings[0].line, 3);
        assert_eq!(out.allowed.len(), 1);
        assert_eq!(out.allowed[0].reason, "empty table");
        assert_eq!(out.allowed[0].line, 2);
    }

    #[test]
    fn allow_without_reason_is_an_error_and_silences_nothing() {
        let sql = "-- migrate:allow require-concurrent-index-creation\n\
                   CREATE INDEX a_idx ON accounts (name);\n";
        let out = run(sql, true);
        assert_eq!(
            rules_of(&out),
            ["allow-without-reason", "require-concurrent-index-creation"]
        );
        assert!(out.allowed.is_empty());
    }

    #[test]
    fn config_allow_silences_a_rule_in_one_migration() {
        let allows = [ConfigAllow {
            migration: "1".into(),
            rule: "require-concurrent-index-creation".into(),
            reason: "applied long ago".into(),
        }];
        let input = Input {
            sql: "CREATE INDEX a_idx ON accounts (name);",
            version: "1",
            run_in_transaction: true,
        };
        let out = lint(&input, &Severities::default(), &allows);
        assert!(out.findings.is_empty(), "{out:?}");
        assert_eq!(out.allowed[0].source, "config");
        let other = Input {
            version: "2",
            ..input
        };
        assert_eq!(
            lint(&other, &Severities::default(), &allows).findings.len(),
            1
        );
    }

    #[test]
    fn line_index_counts_characters() {
        let idx = LineIndex::new("ab\nçd\n");
        assert_eq!(idx.position(0), (1, 1));
        assert_eq!(idx.position(3), (2, 1));
        assert_eq!(idx.position(5), (2, 2));
    }
}
