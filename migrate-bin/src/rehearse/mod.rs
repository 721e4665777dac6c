//! `migrate rehearse`: the pending migrations applied to a production-shaped copy in a
//! scratch database on the same server, watched, reverted and applied again.
//!
//! ```text
//! source ──pg_restore──▶ scratch ──ANALYZE──▶ apply pending (watched, per statement)
//!        ──▶ revert newest first (catalog compared after each down.sql) ──▶ apply again
//!        ──▶ drop scratch (unless --keep)
//! ```
//!
//! The source database is only read (its audit log, or `pg_dump`); everything that changes
//! happens in the scratch database, which is created under a fresh name and dropped by that
//! name only.

mod apply;
mod locks;
mod report;
mod source;
mod watcher;

use std::time::{Duration, Instant};

use crate::error::{Direction, MigrateError};
use crate::policy::{ConnInfo, connect_client};
use crate::schema_catalog::{self, Catalog};
use crate::scratch::Scratch;
use crate::source::Migration;

pub use report::{Finding, Rehearsal, Thresholds, Timings};
pub use source::Source;

use apply::{MigrationRun, ms};
use source::db_error;

/// What to rehearse and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the copy comes from.
    pub source: Source,
    /// Limits that turn observations into findings.
    pub thresholds: Thresholds,
    /// Keep the scratch database afterwards.
    pub keep: bool,
    /// Sample locks while applying (off only to measure the watcher's cost).
    pub watch: bool,
    /// Rehearse only up to and including this version.
    pub to: Option<String>,
    /// An empty database to use instead of creating one (`--scratch-url`).
    pub scratch_url: Option<ConnInfo>,
}

/// Names a kept copy: recognisably a rehearsal of `target`, and outside the scratch sweep.
const KEPT_PREFIX: &str = "gw_rehearse_";

/// Rehearses `migrations` against a copy made on the server of `target`. Returns the
/// report; findings are in it (the caller turns them into exit 11).
pub async fn rehearse(
    target: &ConnInfo,
    migrations: &[Migration],
    opts: &Options,
) -> Result<Rehearsal, MigrateError> {
    let (origin, source_desc) = {
        let admin = client(target).await?;
        source::resolve(&opts.source, &admin, target).await?
    };
    let scratch = Scratch::open(target, opts.scratch_url.as_ref(), "rehearse").await?;
    let result = on_copy(&scratch, &origin, &source_desc, target, migrations, opts).await;
    if opts.keep {
        let kept = scratch.keep(&kept_name(target)).await;
        return match (result, kept) {
            (Ok(mut r), Ok(name)) => {
                r.scratch = name;
                Ok(r)
            }
            (Ok(_), Err(e)) | (Err(e), _) => Err(e),
        };
    }
    let dropped = scratch.discard().await;
    match (result, dropped) {
        (Ok(r), Ok(())) => Ok(r),
        (Ok(_), Err(e)) => Err(e),
        (Err(e), dropped) => {
            if let Err(d) = dropped {
                tracing::warn!(error = %d, "dropping the scratch database failed");
            }
            Err(e)
        }
    }
}

fn kept_name(target: &ConnInfo) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    let mut base: String = target
        .database()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    // PostgreSQL cuts names at 63 bytes; the random part must survive.
    base.truncate(63 - KEPT_PREFIX.len() - 9);
    format!("{KEPT_PREFIX}{base}_{}", &random[..8])
}

async fn client(conn: &ConnInfo) -> Result<tokio_postgres::Client, MigrateError> {
    let (client, connection) = connect_client(conn, &crate::policy::application_name()).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "rehearsal connection ended");
        }
    });
    Ok(client)
}

async fn on_copy(
    scratch: &Scratch,
    origin: &source::Origin,
    source_desc: &str,
    target: &ConnInfo,
    migrations: &[Migration],
    opts: &Options,
) -> Result<Rehearsal, MigrateError> {
    let mut timings = Timings::default();
    let started = Instant::now();
    source::restore(origin, target, scratch.conn_info()).await?;
    let applier = client(scratch.conn_info()).await?;
    // A restored copy has no statistics; the row counts in the report are the planner's.
    applier
        .batch_execute("ANALYZE")
        .await
        .map_err(|e| db_error("analysing the copy", &e))?;
    timings.copy_ms = ms(started.elapsed());

    let applied = apply::applied_versions(&applier)
        .await
        .map_err(|e| db_error("reading the copy's applied migrations", &e))?;
    let mut pending: Vec<&Migration> = migrations
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .collect();
    if let Some(to) = &opts.to {
        pending.retain(|m| m.version.as_str() <= to.as_str());
    }

    let mut rehearsal = Rehearsal {
        source: source_desc.to_string(),
        scratch: scratch.name(),
        kept: opts.keep,
        thresholds: opts.thresholds,
        watched: opts.watch,
        samples: 0,
        timings,
        migrations: Vec::new(),
        not_reverted: Vec::new(),
        findings: Vec::new(),
    };
    if pending.is_empty() {
        return Ok(rehearsal);
    }

    // Apply, watched.
    let existing = apply::rels(&applier)
        .await
        .map_err(|e| db_error("reading the copy's tables", &e))?;
    let pid: i32 = applier
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .map_err(|e| db_error("reading the applying backend's pid", &e))?
        .get(0);
    let mut before_up = Vec::with_capacity(pending.len());
    let mut runs: Vec<MigrationRun> = Vec::with_capacity(pending.len());
    let watcher = if opts.watch {
        Some(watcher::Watcher::start(
            client(scratch.conn_info()).await?,
            pid,
        ))
    } else {
        None
    };
    let mut applying = Duration::ZERO;
    let mut failed = None;
    for m in &pending {
        before_up.push(scratch.catalog().await?);
        match apply::run_migration(&applier, m, Direction::Up, opts.watch).await {
            Ok(run) => {
                applying += run.finished.saturating_duration_since(
                    run.statements.first().map_or(run.finished, |s| s.started),
                );
                runs.push(run);
            }
            Err(f) => {
                failed = Some(Finding::from(f));
                break;
            }
        }
    }
    let samples = match watcher {
        Some(w) => w.stop().await,
        None => Vec::new(),
    };
    rehearsal.samples = samples.len();
    rehearsal.timings.apply_ms = ms(applying);
    rehearsal.migrations = runs
        .iter()
        .map(|r| report::migration_report(r, &samples, &existing))
        .collect();
    rehearsal.findings.extend(report::threshold_findings(
        &rehearsal.migrations,
        opts.thresholds,
    ));
    if let Some(failure) = failed {
        rehearsal.findings.push(failure);
        return Ok(rehearsal);
    }

    // Revert newest first; each down.sql must give back the catalog its up.sql started from.
    let started = Instant::now();
    let mut reverted: Vec<&Migration> = Vec::new();
    let mut residue: std::collections::BTreeSet<String> = Default::default();
    for (i, m) in pending.iter().enumerate().rev() {
        if m.down_sql.is_none() {
            rehearsal.not_reverted = pending[..=i]
                .iter()
                .map(|m| format!("{} {}", m.version, m.name))
                .collect();
            break;
        }
        if let Err(f) = apply::run_migration(&applier, m, Direction::Down, false).await {
            rehearsal.findings.push(f.into());
            rehearsal.timings.revert_ms = ms(started.elapsed());
            return Ok(rehearsal);
        }
        let after = scratch.catalog().await?;
        // A newer down.sql's leftovers show up again here; only what is new is this one's.
        let differences: Vec<String> = differences(&before_up[i], &after)
            .into_iter()
            .filter(|d| !residue.contains(d))
            .collect();
        residue.extend(differences.iter().cloned());
        if !differences.is_empty() {
            rehearsal.findings.push(Finding::DownNotUndo {
                version: m.version.clone(),
                name: m.name.clone(),
                differences,
            });
        }
        reverted.push(m);
    }
    rehearsal.timings.revert_ms = ms(started.elapsed());

    // Apply again: up.sql must work on the data down.sql left.
    let started = Instant::now();
    for m in reverted.iter().rev() {
        if let Err(f) = apply::run_migration(&applier, m, Direction::Up, false).await {
            rehearsal.findings.push(f.into());
            break;
        }
    }
    rehearsal.timings.reapply_ms = ms(started.elapsed());
    Ok(rehearsal)
}

/// What `after` (the schema after a down.sql) has that `before` (the schema before its
/// up.sql) lacks, or has differently, one line each.
fn differences(before: &Catalog, after: &Catalog) -> Vec<String> {
    schema_catalog::diff(before, after)
        .into_iter()
        .map(|d| {
            let mut line = format!("{} {} {}", d.change.sign(), d.kind, d.object);
            if !d.detail.is_empty() {
                line.push_str(&format!(" ({})", d.detail));
            }
            line
        })
        .collect()
}
