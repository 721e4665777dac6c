//! What `migrate lint` prints: per migration its findings (file:line, the statement, the
//! rule, the fix) and what allows silenced, then the counts. Text via `Display`, JSON via
//! `Serialize`. Also the short form `plan` and the production plan show per finding.

use std::fmt;

use serde::Serialize;

use super::catalog::{Origin, RuleInfo, Severity};
use super::{Allowed, FileLint, Finding};

/// Statement lines shown whole under a finding; longer statements are cut around it.
const STATEMENT_LINES: usize = 8;

/// One linted migration.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationLint {
    /// Its version.
    pub version: String,
    /// Its name.
    pub name: String,
    /// The file linted, e.g. `migrations/2026-01-10-090000_create_tenancy/up.sql`.
    pub file: String,
    /// Whether the engine runs it in a transaction.
    pub run_in_transaction: bool,
    /// Its findings.
    pub findings: Vec<Finding>,
    /// What allows silenced.
    pub allowed: Vec<Allowed>,
}

impl MigrationLint {
    /// Puts a file's lint together with the migration it belongs to.
    pub fn new(
        version: &str,
        name: &str,
        file: String,
        run_in_transaction: bool,
        lint: FileLint,
    ) -> Self {
        Self {
            version: version.to_string(),
            name: name.to_string(),
            file,
            run_in_transaction,
            findings: lint.findings,
            allowed: lint.allowed,
        }
    }
}

/// Counts over every linted migration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Findings at error severity.
    pub errors: usize,
    /// Findings at warning severity.
    pub warnings: usize,
    /// Findings silenced by an allow.
    pub allowed: usize,
}

impl Totals {
    /// Adds up `migrations`.
    pub fn of(migrations: &[MigrationLint]) -> Self {
        let mut t = Totals::default();
        for m in migrations {
            for f in &m.findings {
                match f.severity {
                    Severity::Error => t.errors += 1,
                    Severity::Warning => t.warnings += 1,
                    Severity::Off => {}
                }
            }
            t.allowed += m.allowed.len();
        }
        t
    }

    /// Whether these counts fail a run (warnings only under `--deny warnings`).
    pub fn fails(&self, deny_warnings: bool) -> bool {
        self.errors > 0 || (deny_warnings && self.warnings > 0)
    }
}

/// `migrate lint`'s report.
#[derive(Debug, Clone, Serialize)]
pub struct LintReport {
    /// The config used.
    pub config: String,
    /// What was linted: `pending`, `all` or `version`.
    pub scope: &'static str,
    /// `--deny warnings`.
    pub deny_warnings: bool,
    /// The linted migrations, oldest first.
    pub migrations: Vec<MigrationLint>,
    /// Counts.
    #[serde(flatten)]
    pub totals: Totals,
    /// Whether the run fails (exit 10).
    pub failed: bool,
    /// The `tenant-distribution` check of the schema the migrations produce (`None`: the
    /// rule is off, or nothing was linted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_distribution: Option<TenantLint>,
}

/// The `tenant-distribution` rule's result: findings on the catalog of a scratch database
/// the migrations were applied to, or why it could not run.
#[derive(Debug, Clone, Serialize)]
pub struct TenantLint {
    /// The rule's severity.
    pub severity: Severity,
    /// The newest migration the checked schema was built with.
    pub through: String,
    /// Why the check did not run (no server); counts as a warning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// What is not distributable, each with its fix.
    pub findings: Vec<crate::tenancy::Finding>,
}

impl LintReport {
    /// Builds the report and works out whether it fails.
    pub fn new(
        config: String,
        scope: &'static str,
        deny_warnings: bool,
        migrations: Vec<MigrationLint>,
    ) -> Self {
        let totals = Totals::of(&migrations);
        Self {
            config,
            scope,
            deny_warnings,
            failed: totals.fails(deny_warnings),
            migrations,
            totals,
            tenant_distribution: None,
        }
    }

    /// Adds the `tenant-distribution` result: its findings count at the rule's severity. A
    /// check skipped for want of a database is a note, not a finding: `--all` and VERSION
    /// lint offline by design (CI gives `.ci/run`'s lint step a database, so it is checked there).
    pub fn with_tenant_distribution(mut self, t: TenantLint) -> Self {
        let n = t.findings.len();
        match t.severity {
            Severity::Error => self.totals.errors += n,
            Severity::Warning => self.totals.warnings += n,
            Severity::Off => {}
        }
        self.failed = self.totals.fails(self.deny_warnings);
        self.tenant_distribution = Some(t);
        self
    }

    fn tenant_fails(&self) -> bool {
        self.tenant_distribution.as_ref().is_some_and(|t| {
            !t.findings.is_empty()
                && (t.severity == Severity::Error
                    || (self.deny_warnings && t.severity == Severity::Warning))
        })
    }

    /// The error message of a failed run.
    pub fn failure_message(&self) -> Option<String> {
        self.failed.then(|| {
            let message = failure_message(&self.migrations, self.totals, self.deny_warnings);
            let schema = "the schema the migrations produce (tenant-distribution, see \
                          docs/scaling.md)";
            if !self.tenant_fails() {
                message
            } else if message.contains(" in . ") {
                message.replacen(" in . ", &format!(" in {schema}. "), 1)
            } else {
                message.replacen(" in ", &format!(" in {schema} and in "), 1)
            }
        })
    }
}

/// "lint failed: …" for `migrate lint` and the staging/prod `up` gate.
pub fn failure_message(
    migrations: &[MigrationLint],
    totals: Totals,
    deny_warnings: bool,
) -> String {
    let failing: Vec<String> = migrations
        .iter()
        .filter(|m| {
            m.findings.iter().any(|f| {
                f.severity == Severity::Error || (deny_warnings && f.severity == Severity::Warning)
            })
        })
        .map(|m| format!("{} {}", m.version, m.name))
        .collect();
    let mut counted = format!("{} error(s)", totals.errors);
    if deny_warnings {
        counted.push_str(&format!(
            " and {} warning(s) (--deny warnings)",
            totals.warnings
        ));
    }
    format!(
        "lint failed: {counted} in {}. Fix each finding as its `fix:` line says, or, where it \
         is safe, silence that one statement with `-- migrate:allow RULE reason: WHY` on the \
         line before it (see docs/lint.md)",
        failing.join(", ")
    )
}

/// `error[rule] file:line:col` — the head line of a finding.
fn head(f: &Finding, file: &str) -> String {
    format!("{}[{}] {file}:{}:{}", f.severity, f.rule, f.line, f.column)
}

/// The statement under a finding: whole when short; else its first line, then the lines
/// around the finding's, so a column deep in a long CREATE TABLE is on screen.
fn statement_lines(f: &Finding, indent: &str) -> Vec<String> {
    let lines: Vec<&str> = f.statement.lines().collect();
    if lines.len() <= STATEMENT_LINES {
        return lines.iter().map(|l| format!("{indent}| {l}")).collect();
    }
    let at = f.line.saturating_sub(f.statement_line);
    let from = at.saturating_sub(1).max(1);
    let to = (at + 2).min(lines.len());
    let mut out = vec![format!("{indent}| {}", lines[0])];
    if from > 1 {
        out.push(format!("{indent}| …"));
    }
    out.extend(lines[from..to].iter().map(|l| format!("{indent}| {l}")));
    if to < lines.len() {
        out.push(format!("{indent}| …"));
    }
    out
}

/// A finding as the plans show it, under their migration's heading; `label` (e.g.
/// `(down.sql) `) says which file when a plan shows two.
pub fn short(f: &Finding, indent: &str, label: &str) -> Vec<String> {
    let mut lines = vec![format!(
        "{indent}{label}{}[{}] line {}: {}",
        f.severity, f.rule, f.line, f.message
    )];
    if let Some(help) = &f.help {
        lines.push(format!("{indent}  fix: {help}"));
    }
    lines
}

/// An allowed finding as the plans show it.
pub fn short_allowed(a: &Allowed, indent: &str, label: &str) -> String {
    format!(
        "{indent}{label}allowed[{}] line {} ({}): {}",
        a.rule, a.line, a.source, a.reason
    )
}

impl fmt::Display for LintReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = Vec::new();
        for m in &self.migrations {
            for finding in &m.findings {
                lines.push(head(finding, &m.file));
                lines.push(format!("  migration {} {}", m.version, m.name));
                lines.push(format!("  {}", finding.message));
                lines.extend(statement_lines(finding, "  "));
                if let Some(help) = &finding.help {
                    lines.push(format!("  fix: {help}"));
                }
                lines.push(String::new());
            }
            for a in &m.allowed {
                lines.push(format!(
                    "allowed[{}] {}:{} ({}): {}",
                    a.rule, m.file, a.line, a.source, a.reason
                ));
            }
            if !m.allowed.is_empty() {
                lines.push(String::new());
            }
        }
        if let Some(t) = &self.tenant_distribution {
            lines.extend(tenant_lines(t));
            lines.push(String::new());
        }
        let what = match self.scope {
            "pending" => "pending migration(s)",
            _ => "migration(s)",
        };
        if self.migrations.is_empty() {
            lines.push(match self.scope {
                "pending" => "Nothing to lint: no pending migrations.".to_string(),
                _ => "Nothing to lint.".to_string(),
            });
        } else {
            lines.push(format!(
                "Linted {} {what} (config {}): {} error(s), {} warning(s), {} allowed.",
                self.migrations.len(),
                self.config,
                self.totals.errors,
                self.totals.warnings,
                self.totals.allowed
            ));
        }
        f.write_str(&lines.join("\n"))
    }
}

/// The `tenant-distribution` section of the text report.
fn tenant_lines(t: &TenantLint) -> Vec<String> {
    let rule = crate::tenancy::RULE;
    if let Some(why) = &t.skipped {
        return vec![format!("note[{rule}] not checked: {why}")];
    }
    let mut lines = vec![format!(
        "{rule}: the schema after {} checked: {} finding(s).",
        t.through,
        t.findings.len()
    )];
    for f in &t.findings {
        lines.push(String::new());
        let text = f.to_string();
        let mut it = text.lines();
        if let Some(first) = it.next() {
            lines.push(format!("{}[{rule}] {first}", t.severity));
        }
        lines.extend(it.map(str::to_string));
    }
    lines
}

/// `migrate lint --rules`: every rule and its severity under the config in use.
#[derive(Debug, Clone, Serialize)]
pub struct RulesReport {
    /// The config used.
    pub config: String,
    /// Every rule.
    pub rules: Vec<RuleLine>,
}

/// One rule of `--rules`.
#[derive(Debug, Clone, Serialize)]
pub struct RuleLine {
    /// The id.
    pub id: String,
    /// `squawk` or `own`.
    pub origin: &'static str,
    /// Severity in effect.
    pub severity: Severity,
    /// Our default.
    pub default: Severity,
}

impl RuleLine {
    /// A rule with the severity in effect.
    pub fn new(info: &RuleInfo, severity: Severity) -> Self {
        Self {
            id: info.id.clone(),
            origin: match info.origin {
                Origin::Squawk(_) => "squawk",
                Origin::Own(_) => "own",
            },
            severity,
            default: info.default,
        }
    }
}

impl fmt::Display for RulesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.rules.iter().map(|r| r.id.len()).max().unwrap_or(0);
        let mut lines = Vec::new();
        for r in &self.rules {
            let changed = if r.severity == r.default {
                String::new()
            } else {
                format!(" (default {})", r.default)
            };
            let line = format!(
                "{:<width$}  {:<7}  {:<6}{changed}",
                r.id, r.severity, r.origin
            );
            lines.push(line.trim_end().to_string());
        }
        let count = |s: Severity| self.rules.iter().filter(|r| r.severity == s).count();
        lines.push(String::new());
        lines.push(format!(
            "{} rules: {} error, {} warning, {} off (config {}).",
            self.rules.len(),
            count(Severity::Error),
            count(Severity::Warning),
            count(Severity::Off),
            self.config
        ));
        f.write_str(&lines.join("\n"))
    }
}
