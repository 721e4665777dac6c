//! `seed snapshot list | prune | drop`.

use super::key::{NAME_PREFIX, SPARE_PREFIX};
use super::store::{Admin, BUILDING_PREFIX, Listed};
use crate::cli::{LogFormat, SnapshotCommand};
use crate::error::{Result, SeedError};
use crate::feedback::Reporter;
use crate::out;
use groundwork_migrate::{ConnInfo, Environment};

/// Runs one `seed snapshot` command against the server of `info`. Refused (exit 4, nothing
/// changed) when the run or the database is staging or prod: snapshots are for disposable
/// databases only.
pub async fn run(
    info: &ConnInfo,
    env: Environment,
    stamp_is_prod: bool,
    cmd: &SnapshotCommand,
    reporter: &Reporter,
) -> Result<()> {
    if !env.is_disposable() || stamp_is_prod {
        let env = if stamp_is_prod {
            Environment::Prod
        } else {
            env
        };
        return Err(SeedError::Refused(format!(
            "snapshots are for dev and test databases only, and this run's database is {env}; \
             `seed snapshot` never runs against staging or production servers. Nothing was changed."
        )));
    }
    let admin = Admin::connect(info).await?;
    match cmd {
        SnapshotCommand::List => list(&admin, reporter).await,
        SnapshotCommand::Prune { keep } => {
            let all = admin.list().await?;
            let doomed: Vec<&Listed> = all.iter().skip(*keep as usize).collect();
            for s in &doomed {
                admin.drop_snapshot(&s.name).await?;
                reporter.note(&format!("dropped snapshot {}", s.name));
            }
            drop_orphan_spares(&admin).await?;
            reporter.note(&format!(
                "kept {} snapshot(s), dropped {}",
                all.len() - doomed.len(),
                doomed.len()
            ));
            Ok(())
        }
        SnapshotCommand::Drop {
            name: Some(name), ..
        } => {
            if ![NAME_PREFIX, BUILDING_PREFIX, SPARE_PREFIX]
                .iter()
                .any(|p| name.starts_with(p))
            {
                return Err(SeedError::Usage(format!(
                    "`{name}` is not a snapshot: their names start with {NAME_PREFIX}. `seed snapshot list` shows them."
                )));
            }
            if !admin.exists(name).await? {
                return Err(SeedError::Usage(format!(
                    "there is no snapshot `{name}` on this server; `seed snapshot list` shows them."
                )));
            }
            admin.drop_snapshot(name).await?;
            reporter.note(&format!("dropped snapshot {name}"));
            drop_orphan_spares(&admin).await
        }
        SnapshotCommand::Drop { name: None, .. } => {
            let mut names: Vec<String> = admin.list().await?.into_iter().map(|s| s.name).collect();
            names.extend(admin.leftovers().await?);
            for n in &names {
                admin.drop_snapshot(n).await?;
            }
            reporter.note(&format!("dropped {} snapshot(s)", names.len()));
            drop_orphan_spares(&admin).await
        }
        SnapshotCommand::Maintain(_) => Err(SeedError::Internal(
            "`seed snapshot maintain` reached the snapshot commands".into(),
        )),
    }
}

/// Drops the spares whose snapshot is gone (dropped by other means than `seed`, or while a
/// spare's builder was at work): a spare never outlives its snapshot for long.
async fn drop_orphan_spares(admin: &Admin) -> Result<()> {
    for spare in admin.orphan_spares().await? {
        admin.drop_snapshot(&spare).await?;
    }
    Ok(())
}

async fn list(admin: &Admin, reporter: &Reporter) -> Result<()> {
    let all = admin.list().await?;
    if reporter.format() == LogFormat::Json {
        for s in &all {
            let v = serde_json::json!({
                "event": "snapshot",
                "name": s.name,
                "size_bytes": s.size_bytes,
                "key": s.meta.as_ref().map(|m| &m.key),
                "inputs": s.meta.as_ref().map(|m| &m.inputs),
                "created_at": s.meta.as_ref().map(|m| m.created_at),
                "last_used_at": s.meta.as_ref().and_then(|m| m.last_used_at),
            });
            out!("{v}");
        }
        return Ok(());
    }
    if all.is_empty() {
        out!(
            "no snapshots on this server; a successful `seed --stage all` into an empty dev/test database or a `seed reset` keeps one"
        );
        return Ok(());
    }
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(["name", "inputs", "size", "created", "last used"]);
    let when = |d: Option<chrono::DateTime<chrono::Utc>>| {
        d.map_or("never".to_string(), |d| {
            d.format("%Y-%m-%d %H:%M").to_string()
        })
    };
    for s in &all {
        let (inputs, created, used) = match &s.meta {
            Some(m) => (
                format!(
                    "scale {}, rng-seed {}, as-of {}, {} stage(s), {} migration(s), dataset v{}, core {}",
                    m.inputs.scale,
                    m.inputs.rng_seed,
                    m.inputs.as_of,
                    m.inputs.stages.len(),
                    m.inputs.migrations.len(),
                    m.inputs.dataset_version,
                    &m.inputs.core_data_sha256[..m.inputs.core_data_sha256.len().min(12)]
                ),
                when(Some(m.created_at)),
                when(m.last_used_at),
            ),
            None => (
                "unknown (no key recorded)".into(),
                "unknown".into(),
                "unknown".into(),
            ),
        };
        t.add_row([
            s.name.clone(),
            inputs,
            format!("{:.1} MB", s.size_bytes as f64 / 1_048_576.0),
            created,
            used,
        ]);
    }
    out!("{t}");
    Ok(())
}
