//! `migrate status`: applied and pending migrations, with the dates they were applied.

use std::fmt;

use chrono::NaiveDateTime;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use crate::env::Environment;
use crate::error::MigrateError;
use crate::policy::{Intent, Standing};

use super::Ctx;
use super::output::Report;

/// What `status` shows.
#[derive(Serialize)]
pub(super) struct StatusReport {
    /// The database, password redacted.
    database: String,
    /// Its stamp.
    environment: Option<Environment>,
    standing: Standing,
    applied_count: usize,
    pending_count: usize,
    migrations: Vec<Row>,
    /// Applied versions this binary does not know (database ahead).
    unknown_applied: Vec<String>,
}

#[derive(Serialize)]
struct Row {
    version: String,
    name: String,
    /// `applied` or `pending`.
    state: &'static str,
    #[serde(serialize_with = "seconds")]
    applied_at: Option<NaiveDateTime>,
    run_in_transaction: bool,
    /// Applied, and its up.sql changed since.
    changed: bool,
}

fn seconds<S: serde::Serializer>(at: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(t) => s.serialize_str(&t.format("%Y-%m-%dT%H:%M:%S").to_string()),
        None => s.serialize_none(),
    }
}

pub(super) async fn run(ctx: &Ctx<'_>) -> Result<StatusReport, MigrateError> {
    let Ctx { settings, .. } = ctx;
    let (mut session, _, facts) = ctx.open("status", Intent::ReadOnly, None).await?;
    let status = session.status().await?;
    Ok(StatusReport {
        database: settings.conn.redacted(),
        environment: facts.stamp,
        standing: facts.standing(),
        applied_count: status.applied_count(),
        pending_count: status.pending_count(),
        migrations: status
            .migrations
            .into_iter()
            .map(|m| Row {
                state: if m.applied_at.is_some() {
                    "applied"
                } else {
                    "pending"
                },
                version: m.version,
                name: m.name,
                applied_at: m.applied_at,
                run_in_transaction: m.run_in_transaction,
                changed: m.changed,
            })
            .collect(),
        unknown_applied: status.unknown_applied,
    })
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        table.set_header(["Version", "Name", "State", "Applied at"]);
        for m in &self.migrations {
            let (state, at) = match m.applied_at {
                Some(t) if m.changed => (
                    "applied, CHANGED since",
                    t.format("%Y-%m-%d %H:%M:%S").to_string(),
                ),
                Some(t) => ("applied", t.format("%Y-%m-%d %H:%M:%S").to_string()),
                None => ("pending", String::new()),
            };
            table.add_row([m.version.as_str(), m.name.as_str(), state, at.as_str()]);
        }
        for v in &self.unknown_applied {
            table.add_row([v.as_str(), "(not in this binary)", "applied", ""]);
        }
        writeln!(f, "{table}")?;
        write!(
            f,
            "{} applied, {} pending{}; environment stamp: {}",
            self.applied_count,
            self.pending_count,
            if self.unknown_applied.is_empty() {
                String::new()
            } else {
                format!(
                    ", {} applied but unknown to this binary (database ahead)",
                    self.unknown_applied.len()
                )
            },
            self.standing
        )
    }
}

impl Report for StatusReport {}
