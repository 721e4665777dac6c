//! The subcommands, one module each: guard, run the engine, hand back a report that
//! [`output`] prints as text or JSON.
//!
//! Every command that changes the database follows one order: take the migration lock →
//! check the environment stamp → verify (drift, database ahead) → work out what to do →
//! (prod or --require-backup) plan, confirm, backup → apply with the audit log → release.
//! Everything before "apply" changes nothing, so every refusal leaves the database as it was.

mod accept_checksum;
mod catalog;
mod down;
mod gate;
mod history;
mod lint;
mod output;
mod plan;
mod redo;
mod rehearse;
mod resolve;
mod setup;
mod sizes;
mod status;
mod up;
mod verify;

use crate::cli::{Command, GlobalArgs};
use crate::config::Config;
use crate::engine::{RunOptions, Session};
use crate::error::MigrateError;
use crate::policy::{self, Facts, Intent, Requested, Settings};
use crate::source::{Migration, MigrationSource};

use output::Output;

/// What every command starts from.
struct Ctx<'a> {
    global: &'a GlobalArgs,
    config: Config,
    settings: Settings,
    source: MigrationSource,
    out: Output,
}

/// Runs one subcommand and prints its report.
pub(crate) async fn dispatch(global: &GlobalArgs, command: &Command) -> Result<(), MigrateError> {
    // Read (and checked) before anything connects, so a typo in the config never gets as far
    // as the database, whichever command it is.
    let config = Config::load(global.config.as_deref())?;
    if let Command::Lint {
        version,
        all,
        deny,
        rules,
    } = command
    {
        let args = lint::Args {
            version: version.as_deref(),
            all: *all,
            deny: *deny,
            rules: *rules,
        };
        return lint::dispatch(global, &config, &args).await;
    }
    let settings = Settings::resolve(global.database_url.clone(), global.env)?
        .with_connect_timeout(global.connect_timeout);
    let source = MigrationSource::from_option(global.migrations_dir.clone());
    tracing::debug!(url = %settings.conn, env = %settings.env, source = %source.describe(), "starting");
    let ctx = Ctx {
        global,
        config,
        settings,
        source,
        out: Output {
            json: global.json,
            quiet: global.quiet,
        },
    };
    let out = &ctx.out;
    match command {
        Command::Status => out.finish(status::run(&ctx).await),
        Command::Up {
            to,
            repair,
            allow_schema_drift,
            allow_out_of_order,
        } => out.finish(
            up::run(
                &ctx,
                to.as_deref(),
                *repair,
                allow_schema_drift.as_deref(),
                *allow_out_of_order,
            )
            .await,
        ),
        Command::Down { steps, to, all } => {
            out.finish(down::run(&ctx, *steps, to.as_deref(), *all).await)
        }
        Command::Redo { steps } => out.finish(redo::run(&ctx, *steps).await),
        Command::Setup => out.finish(setup::run(&ctx).await),
        Command::Plan {
            to,
            sql_script,
            allow_out_of_order,
        } => out.finish(
            plan::run(
                &ctx,
                to.as_deref(),
                sql_script.as_deref(),
                *allow_out_of_order,
            )
            .await,
        ),
        Command::Verify { schema: false } => out.finish(verify::run(&ctx).await),
        Command::Verify { schema: true } => out.finish(verify::run_schema(&ctx).await),
        Command::AcceptChecksum { version } => {
            out.finish(accept_checksum::run(&ctx, version).await)
        }
        Command::History { limit } => out.finish(history::run(&ctx, *limit).await),
        Command::Rehearse(args) => out.finish(rehearse::run(&ctx, args).await),
        // Handled above: it needs a database only for its default scope.
        Command::Lint { .. } => Ok(()),
        Command::Resolve {
            version,
            applied,
            rolled_back: _,
        } => out.finish(resolve::run(&ctx, version, *applied).await),
    }
}

fn run_options(settings: &Settings, global: &GlobalArgs, command: &str) -> RunOptions {
    let mut opts = RunOptions::new(settings.env, command);
    if global.lock_timeout.is_some() {
        opts.lock_timeout = global.lock_timeout.filter(|d| !d.is_zero());
    }
    if global.statement_timeout.is_some() {
        opts.statement_timeout = global.statement_timeout.filter(|d| !d.is_zero());
    }
    opts.lock_retries = global.lock_retries;
    opts
}

impl Ctx<'_> {
    /// Loads the migrations, checks `to` against them (before connecting, so a typo never
    /// touches the database), then [`open`]s a session for `command`.
    async fn open(
        &self,
        command: &str,
        intent: Intent,
        to: Option<&str>,
    ) -> Result<(Session, Settings, Facts), MigrateError> {
        let migrations = self.source.load_migrations()?;
        if let Some(to) = to {
            check_to(to, &migrations, &self.source)?;
        }
        open(
            &self.settings,
            migrations,
            &self.source,
            self.global,
            command,
            intent,
        )
        .await
    }
}

/// The `--scratch-url` database, parsed (with the run's connect timeout), if given.
fn scratch_url(global: &GlobalArgs) -> Result<Option<policy::ConnInfo>, MigrateError> {
    global
        .scratch_url
        .as_deref()
        .map(|url| match policy::ConnInfo::parse(url) {
            Ok(info) => Ok(info.with_connect_timeout(global.connect_timeout)),
            Err(MigrateError::MalformedUrl { url, reason }) => {
                Err(MigrateError::InvalidArgument(format!(
                    "the scratch database URL `{url}` (--scratch-url or MIGRATE_SCRATCH_URL) is \
                     malformed: {reason}. Use the form postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE; \
                     nothing was changed"
                )))
            }
            Err(other) => Err(other),
        })
        .transpose()
}

/// Connects and applies the environment rule ([`policy::decide`]) for `intent`. Returns
/// the session, the settings with the effective environment (so every later guard, e.g. the
/// production gate, sees a prod stamp even when no --env was given) and what the database
/// said. Refusals happen here, before the lock and before anything is written.
async fn open(
    settings: &Settings,
    migrations: Vec<Migration>,
    source: &MigrationSource,
    global: &GlobalArgs,
    command: &str,
    intent: Intent,
) -> Result<(Session, Settings, Facts), MigrateError> {
    let mut conn = policy::connect(&settings.conn, &policy::application_name()).await?;
    let requested = Requested {
        env: settings.env,
        source: settings.env_source,
    };
    let (decision, facts) = policy::resolve(&mut conn, requested, intent).await?;
    let mut effective = settings.clone();
    effective.env = decision.env;
    let mut session = Session::from_parts(
        conn,
        migrations,
        source.describe(),
        run_options(&effective, global, command),
    );
    session.set_probe_conn(&effective.conn);
    Ok((session, effective, facts))
}

/// Checked before connecting, so a typo never touches the database.
fn check_to(
    to: &str,
    migrations: &[Migration],
    source: &MigrationSource,
) -> Result<(), MigrateError> {
    if migrations.iter().any(|m| m.version == to) {
        return Ok(());
    }
    Err(MigrateError::UnknownVersion {
        requested: to.to_string(),
        argument: "--to".into(),
        source_desc: source.describe(),
        known: migrations.iter().map(|m| m.version.clone()).collect(),
    })
}
