//! `migrate history`: the audit log — runs, who ran them, their outcome, backups and
//! migrations.

use std::fmt;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use crate::error::MigrateError;
use crate::policy::Intent;
use crate::store::RunRecord;
use crate::summary;

use super::Ctx;
use super::output::Report;

/// The newest runs of the audit log, newest first.
#[derive(Serialize)]
pub(super) struct HistoryReport {
    runs: Vec<RunRecord>,
}

pub(super) async fn run(ctx: &Ctx<'_>, limit: i64) -> Result<HistoryReport, MigrateError> {
    let (mut session, _, _) = ctx.open("history", Intent::ReadOnly, None).await?;
    let runs = session.history(limit.max(1)).await?;
    Ok(HistoryReport { runs })
}

impl fmt::Display for HistoryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.runs.is_empty() {
            return f.write_str("No runs recorded yet.");
        }
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        table.set_header([
            "Run",
            "Started (UTC)",
            "Command",
            "Env",
            "Who",
            "Outcome",
            "Migrations",
            "Backup",
        ]);
        for r in &self.runs {
            let who = format!(
                "{}@{} (db {}, v{})",
                r.os_user.as_deref().unwrap_or("?"),
                r.host.as_deref().unwrap_or("?"),
                r.db_user,
                r.binary_version
            );
            let outcome = match &r.error {
                Some(e) => format!("{}: {}", r.outcome, e.chars().take(200).collect::<String>()),
                None => r.outcome.clone(),
            };
            // One line per migration, but a run of hundreds is summarised: --json has them all.
            let migrations: Vec<&str> = r
                .migrations
                .as_deref()
                .map(|m| m.split("; ").collect())
                .unwrap_or_default();
            table.add_row([
                r.id.to_string(),
                r.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                r.command.clone(),
                r.env.clone(),
                who,
                outcome,
                summary::list_in_run_order(&migrations, "\n"),
                r.backup_path.clone().unwrap_or_default(),
            ]);
        }
        write!(f, "{table}")
    }
}

impl Report for HistoryReport {}
