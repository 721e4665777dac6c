//! One stage in its own transaction: the lock, the skip rule (same inputs, same tables), the
//! stage's run, its ledger row, and the delivery of a secret it created.

use super::secret;
use crate::db::{self, PgPool};
use crate::error::{Result, SeedError};
use crate::fingerprint;
use crate::ledger::{self, NewEntry};
use crate::stages::stage::{Ctx, Stage, StageCtx};
use crate::write::{Counts, Loader};
use chrono::Utc;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Instant;

/// What happened to one stage.
pub(super) enum Outcome {
    Ran {
        counts: Counts,
        fingerprint: String,
        /// Whether the stage created a secret, and whether showing it (and writing it with
        /// `--write-env`) worked: `None` when it made none.
        secret: Option<Result<()>>,
    },
    Skipped {
        counts: Counts,
        fingerprint: String,
    },
}

/// Advisory-lock key of a stage (`pg_advisory_xact_lock` in its transaction): concurrent
/// seeders run the same stage one after the other. Public so a test can hold a stage back.
pub fn stage_lock_key(stage: &str) -> i64 {
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

pub(super) async fn run_one(
    pool: &PgPool,
    ctx: &Ctx,
    loader: &Loader,
    stage: &dyn Stage,
    force: bool,
) -> Result<Outcome> {
    let mut conn = db::get(pool).await?;
    let started = Utc::now();
    let t0 = Instant::now();
    let id = stage.id();
    let force = force || stage.must_run(ctx);
    let outcome = conn
        .transaction::<(Outcome, Option<(i64, String)>), SeedError, _>(async |c| {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<BigInt, _>(stage_lock_key(id))
                .execute(c)
                .await
                .map_err(SeedError::db(format!("waiting for the lock of stage {id}")))?;
            // `--prune` first: the stage's run then meets only rows it generates.
            let pruned = match &ctx.prune {
                Some(target) => crate::prune::run(c, ctx, stage, target).await?,
                None => BTreeMap::new(),
            };
            let force = force || pruned.values().any(|n| *n > 0);
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
                return Ok((
                    Outcome::Skipped {
                        counts: total,
                        fingerprint: fp,
                    },
                    None,
                ));
            }
            let output = stage.run(&StageCtx::new(ctx, id, loader), c).await?;
            // A new secret replaces any one an earlier, killed run never showed, so that
            // warning no longer applies.
            let secret_created = output.secret.is_some();
            if secret_created {
                ledger::forget_undelivered_keys(c).await?;
            }
            let mut counts = output.counts;
            for (table, n) in &pruned {
                counts.entry(table.clone()).or_default().deleted += n;
            }
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
            let ran = Outcome::Ran {
                counts: sum(&counts),
                fingerprint: fp,
                secret: None,
            };
            Ok((ran, output.secret.map(|k| (row, k))))
        })
        .await;
    // Shown the moment its transaction committed: a run killed by a later stage (or a later
    // stage's failure) must not take the secret with it. A secret made inside a rolled-back
    // transaction never existed, and never leaves this function.
    match outcome? {
        (
            Outcome::Ran {
                counts,
                fingerprint,
                ..
            },
            Some((row, key)),
        ) if ctx.deliver_keys => Ok(Outcome::Ran {
            counts,
            fingerprint,
            secret: Some(secret::deliver(ctx, &mut conn, row, &key).await),
        }),
        (outcome, _) => Ok(outcome),
    }
}

pub(super) async fn record_failure(
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
