//! `migrate rehearse`: the pending migrations on a production-shaped copy (see
//! [`crate::rehearse`]). Exits 11 on findings, after the report.

use std::fmt;

use serde::Serialize;

use crate::cli::RehearseArgs;
use crate::config::Config;
use crate::error::MigrateError;
use crate::rehearse::{self, Options, Rehearsal, Source, Thresholds};

use super::output::Report;
use super::{Ctx, check_to};

/// The rehearsal's report.
#[derive(Serialize)]
#[serde(transparent)]
pub(super) struct RehearseReport(Rehearsal);

pub(super) async fn run(
    ctx: &Ctx<'_>,
    args: &RehearseArgs,
) -> Result<RehearseReport, MigrateError> {
    // Everything that can be wrong with the command is found before connecting.
    let migrations = ctx.source.load_migrations()?;
    if let Some(to) = &args.to {
        check_to(to, &migrations, &ctx.source)?;
    }
    let config = Config::load(ctx.global.config.as_deref())?;
    let thresholds = Thresholds {
        max_lock: args.max_lock.or(config.rehearse.max_lock),
        max_rewrite_rows: args.max_rewrite_rows.or(config.rehearse.max_rewrite_rows),
    };
    let source = match (&args.from_dump, &args.from_db) {
        (Some(file), _) => Source::Dump(file.clone()),
        (None, Some(db)) => Source::Database(db.clone()),
        (None, None) => Source::LatestBackup,
    };
    let opts = Options {
        source,
        thresholds,
        keep: args.keep,
        watch: !args.no_watcher,
        to: args.to.clone(),
        scratch_url: super::scratch_url(ctx.global)?,
    };
    let rehearsal = rehearse::rehearse(&ctx.settings.conn, &migrations, &opts).await?;
    Ok(RehearseReport(rehearsal))
}

impl fmt::Display for RehearseReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Report for RehearseReport {
    fn failure(&self) -> Option<MigrateError> {
        let r = &self.0;
        (!r.findings.is_empty()).then(|| MigrateError::RehearsalFailed {
            findings: r.finding_lines(),
            kept: r.kept.then(|| r.scratch.clone()),
        })
    }
}
