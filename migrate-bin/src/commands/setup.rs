//! `migrate setup`: create the database if it does not exist, then apply every pending
//! migration (dev/test only).

use std::fmt;

use serde::Serialize;

use crate::engine::Done;
use crate::error::MigrateError;
use crate::policy::{self, DisposableOnly, Intent, Standing};

use super::gate::guards;
use super::output::Report;
use super::up::{NOTHING, UpHow, up};
use super::{Ctx, catalog, open};

/// Whether the database was created, and what was applied.
#[derive(Serialize)]
pub(super) struct SetupReport {
    created: bool,
    applied: Vec<Done>,
}

pub(super) async fn run(ctx: &Ctx<'_>) -> Result<SetupReport, MigrateError> {
    let Ctx {
        global,
        settings,
        source,
        out,
        ..
    } = ctx;
    policy::require_disposable(settings.env, DisposableOnly::Setup)?;
    let migrations = source.load_migrations()?;
    let created = catalog::create_database_if_missing(&settings.conn).await?;
    let name = settings.conn.database();
    out.info(&if created {
        format!("Created database {name}")
    } else {
        format!("Database {name} already exists")
    });
    let (session, settings, facts) = open(
        settings,
        migrations,
        source,
        global,
        "setup",
        Intent::Change,
    )
    .await?;
    // Again with the effective environment: without --env it is the database's stamp.
    policy::require_disposable(settings.env, DisposableOnly::SetupOnStamped)?;
    let how = UpHow {
        to: None,
        repair: false,
        allow_schema_drift: None,
        allow_out_of_order: false,
        restamp: facts.stamp.is_none() && facts.standing() != Standing::Fresh,
    };
    let mut locked = guards(session, global, true).await?;
    let result = up(&mut locked, &how, &settings, global, out).await;
    locked.finish(&result).await;
    Ok(SetupReport {
        created,
        applied: result?,
    })
}

impl fmt::Display for SetupReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.applied.is_empty() {
            f.write_str(NOTHING)?;
        }
        Ok(())
    }
}

impl Report for SetupReport {}
