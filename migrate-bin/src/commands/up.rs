//! `migrate up`: apply pending migrations, oldest first (also the second half of `setup`).

use crate::cli::GlobalArgs;
use crate::engine::{Done, Locked};
use crate::error::MigrateError;
use crate::policy::Settings;
use crate::policy::{Intent, Standing};

use super::Ctx;
use super::gate::{guards, lint_gate, production_gate, record_allows, schema_gate};
use super::output::{Output, Ran};

/// Text when nothing was pending.
pub(super) const NOTHING: &str = "Nothing to apply: the database is up to date.";

pub(super) async fn run(
    ctx: &Ctx<'_>,
    to: Option<&str>,
    repair: bool,
    allow_schema_drift: Option<&str>,
) -> Result<Ran, MigrateError> {
    let Ctx { global, out, .. } = ctx;
    let (session, settings, facts) = ctx.open("up", Intent::Change, to).await?;
    let how = UpHow {
        to,
        repair,
        allow_schema_drift,
        restamp: facts.stamp.is_none() && facts.standing() != Standing::Fresh,
    };
    let mut locked = guards(session, global, true).await?;
    let result = up(&mut locked, &how, &settings, global, out).await;
    locked.finish(&result).await;
    Ok(Ran {
        key: "applied",
        done: result?,
        nothing: NOTHING,
    })
}

/// What `up` (and `setup`) was asked to do.
pub(super) struct UpHow<'a> {
    pub(super) to: Option<&'a str>,
    /// `--repair`: drop INVALID indexes of an interrupted non-transactional migration in
    /// staging/prod too.
    pub(super) repair: bool,
    /// `--allow-schema-drift REASON`: apply in prod although the live schema drifted
    /// (audited with the reason).
    pub(super) allow_schema_drift: Option<&'a str>,
    /// The database has content but no stamp (the rule let an explicit --env through):
    /// stamp it even when nothing is pending.
    pub(super) restamp: bool,
}

pub(super) async fn up(
    locked: &mut Locked,
    how: &UpHow<'_>,
    settings: &Settings,
    global: &GlobalArgs,
    out: &Output,
) -> Result<Vec<Done>, MigrateError> {
    let plan = locked.plan_up(how.to).await?;
    let leftovers = locked.interrupted_indexes(&plan).await?;
    if !leftovers.is_empty() && !settings.env.is_disposable() && !how.repair {
        let first = &leftovers[0];
        return Err(MigrateError::RepairNeeded {
            version: first.version.clone(),
            name: first.name.clone(),
            indexes: leftovers.iter().flat_map(|l| l.indexes.clone()).collect(),
            env: settings.env,
        });
    }
    if plan.is_empty() {
        locked.adopt_unrecorded().await?;
        if how.restamp {
            locked.stamp_if_missing().await?;
        }
        return Ok(Vec::new());
    }
    let linted = lint_gate(&plan, settings, global)?;
    schema_gate(
        locked,
        &plan,
        &leftovers,
        how.allow_schema_drift,
        settings,
        global,
    )
    .await?;
    production_gate(locked, &plan, "apply", settings, global).await?;
    record_allows(locked, &linted).await?;
    for l in &leftovers {
        for index in &l.indexes {
            if !global.quiet {
                eprintln!(
                    "Repairing {} {}: dropping index {index} left by an interrupted run, then applying it again (audited)",
                    l.version, l.name
                );
            }
        }
    }
    locked.repair_indexes(&leftovers).await?;
    locked.execute(plan, &mut |e| out.event(e)).await
}
