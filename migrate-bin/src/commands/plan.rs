//! `migrate plan`: what `up` would run — each pending migration, whether it runs in a
//! transaction, its lint findings (and the allows that silenced some), the lock each statement takes with its table's live size, and
//! its SQL — and whether drift or out-of-order migrations would block it. Changes nothing in
//! the database; `--sql-script FILE` also writes it as a psql script.

use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::engine::{ChangedMigration, OutOfOrder, out_of_order};
use crate::env::Environment;
use crate::error::MigrateError;
use crate::lint::{self, Allowed, Finding, report};
use crate::policy::Intent;
use crate::script;

use super::output::Report;
use super::sizes::{GradedLock, graded_locks};
use super::{Ctx, gate::tx_label};

/// What `up` would do.
#[derive(Serialize)]
pub(super) struct PlanReport {
    environment: Option<Environment>,
    drift: Drift,
    cleanup_hint: Option<String>,
    pending: Vec<Pending>,
    /// Pending migrations older than the newest applied one (refused by `up` in
    /// staging/prod without --allow-out-of-order).
    out_of_order: Option<OutOfOrder>,
    /// Where `--sql-script` wrote the script.
    sql_script: Option<String>,
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
    locks: Vec<GradedLock>,
    sql: String,
}

pub(super) async fn run(
    ctx: &Ctx<'_>,
    to: Option<&str>,
    sql_script: Option<&Path>,
    allow_out_of_order: bool,
) -> Result<PlanReport, MigrateError> {
    let config = &ctx.config;
    let (mut session, settings, _) = ctx.open("plan", Intent::ReadOnly, to).await?;
    let verification = session.verify().await?;
    let pending = session.pending(to).await?;
    let applied: Vec<String> = session
        .applied()
        .await?
        .into_iter()
        .map(|a| a.version)
        .collect();
    let late = out_of_order(&pending, &applied);
    let blocked = verification.to_error("the migrations source");
    let script_path = match sql_script {
        Some(path) => {
            if let Some(err) = blocked {
                return Err(err);
            }
            if !verification.partial_failures.is_empty() {
                return Err(MigrateError::Refused(format!(
                    "no SQL script while a non-transactional migration's failure is unresolved: {} \
                     Finish or undo it and record that with `migrate resolve VERSION --applied | \
                     --rolled-back`, or let `migrate up --repair` rerun it",
                    verification.cleanup_hint().unwrap_or_default()
                )));
            }
            if let Some(l) = &late
                && !settings.env.is_disposable()
                && !allow_out_of_order
            {
                return Err(MigrateError::OutOfOrder {
                    versions: l.versions.clone(),
                    newest_applied: l.newest_applied.clone(),
                    env: settings.env,
                });
            }
            script::check_psql_safe(&pending)?;
            let opts = session.options().clone();
            let adopt = session
                .migrations()
                .iter()
                .filter(|m| verification.unrecorded.contains(&m.version))
                .collect();
            let text = script::render(&script::ScriptInput {
                env: settings.env,
                database: &settings.conn.database(),
                applied: applied.clone(),
                adopt,
                pending: &pending,
                out_of_order: late
                    .as_ref()
                    .map(|l| l.versions.clone())
                    .unwrap_or_default(),
                newest_applied: late.as_ref().map(|l| l.newest_applied.clone()),
                lock_timeout: opts.lock_timeout,
                statement_timeout: opts.statement_timeout,
                lock_retries: opts.lock_retries,
            });
            script::write_new_private(path, &text)?;
            Some(path.display().to_string())
        }
        None => None,
    };
    let mut items = Vec::with_capacity(pending.len());
    for m in pending {
        let lint = lint::lint_up(&m, &config.severities, &config.allows);
        items.push(Pending {
            findings: lint.findings,
            allowed: lint.allowed,
            locks: graded_locks(session.connection(), &m.up_sql).await,
            version: m.version,
            name: m.name,
            run_in_transaction: m.run_in_transaction,
            checksum: m.checksum,
            sql: m.up_sql,
        });
    }
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
        pending: items,
        out_of_order: late,
        sql_script: script_path,
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
        if let Some(l) = &self.out_of_order {
            lines.push(format!(
                "OUT OF ORDER: {} older than the newest applied migration {} (`up` refuses this in \
                 staging/prod without --allow-out-of-order; dev/test warn)",
                l.versions.join(", "),
                l.newest_applied
            ));
        }
        if let Some(path) = &self.sql_script {
            lines.push(format!(
                "SQL script written to {path}: apply it with `psql -v ON_ERROR_STOP=1 -f {path}`"
            ));
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
            for l in &m.locks {
                lines.push(format!("   lock: {}", l.line()));
            }
            for line in m.sql.lines() {
                lines.push(format!("   | {line}"));
            }
        }
        f.write_str(&lines.join("\n"))
    }
}

impl Report for PlanReport {}
