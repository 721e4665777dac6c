//! `migrate redo`: revert the newest N migrations and apply them again (checks that
//! down.sql works).

use crate::cli::GlobalArgs;
use crate::engine::{Done, Locked};
use crate::env::Environment;
use crate::error::MigrateError;
use crate::policy::Intent;
use crate::policy::Settings;

use super::Ctx;
use super::gate::{guards, production_gate};
use super::output::{Output, Ran};

pub(super) async fn run(ctx: &Ctx<'_>, steps: usize) -> Result<Ran, MigrateError> {
    let Ctx {
        global,
        settings,
        out,
        ..
    } = ctx;
    if steps == 0 {
        return Err(MigrateError::InvalidArgument(
            "--steps must be at least 1".into(),
        ));
    }
    // Before connecting when --env says prod, and again once the stamp is known.
    let refuse_in_prod = |env: Environment| {
        if env == Environment::Prod && steps > 1 {
            return Err(MigrateError::ProdRevertTooFar {
                form: format!("redo --steps {steps}"),
            });
        }
        Ok(())
    };
    refuse_in_prod(settings.env)?;
    let (session, settings, _) = ctx.open("redo", Intent::Destroy, None).await?;
    refuse_in_prod(settings.env)?;
    let mut locked = guards(session, global, true).await?;
    let result = redo(&mut locked, steps, &settings, global, out).await;
    locked.finish(&result).await;
    Ok(Ran {
        key: "redone",
        done: result?,
        nothing: "Nothing to redo: no migration is applied.",
    })
}

async fn redo(
    locked: &mut Locked,
    steps: usize,
    settings: &Settings,
    global: &GlobalArgs,
    out: &Output,
) -> Result<Vec<Done>, MigrateError> {
    let plan = locked.plan_redo(steps).await?;
    if plan.is_empty() {
        return Ok(Vec::new());
    }
    production_gate(locked, &plan, "redo", settings, global).await?;
    locked.execute(plan, &mut |e| out.event(e)).await
}
