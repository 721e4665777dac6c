//! The schedule: which selected stage starts when, up to `--jobs` at a time.

use super::Run;
use super::one::{Outcome, record_failure, run_one};
use crate::db::PgPool;
use crate::error::{Result, SeedError};
use crate::feedback::SummaryRow;
use crate::stages::stage::{Ctx, Stage};
use crate::write::{Counts, Loader};
use chrono::Utc;
use std::sync::Arc;
use std::time::Instant;
use tokio::task::JoinSet;

/// What became of the secrets the stages of a run created.
#[derive(Default)]
pub struct Secrets {
    /// A stage created one (and it was shown, unless `error`).
    pub created: bool,
    /// Why one could not be printed or written with `--write-env`.
    pub error: Option<SeedError>,
}

/// Whether two stages may not run at the same time: they write a table in common.
/// Prerequisites already order the stages of the registry; this keeps the scheduler safe for
/// any future stage.
fn conflicts(a: &dyn Stage, b: &dyn Stage) -> bool {
    a.tables()
        .iter()
        .any(|t| b.tables().iter().any(|u| u.name == t.name))
}

/// Where a selected stage is in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Succeeded,
    Failed,
}

/// What a finished stage task hands back to the scheduler.
struct Finished {
    index: usize,
    result: Result<Outcome>,
    started: chrono::DateTime<Utc>,
    millis: u128,
}

/// Runs the selected stages, up to `run.jobs` at a time: a stage starts once the selected stages it
/// depends on have committed, so independent stages (05 and 06; 07, 08 and 10) overlap while each
/// keeps its own transaction, lock and ledger row. With `--jobs 1` they run one by one in
/// registry order. Returns the summary rows in registry order; `secrets` says what became of
/// the secrets stages created.
///
/// A failure stops new stages from starting (stages already running finish and commit, as
/// they do not depend on it); with `run.keep_going`, only the stages that depend on it, directly
/// or not, are skipped as blocked.
pub async fn run_stages(
    pool: &PgPool,
    ctx: &Arc<Ctx>,
    stages: &[&'static dyn Stage],
    loader: &Arc<Loader>,
    run: &Run,
    secrets: &mut Secrets,
) -> Result<Vec<SummaryRow>> {
    let Run {
        force,
        keep_going,
        jobs,
    } = *run;
    let jobs = jobs.max(1);
    let mut state = vec![State::Waiting; stages.len()];
    let mut rows: Vec<Option<SummaryRow>> = vec![None; stages.len()];
    let mut failures: Vec<String> = Vec::new();
    let mut first_failure: Option<SeedError> = None;
    let mut tasks: JoinSet<Finished> = JoinSet::new();
    let position = |id: &str| stages.iter().position(|s| s.id() == id);
    loop {
        // Start what can start, in registry order.
        let may_start = first_failure.is_none() || keep_going;
        for i in 0..stages.len() {
            if state[i] != State::Waiting || !may_start {
                continue;
            }
            let stage = stages[i];
            let id = stage.id();
            let prereqs: Vec<usize> = stage
                .prerequisites()
                .iter()
                .filter_map(|p| position(p))
                .collect();
            let blocked: Vec<&str> = prereqs
                .iter()
                .filter(|&&p| state[p] == State::Failed)
                .map(|&p| stages[p].id())
                .collect();
            if !blocked.is_empty() {
                state[i] = State::Failed;
                let msg = format!(
                    "{id} not run: its prerequisite {} failed",
                    blocked.join(", ")
                );
                ctx.reporter.error(id, &msg);
                failures.push(msg);
                rows[i] = Some(SummaryRow {
                    stage: id.into(),
                    status: "blocked".into(),
                    counts: Counts::default(),
                    millis: 0,
                });
                continue;
            }
            let running = state.iter().filter(|s| **s == State::Running).count();
            let ready = prereqs.iter().all(|&p| state[p] == State::Succeeded)
                && !(0..stages.len())
                    .any(|j| state[j] == State::Running && conflicts(stage, stages[j]));
            if !ready || running >= jobs {
                continue;
            }
            state[i] = State::Running;
            ctx.reporter.start(id, stage.description());
            let (pool, ctx, loader) = (pool.clone(), Arc::clone(ctx), Arc::clone(loader));
            tasks.spawn(async move {
                let started = Utc::now();
                let t0 = Instant::now();
                let result = run_one(&pool, &ctx, &loader, stage, force).await;
                // Staging tables a failed stage's rollback brought back (see `crate::write::bulk`).
                if let Some(loader) = loader.connected() {
                    let tables: Vec<&str> = stage.tables().iter().map(|t| t.name).collect();
                    if let Err(e) = loader.cleanup_tables(&tables).await {
                        tracing::warn!(error = %e, "could not drop the bulk loader's staging tables; the next run sweeps them");
                    }
                }
                Finished {
                    index: i,
                    result,
                    started,
                    millis: t0.elapsed().as_millis(),
                }
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let done = joined.map_err(|e| SeedError::Internal(format!("a stage task died: {e}")))?;
        let (i, stage) = (done.index, stages[done.index]);
        let id = stage.id();
        match done.result {
            Ok(outcome) => {
                state[i] = State::Succeeded;
                let (status, counts, fp) = match outcome {
                    Outcome::Ran {
                        counts,
                        fingerprint,
                        secret,
                    } => {
                        match secret {
                            Some(Ok(())) => secrets.created = true,
                            Some(Err(e)) => {
                                secrets.created = true;
                                secrets.error = Some(e);
                            }
                            None => {}
                        }
                        ("applied", counts, fingerprint)
                    }
                    Outcome::Skipped {
                        counts,
                        fingerprint,
                    } => ("unchanged", counts, fingerprint),
                };
                ctx.reporter.complete(id, status, &counts, done.millis, &fp);
                rows[i] = Some(SummaryRow {
                    stage: id.into(),
                    status: status.into(),
                    counts,
                    millis: done.millis,
                });
            }
            Err(e) => {
                state[i] = State::Failed;
                let cause = e.to_string();
                ctx.reporter.error(id, &cause);
                record_failure(pool, ctx, stage, &cause, done.started, done.millis as i64).await;
                failures.push(format!("{id}: {cause}"));
                rows[i] = Some(SummaryRow {
                    stage: id.into(),
                    status: "failed".into(),
                    counts: Counts::default(),
                    millis: done.millis,
                });
                if first_failure.is_none() {
                    first_failure = Some(SeedError::StageFailed {
                        stage: id.into(),
                        cause,
                    });
                }
            }
        }
    }
    if let (Some(first), false) = (first_failure, keep_going) {
        return Err(first);
    }
    let rows: Vec<SummaryRow> = rows.into_iter().flatten().collect();
    if failures.is_empty() {
        Ok(rows)
    } else {
        ctx.reporter.summary(&rows, "-");
        Err(SeedError::StagesFailed(failures))
    }
}
