//! `migrate plan`: what `up` would run — each pending migration, whether it runs in a
//! transaction, its lint findings (and the allows that silenced some) and its SQL — and whether drift would block it. Changes nothing.

use std::fmt;

use serde::Serialize;

use crate::engine::ChangedMigration;
use crate::env::Environment;
use crate::error::MigrateError;
use crate::lint::{self, Allowed, Finding, report};
use crate::policy::Intent;

use super::output::Report;
use super::{Ctx, gate::tx_label};

/// What `up` would do.
#[derive(Serialize)]
pub(super) struct PlanReport {
    environment: Option<Environment>,
    drift: Drift,
    cleanup_hint: Option<String>,
    pending: Vec<Pending>,
    /// The error `up` would refuse with, as text.
    #[serde(skip)]
    blocked: Option<String>,
}

#[derive(Serialize)]
struct Drift {
    changed: Vec<ChangedMigration>,
    ahead: Vec<String>,
    blocks_up: bool,
}

#[derive(Serialize)]
struct Pending {
    version: String,
    name: String,
    run_in_transaction: bool,
    checksum: String,
    findings: Vec<Finding>,
    allowed: Vec<Allowed>,
    sql: String,
}

pub(super) async fn run(ctx: &Ctx<'_>, to: Option<&str>) -> Result<PlanReport, MigrateError> {
    let config = &ctx.config;
    let (mut session, _, _) = ctx.open("plan", Intent::ReadOnly, to).await?;
    let verification = session.verify().await?;
    let pending = session.pending(to).await?;
    Ok(PlanReport {
        environment: verification.environment,
        blocked: verification
            .to_error("the migrations source")
            .map(|e| e.to_string()),
        cleanup_hint: verification.cleanup_hint(),
        drift: Drift {
            blocks_up: !verification.is_clean(),
            changed: verification.changed,
            ahead: verification.ahead,
        },
        pending: pending
            .into_iter()
            .map(|m| {
                let lint = lint::lint_up(&m, &config.severities, &config.allows);
                Pending {
                    findings: lint.findings,
                    allowed: lint.allowed,
                    version: m.version,
                    name: m.name,
                    run_in_transaction: m.run_in_transaction,
                    checksum: m.checksum,
                    sql: m.up_sql,
                }
            })
            .collect(),
    })
}

impl fmt::Display for PlanReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = Vec::new();
        if let Some(err) = &self.blocked {
            lines.push(format!("BLOCKED: `up` would refuse: {err}"));
        }
        if let Some(hint) = &self.cleanup_hint {
            lines.push(format!("Warning: {hint}"));
        }
        if self.pending.is_empty() {
            lines.push("Nothing to apply: the database is up to date.".into());
            return f.write_str(&lines.join("\n"));
        }
        lines.push(format!("{} pending migration(s):", self.pending.len()));
        for m in &self.pending {
            lines.push(String::new());
            let tx = tx_label(m.run_in_transaction);
            lines.push(format!("== {} {} ({tx})", m.version, m.name));
            for finding in &m.findings {
                lines.extend(report::short(finding, "   ", ""));
            }
            for allowed in &m.allowed {
                lines.push(report::short_allowed(allowed, "   ", ""));
            }
            for line in m.sql.lines() {
                lines.push(format!("   | {line}"));
            }
        }
        f.write_str(&lines.join("\n"))
    }
}

impl Report for PlanReport {}
