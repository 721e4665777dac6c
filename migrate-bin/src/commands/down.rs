//! `migrate down`: revert applied migrations, newest first (default: the newest one).

use crate::cli::GlobalArgs;
use crate::engine::{Done, Locked, RevertTarget};
use crate::env::Environment;
use crate::error::MigrateError;
use crate::policy::Intent;
use crate::policy::Settings;

use super::Ctx;
use super::gate::{guards, production_gate, refuse_wide_prod_revert};
use super::output::{Output, Ran};

pub(super) async fn run(
    ctx: &Ctx<'_>,
    steps: Option<usize>,
    to: Option<&str>,
    all: bool,
) -> Result<Ran, MigrateError> {
    let Ctx {
        global,
        settings,
        out,
        ..
    } = ctx;
    let target = match (steps, to, all) {
        (_, _, true) => RevertTarget::All,
        (_, Some(to), _) => RevertTarget::To(to.to_string()),
        (Some(0), _, _) => {
            return Err(MigrateError::InvalidArgument(
                "--steps must be at least 1 (use --all to revert everything)".into(),
            ));
        }
        (Some(n), _, _) => RevertTarget::Steps(n),
        (None, None, false) => RevertTarget::Steps(1),
    };
    // Before connecting when --env says prod, and again once the stamp is known: a
    // refused form must not even take the lock.
    if settings.env == Environment::Prod {
        refuse_wide_prod_revert(&target)?;
    }
    let (session, settings, _) = ctx.open("down", Intent::Destroy, None).await?;
    if settings.env == Environment::Prod {
        refuse_wide_prod_revert(&target)?;
    }
    let mut locked = guards(session, global, false).await?;
    let result = down(&mut locked, &target, &settings, global, out).await;
    locked.finish(&result).await;
    Ok(Ran {
        key: "reverted",
        done: result?,
        nothing: "Nothing to revert: no migration is applied.",
    })
}

async fn down(
    locked: &mut Locked,
    target: &RevertTarget,
    settings: &Settings,
    global: &GlobalArgs,
    out: &Output,
) -> Result<Vec<Done>, MigrateError> {
    let plan = locked.plan_revert(target).await?;
    if plan.is_empty() {
        return Ok(Vec::new());
    }
    production_gate(locked, &plan, "revert", settings, global).await?;
    locked.execute(plan, &mut |e| out.event(e)).await
}
