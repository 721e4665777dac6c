//! What is checked before any stage runs: production and prerequisites.

use crate::error::{Result, SeedError};
use crate::ledger;
use crate::stages::stage::Stage;
use diesel_async::AsyncPgConnection;
use groundwork_migrate::Environment;
use std::collections::{BTreeMap, HashSet};

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
