//! `migrate resolve VERSION --applied | --rolled-back`: after a non-transactional migration
//! failed part-way and a person finished or undid it by hand, record that outcome — shown,
//! checked against the database, confirmed in prod, audited.

use std::fmt;

use serde::Serialize;

use crate::engine::Resolution;
use crate::env::Environment;
use crate::error::MigrateError;
use crate::policy::Intent;

use super::Ctx;
use super::gate::{confirm, lock};
use super::output::Report;

/// What was recorded.
#[derive(Serialize)]
pub(super) struct ResolveReport {
    #[serde(flatten)]
    resolution: Resolution,
}

pub(super) async fn run(
    ctx: &Ctx<'_>,
    version: &str,
    applied: bool,
) -> Result<ResolveReport, MigrateError> {
    let Ctx { global, .. } = ctx;
    // `to` is checked against the source before connecting: a typo never touches the database.
    let (session, settings, _) = ctx
        .open("resolve", Intent::Change, Some(version))
        .await
        .map_err(|e| match e {
            MigrateError::UnknownVersion {
                requested,
                source_desc,
                known,
                ..
            } => MigrateError::UnknownVersion {
                requested,
                argument: "`resolve VERSION`".into(),
                source_desc,
                known,
            },
            other => other,
        })?;
    let mut locked = lock(session, global).await?;
    let result = async {
        let r = locked.prepare_resolve(version, applied).await?;
        if !global.quiet || settings.env == Environment::Prod {
            eprintln!("Will record {} {} as {}:", r.version, r.name, r.claim());
            if let Some(f) = &r.failure {
                eprintln!("  its last run {f}");
            }
            if r.checked.is_empty() {
                eprintln!("  nothing its up.sql creates can be checked here; recorded as you say");
            }
            for line in &r.checked {
                eprintln!("  checked: {line}");
            }
            eprintln!(
                "  {}",
                if r.applied {
                    "writes its rows to __diesel_schema_migrations and groundwork.migration_checksums, and an audit row"
                } else {
                    "writes an audit row that ends its failure; the next `migrate up` runs it again"
                }
            );
        }
        if settings.env == Environment::Prod {
            confirm(
                global,
                &format!("Record {} as {} in prod?", r.version, r.claim()),
            )?;
        }
        locked.resolve(&r).await?;
        Ok(r)
    }
    .await;
    locked.finish(&result).await;
    Ok(ResolveReport {
        resolution: result?,
    })
}

impl fmt::Display for ResolveReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.resolution;
        write!(
            f,
            "Recorded {} {} as {} (in the audit log){}",
            r.version,
            r.name,
            r.claim(),
            if r.applied {
                ""
            } else {
                "; `migrate up` will run it again"
            }
        )
    }
}

impl Report for ResolveReport {}
