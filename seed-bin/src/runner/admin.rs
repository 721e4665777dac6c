//! `seed --list` and the emptying of `seed reset`.

use super::all_tables;
use crate::db;
use crate::error::{Result, SeedError};
use crate::ledger;
use crate::out;
use crate::stages::STAGES;
use diesel_async::AsyncPgConnection;
use groundwork_migrate::ConnInfo;
use groundwork_migrate::policy;

/// Empties every table a stage owns, and the ledger, in one transaction.
pub async fn reset_tables(conn: &mut AsyncPgConnection) -> Result<()> {
    use diesel_async::{AsyncConnection, SimpleAsyncConnection};
    let tables: Vec<String> = all_tables(STAGES)
        .iter()
        .map(|t| format!("public.{}", policy::quote_ident(t.name)))
        .collect();
    let sql = format!(
        "TRUNCATE {} CASCADE; DELETE FROM groundwork.seed_ledger;",
        tables.join(", ")
    );
    conn.transaction::<(), SeedError, _>(async |c| {
        c.batch_execute(&sql).await?;
        Ok(())
    })
    .await
    .map_err(|e| match e {
        SeedError::Database { source, .. } => SeedError::Database {
            doing: "emptying the seeded tables".into(),
            source,
        },
        other => other,
    })
}

/// `seed --list`: stages, prerequisites, and their last run on this database (when reachable).
/// `target` is the database when one was given (without one the list still shows the stages).
pub async fn list(target: Option<&ConnInfo>) -> Result<()> {
    let mut conn = match target {
        Some(t) => Some(db::connect(t).await?),
        None => None,
    };
    let has_ledger = match conn.as_mut() {
        Some(c) => ledger::exists(c).await?,
        None => false,
    };
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(["stage", "description", "prerequisites", "last run"]);
    for s in STAGES {
        let last = match (conn.as_mut(), has_ledger) {
            (Some(c), true) => match ledger::last(c, s.id()).await? {
                Some(e) => format!("{} {}", e.status, e.finished_at.format("%Y-%m-%d %H:%M")),
                None => "never".into(),
            },
            (Some(_), false) => "never".into(),
            (None, _) => "unknown (no DATABASE_URL)".into(),
        };
        let prereq = if s.prerequisites().is_empty() {
            "-".to_string()
        } else {
            s.prerequisites().join(", ")
        };
        t.add_row([
            s.id().to_string(),
            s.description().to_string(),
            prereq,
            last,
        ]);
    }
    out!("{t}");
    Ok(())
}
