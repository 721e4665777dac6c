//! `migrate accept-checksum VERSION`: accept the current up.sql of an applied migration as
//! known-good (e.g. only a comment changed), audited.

use std::fmt;

use serde::Serialize;

use crate::env::Environment;
use crate::error::MigrateError;
use crate::policy::Intent;

use super::Ctx;
use super::gate::{confirm, lock};
use super::output::Report;

/// The checksum replaced.
#[derive(Serialize)]
pub(super) struct AcceptReport {
    version: String,
    old_checksum: String,
    new_checksum: String,
}

pub(super) async fn run(ctx: &Ctx<'_>, version: &str) -> Result<AcceptReport, MigrateError> {
    let Ctx { global, .. } = ctx;
    let (session, settings, _) = ctx.open("accept-checksum", Intent::Change, None).await?;
    let mut locked = lock(session, global).await?;
    let result = async {
        if settings.env == Environment::Prod {
            confirm(
                global,
                &format!("Accept the changed up.sql of {version} in prod?"),
            )?;
        }
        locked.accept_checksum(version).await
    }
    .await;
    locked.finish(&result).await;
    let (old_checksum, new_checksum) = result?;
    Ok(AcceptReport {
        version: version.to_string(),
        old_checksum,
        new_checksum,
    })
}

impl fmt::Display for AcceptReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Accepted the current up.sql of {}: checksum {} -> {} (recorded in the audit log)",
            self.version, self.old_checksum, self.new_checksum
        )
    }
}

impl Report for AcceptReport {}
