//! Runs selected stages: guards, prerequisites, one transaction per stage, ledger, summary.

use crate::db::{self, PgPool};
use crate::error::{Result, SeedError};
use crate::feedback::SummaryRow;
use crate::fingerprint::{self, OwnedTable};
use crate::ledger::{self, NewEntry};
use crate::stages::stage::{Ctx, Stage, StageCtx};
use crate::write::Counts;
use chrono::Utc;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use groundwork_migrate::Environment;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;
use tokio::task::JoinSet;

/// What happened to one stage.
enum Outcome {
    Ran {
        counts: Counts,
        fingerprint: String,
        /// A secret the stage created, with its ledger row (to mark once the secret is shown).
        secret: Option<(i64, String)>,
    },
    Skipped {
        counts: Counts,
        fingerprint: String,
    },
}

/// Demo stages are refused when the run targets production, by flag or by stamp.
pub fn check_prod(env: Environment, stamp_is_prod: bool, stages: &[&dyn Stage]) -> Result<()> {
    if env != Environment::Prod && !stamp_is_prod {
        return Ok(());
    }
    let demo: Vec<_> = stages
        .iter()
        .filter(|s| !s.allowed_in_prod())
        .map(|s| s.id())
        .collect();
    if demo.is_empty() {
        return Ok(());
    }
    let why = if stamp_is_prod {
        "the database is stamped prod"
    } else {
        "the run targets prod (--env / APP_ENV)"
    };
    Err(SeedError::Refused(format!(
        "{why}, and demo stages never run in production: {}. Only 00_reference_data may run there (`seed --stage 00_reference_data`). Nothing was written.",
        demo.join(", ")
    )))
}

/// Stages whose prerequisites are neither selected nor recorded as succeeded.
pub async fn check_prerequisites(
    conn: &mut AsyncPgConnection,
    stages: &[&dyn Stage],
) -> Result<()> {
    let selected: HashSet<&str> = stages.iter().map(|s| s.id()).collect();
    let ledger_present = ledger::exists(conn).await?;
    let mut missing = BTreeMap::<&str, Vec<&str>>::new();
    for s in stages {
        for p in s.prerequisites() {
            if selected.contains(p) {
                continue;
            }
            let ok = ledger_present && ledger::last_success(conn, p).await?.is_some();
            if !ok {
                missing.entry(s.id()).or_default().push(p);
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let detail: Vec<String> = missing
        .iter()
        .map(|(s, ps)| format!("{s} needs {}", ps.join(", ")))
        .collect();
    let all: Vec<&str> = missing
        .values()
        .flatten()
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    Err(SeedError::Refused(format!(
        "prerequisite stages have never succeeded on this database: {}. Run them first (`seed --stage {}`) or use `--stage all`. Nothing was written.",
        detail.join("; "),
        all.join(",")
    )))
}

/// Advisory-lock key of a stage: concurrent seeders run the same stage one after the other.
fn lock_key(stage: &str) -> i64 {
    let d = Sha256::digest(format!("groundwork-seed/{stage}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    i64::from_le_bytes(b)
}

fn params(ctx: &Ctx) -> serde_json::Value {
    serde_json::json!({
        "rng_seed": ctx.rng_seed,
        "as_of": ctx.as_of.to_string(),
        "scale": ctx.scale,
        "data_fingerprint": ctx.core.fingerprint,
    })
}

async fn input_hash(conn: &mut AsyncPgConnection, ctx: &Ctx, stage: &dyn Stage) -> Result<String> {
    let mut h = Sha256::new();
    h.update(format!(
        "{}:{}:{}\n",
        stage.id(),
        stage.version(),
        params(ctx)
    ));
    for p in stage.prerequisites() {
        let fp = ledger::last_success(conn, p)
            .await?
            .and_then(|e| e.fingerprint)
            .unwrap_or_default();
        h.update(format!("{p}:{fp}\n"));
    }
    Ok(hex::encode(h.finalize()))
}

fn sum(counts: &BTreeMap<String, Counts>) -> Counts {
    Counts::sum(counts.values())
}

/// The recorded fingerprint when the stage's tables still hold what its last successful run
/// left. The cheap table state settles it when nothing was written since; otherwise (a write,
/// a restore, a ledger older than the state) the full fingerprint decides, and a match
/// refreshes the recorded state so the next rerun is cheap again.
async fn unchanged(
    c: &mut AsyncPgConnection,
    stage: &dyn Stage,
    last: &ledger::Entry,
) -> Result<Option<String>> {
    let Some(recorded) = last.fingerprint.as_deref() else {
        return Ok(None);
    };
    let state = fingerprint::table_state(c, stage.tables()).await?;
    if last.table_state.as_deref() == Some(state.as_str()) {
        return Ok(Some(recorded.to_string()));
    }
    let fp = fingerprint::stage_fingerprint(c, stage.tables()).await?;
    if fp != recorded {
        return Ok(None);
    }
    ledger::set_table_state(c, last.id, &state).await?;
    Ok(Some(fp))
}

async fn run_one(pool: &PgPool, ctx: &Ctx, stage: &dyn Stage, force: bool) -> Result<Outcome> {
    let mut conn = db::get(pool).await?;
    let started = Utc::now();
    let t0 = Instant::now();
    let id = stage.id();
    let force = force || stage.must_run(ctx);
    let outcome = conn
        .transaction::<Outcome, SeedError, _>(async |c| {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<BigInt, _>(lock_key(id))
                .execute(c)
                .await
                .map_err(SeedError::db(format!("waiting for the lock of stage {id}")))?;
            let input = input_hash(c, ctx, stage).await?;
            if !force
                && let Some(last) = ledger::last(c, id).await?
                && last.status == "succeeded"
                && last.input_hash == input
                && last.stage_version == stage.version()
                && let Some(fp) = unchanged(c, stage, &last).await?
            {
                let counts: BTreeMap<String, Counts> =
                    serde_json::from_value(last.counts).unwrap_or_default();
                let mut total = sum(&counts);
                total.unchanged = total.rows;
                total.inserted = 0;
                total.updated = 0;
                total.deleted = 0;
                return Ok(Outcome::Skipped {
                    counts: total,
                    fingerprint: fp,
                });
            }
            let output = stage.run(&StageCtx::new(ctx, id), c).await?;
            // A new secret replaces any one an earlier, killed run never showed, so that
            // warning no longer applies.
            let secret_created = output.secret.is_some();
            if secret_created {
                ledger::forget_undelivered_keys(c).await?;
            }
            let mut counts = output.counts;
            for t in stage.tables() {
                let d = counts.entry(t.name.to_string()).or_default();
                if d.deleted > 0 {
                    ctx.reporter.cleanup(id, t.name, d.deleted);
                }
                ctx.reporter.insert(id, t.name, d);
            }
            let fp = fingerprint::stage_fingerprint(c, stage.tables()).await?;
            let state = fingerprint::table_state(c, stage.tables()).await?;
            let entry = NewEntry {
                stage: id.to_string(),
                stage_version: stage.version(),
                input_hash: input,
                params: params(ctx),
                fingerprint: Some(fp.clone()),
                table_state: Some(state),
                counts: serde_json::to_value(&counts)
                    .map_err(|e| SeedError::Internal(e.to_string()))?,
                duration_ms: t0.elapsed().as_millis() as i64,
                status: "succeeded".into(),
                error: None,
                started_at: started,
                finished_at: Utc::now(),
                key_undelivered: secret_created,
            };
            let row = ledger::record(c, &entry).await?;
            Ok(Outcome::Ran {
                counts: sum(&counts),
                fingerprint: fp,
                secret: output.secret.map(|k| (row, k)),
            })
        })
        .await;
    // Shown the moment its transaction committed: a run killed by a later stage (or a later
    // stage's failure) must not take the secret with it. A secret made inside a rolled-back
    // transaction never existed, and never leaves this function.
    if let Ok(Outcome::Ran {
        secret: Some((row, key)),
        ..
    }) = &outcome
    {
        deliver_key(ctx, &mut conn, *row, key).await;
    }
    outcome
}

/// Prints the committed new key (and writes it with `--write-env`), then records in the
/// ledger that it was delivered. A run killed before that leaves the row undelivered, and
/// the next run says so.
async fn deliver_key(ctx: &Ctx, conn: &mut AsyncPgConnection, row: i64, key: &str) {
    match crate::show_key(ctx, key, ctx.write_env.as_deref()) {
        Ok(()) => {
            if let Err(e) = ledger::key_delivered(conn, row).await {
                tracing::warn!(error = %e, "could not record that the API key was shown; the next run will say it was not");
            }
        }
        Err(e) => {
            if let Ok(mut slot) = ctx.key_error.lock() {
                *slot = Some(e);
            }
        }
    }
}

async fn record_failure(
    pool: &PgPool,
    ctx: &Ctx,
    stage: &dyn Stage,
    cause: &str,
    started: chrono::DateTime<Utc>,
    millis: i64,
) {
    let entry = NewEntry {
        stage: stage.id().to_string(),
        stage_version: stage.version(),
        input_hash: String::new(),
        params: params(ctx),
        fingerprint: None,
        table_state: None,
        counts: serde_json::json!({}),
        duration_ms: millis,
        status: "failed".into(),
        error: Some(cause.to_string()),
        started_at: started,
        finished_at: Utc::now(),
        key_undelivered: false,
    };
    // Best effort: the stage's own error is what the user must see.
    match db::get(pool).await {
        Ok(mut conn) => {
            if let Err(e) = ledger::record(&mut conn, &entry).await {
                tracing::warn!(error = %e, "could not record the failed stage in the ledger");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not record the failed stage in the ledger"),
    }
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

/// Runs the selected stages, up to `jobs` at a time: a stage starts once the selected stages it
/// depends on have committed, so independent stages (04 and 05, 07 and 08) overlap while each
/// keeps its own transaction, lock and ledger row. With `jobs = 1` they run one by one in
/// registry order. Returns the summary rows in registry order; `secret_created` tells whether
/// a stage created (and the runner showed) a secret.
///
/// A failure stops new stages from starting (stages already running finish and commit, as
/// they do not depend on it); with `keep_going`, only the stages that depend on it, directly
/// or not, are skipped as blocked.
pub async fn run_stages(
    pool: &PgPool,
    ctx: &Arc<Ctx>,
    stages: &[&'static dyn Stage],
    force: bool,
    keep_going: bool,
    jobs: usize,
    secret_created: &mut bool,
) -> Result<Vec<SummaryRow>> {
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
            let (pool, ctx) = (pool.clone(), Arc::clone(ctx));
            tasks.spawn(async move {
                let started = Utc::now();
                let t0 = Instant::now();
                let result = run_one(&pool, &ctx, stage, force).await;
                // Staging tables a failed stage's rollback brought back (see `crate::bulk`).
                if let Some(loader) = ctx.bulk.get() {
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
                        *secret_created |= secret.is_some();
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
