//! The sweep of stale staging tables (the rule is in the module docs of `bulk`).

use super::conn::{db_err, describe_target, open};
use super::{Result, ident};
use groundwork_migrate::ConnInfo;
use tokio_postgres::Client;

/// First key of the two-key advisory lock a loader holds for its life (ASCII `bulk`); the
/// second key is the run id. Two-key locks live apart from the runner's one-key locks.
pub const BULK_LOCK_NAMESPACE: i32 = 0x6275_6c6b;

/// The run id encoded in a staging table's name (`stg_<run>_<seq>_<table>`).
pub(super) fn run_id_of(staging: &str) -> Option<i32> {
    staging
        .strip_prefix("stg_")?
        .split('_')
        .next()?
        .parse()
        .ok()
}

/// Drops the staging tables of dead seed runs (see the module docs of `bulk` for the rule),
/// on a connection of its own; returns how many. Every seed run calls this before its stages,
/// so a killed run's leftovers go even when no later stage needs a bulk load.
pub async fn sweep_stale(cfg: &ConnInfo) -> Result<usize> {
    let client = open(cfg, &describe_target(cfg)).await?;
    let present: bool = client
        .query_one("SELECT to_regnamespace('groundwork') IS NOT NULL", &[])
        .await
        .map_err(db_err("groundwork", "looking for schema groundwork"))?
        .get(0);
    if !present {
        return Ok(0);
    }
    sweep_dead(&client, None).await
}

/// The sweep itself. `own_run` is the caller's own run id when it is a loader: a table with
/// that id is an earlier, dead session's with the same pid (the caller holds that lock).
pub(super) async fn sweep_dead(client: &Client, own_run: Option<i32>) -> Result<usize> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'groundwork' AND c.relkind = 'r' AND c.relname LIKE 'stg\\_%'",
            &[],
        )
        .await
        .map_err(db_err("groundwork", "listing staging tables"))?;
    let mut dropped = 0;
    for row in rows {
        let name: String = row.get(0);
        let Some(run) = run_id_of(&name) else {
            continue;
        };
        let mine = own_run == Some(run);
        // The owner's session lock is free only when its session is gone, however it died.
        let stale = mine || {
            let got: bool = client
                .query_one(
                    "SELECT pg_try_advisory_lock($1, $2)",
                    &[&BULK_LOCK_NAMESPACE, &run],
                )
                .await
                .map_err(db_err("groundwork", "probing a staging table's owner"))?
                .get(0);
            got
        };
        if !stale {
            continue;
        }
        let drop = client
            .batch_execute(&format!("DROP TABLE IF EXISTS groundwork.{}", ident(&name)))
            .await;
        if !mine {
            let _ = client
                .execute(
                    "SELECT pg_advisory_unlock($1, $2)",
                    &[&BULK_LOCK_NAMESPACE, &run],
                )
                .await;
        }
        drop.map_err(db_err(
            "groundwork",
            format!("dropping stale staging table {name}"),
        ))?;
        tracing::info!(table = %name, "dropped a staging table left by an earlier run");
        dropped += 1;
    }
    Ok(dropped)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn staging_names_carry_the_run_id() {
        assert_eq!(run_id_of("stg_4242_0_assets"), Some(4242));
        assert_eq!(run_id_of("stg_x_0_assets"), None);
        assert_eq!(run_id_of("assets"), None);
    }
}
