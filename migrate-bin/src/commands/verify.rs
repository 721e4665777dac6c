//! `migrate verify`: applied migrations against the source — drift, database ahead, and
//! leftovers of failed non-transactional migrations. Exits 5 on drift, after the report.

use std::fmt;

use serde::Serialize;

use crate::engine::Verification;
use crate::error::MigrateError;
use crate::policy::{Intent, Standing};

use super::Ctx;
use super::output::Report;

/// What `verify` found, and how the database stands.
#[derive(Serialize)]
pub(super) struct VerifyReport {
    clean: bool,
    standing: Standing,
    #[serde(flatten)]
    verification: Verification,
    cleanup_hint: Option<String>,
    /// Named in the drift error.
    #[serde(skip)]
    source_desc: String,
}

pub(super) async fn run(ctx: &Ctx<'_>) -> Result<VerifyReport, MigrateError> {
    // Read-only: migrations applied by diesel_cli are reported as unrecorded and
    // recorded by the next `up`, never adopted here.
    let (mut session, _, facts) = ctx.open("verify", Intent::ReadOnly, None).await?;
    let verification = session.verify().await?;
    Ok(VerifyReport {
        clean: verification.is_clean(),
        standing: facts.standing(),
        cleanup_hint: verification.cleanup_hint(),
        verification,
        source_desc: session.source_desc().to_string(),
    })
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = &self.verification;
        writeln!(f, "Environment stamp: {}", self.standing)?;
        write!(f, "{} applied migration(s) match their files", v.ok.len())?;
        for c in &v.changed {
            write!(
                f,
                "\nCHANGED  {} {}: recorded {} but the file now hashes to {}",
                c.version, c.name, c.recorded, c.current
            )?;
        }
        for a in &v.ahead {
            write!(
                f,
                "\nUNKNOWN  {a}: applied in the database but not in this binary (database ahead)"
            )?;
        }
        for u in &v.unrecorded {
            write!(
                f,
                "\nUNRECORDED {u}: applied by diesel_cli, no checksum yet (recorded by the next `up`)"
            )?;
        }
        if let Some(hint) = &self.cleanup_hint {
            write!(f, "\nPARTIAL  {hint}")?;
        }
        if self.clean {
            write!(f, "\nOK: no drift")?;
        }
        Ok(())
    }
}

impl Report for VerifyReport {
    fn failure(&self) -> Option<MigrateError> {
        self.verification.to_error(&self.source_desc)
    }
}
