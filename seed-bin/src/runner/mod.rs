//! Runs the selected stages: guards, prerequisites, one transaction per stage (several at a
//! time), the ledger, secrets, the summary; and `seed --list` / `seed reset`'s emptying.

mod admin;
mod guards;
mod one;
mod schedule;
pub(crate) mod secret;

pub use admin::{list, reset_tables};
pub use guards::{check_prerequisites, check_prod};
pub use one::stage_lock_key;

use crate::dataset::stage_id;
use crate::db;
use crate::error::Result;
use crate::fingerprint::{self, OwnedTable};
use crate::ledger;
use crate::stages::STAGES;
use crate::stages::stage::{Ctx, Stage};
use crate::write::{Loader, bulk};
use diesel_async::AsyncPgConnection;
use schedule::Secrets;
use std::sync::Arc;

/// How to run the stages: the flags of one `seed` invocation.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub force: bool,
    pub keep_going: bool,
    pub jobs: usize,
}

/// Seeds `stages` (already checked by the guards) on `conn`'s database, then prints the
/// summary table, which ends the run's output.
pub async fn seed(
    url: &groundwork_migrate::ConnInfo,
    conn: &mut AsyncPgConnection,
    ctx: &Arc<Ctx>,
    stages: &[&'static dyn Stage],
    run: Run,
) -> Result<()> {
    // Staging tables of killed runs: swept by every run, not only when a bulk load starts.
    let swept = bulk::sweep_stale(url).await?;
    if swept > 0 {
        ctx.reporter.note(&format!(
            "dropped {swept} staging table(s) left by a killed seed run"
        ));
    }
    secret::warn_undelivered(conn, ctx).await?;
    // One connection per running stage, and one for the ledger row of a failed stage.
    let pool = db::pool(url, run.jobs as u32 + 1).await?;
    // The bulk loader connects when the first stage loads through it.
    let loader = Arc::new(Loader::new(url));
    // A new key is shown as soon as its stage commits (see `one::run_one`).
    let mut secrets = Secrets::default();
    let result = schedule::run_stages(&pool, ctx, stages, &loader, &run, &mut secrets).await;
    if !secrets.created
        && ctx.write_env.is_some()
        && stages.iter().any(|s| s.id() == stage_id::CORE_ENTITIES)
    {
        ctx.reporter.note("the existing API key was kept, so .env was not changed; use --rotate-key --write-env for a new one");
    }
    let rows = match (result, secrets.error) {
        (Ok(rows), None) => rows,
        (Ok(_), Some(e)) => return Err(e),
        (Err(e), key_error) => {
            if let Some(k) = key_error {
                eprintln!("error: {k}");
            }
            return Err(e);
        }
    };
    let fp = dataset_fingerprint(conn, STAGES).await?;
    ctx.reporter.summary(&rows, &fp);
    Ok(())
}

/// Dataset fingerprint: every stage's last successful fingerprint, in stage order.
pub async fn dataset_fingerprint(
    conn: &mut AsyncPgConnection,
    stages: &[&dyn Stage],
) -> Result<String> {
    let mut parts = Vec::new();
    for s in stages {
        if let Some(e) = ledger::last_success(conn, s.id()).await?
            && let Some(fp) = e.fingerprint
        {
            parts.push((s.id(), fp));
        }
    }
    Ok(fingerprint::combine(
        parts.iter().map(|(s, f)| (*s, f.as_str())),
    ))
}

/// Every table any stage owns, in stage order.
pub fn all_tables(stages: &[&dyn Stage]) -> Vec<OwnedTable> {
    stages
        .iter()
        .flat_map(|s| s.tables().iter().copied())
        .collect()
}
