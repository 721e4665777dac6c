//! `groundwork_seed`: the numbered, deterministic, idempotent, transactional seed stages of
//! groundwork and the runner behind the `seed` binary.
//!
//! Order of work for every command: parse flags, load and validate the core data file, connect
//! once (fail fast with the real error), check the guards (environment, prerequisites), bring
//! a dev/test database's migrations up to date, then run each stage in its own transaction.

mod cli;
mod compare;
mod data;
mod dataset;
mod db;
mod envfile;
mod error;
mod factory;
mod feedback;
mod fingerprint;
mod ids;
mod ledger;
mod migrations;
mod prune;
mod runner;
pub mod snapshot;
mod stages;
mod verify;
mod write;

/// Everything that can stop a seed run (also what [`snapshot::ensure`] returns).
pub use error::SeedError;
/// The advisory-lock key a stage's transaction holds, for tests that hold a stage back.
pub use runner::stage_lock_key;
/// What a write did to a table; the one counts type of both write paths.
pub use write::Counts;
/// The bulk loader (the table writer's COPY path), for the benchmark in `examples/`.
pub use write::bulk;

/// Every stage's id and the tables it writes, in run order: the stage registry, for tests
/// and tools that must not copy the list.
pub fn stage_tables() -> impl Iterator<Item = (&'static str, Vec<&'static str>)> {
    STAGES
        .iter()
        .map(|s| (s.id(), s.tables().iter().map(|t| t.name).collect()))
}

use clap::{CommandFactory, FromArgMatches};
use cli::{Cli, Command};
use error::Result;
use groundwork_migrate::Environment;
use groundwork_migrate::policy::{self, DisposableOnly, Intent, Requested};
use stages::STAGES;
use stages::stage::{Ctx, Stage};
use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;

/// Variable holding an optional local password for the demo users.
pub const DEMO_PASSWORD_VAR: &str = "SEED_DEMO_PASSWORD";

/// Name of the variable `--write-env` sets.
pub const KEY_ENV_VAR: &str = "TEST_AGENT_KEY";

/// Runs `seed` with the given arguments (the first is the program name) and returns the exit
/// code of the table both binaries share. As a library call, a restore from a snapshot cleans
/// up after itself before it returns and makes no spare copy: only [`run_executable`] starts
/// background work.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_as(args, false)
}

/// [`run`] as the `seed` executable itself (`main` has loaded `.env`): after a restore from a
/// snapshot, a detached child of this executable (`seed snapshot maintain`) drops the replaced
/// database and makes the snapshot's next spare copy, and the run does not wait for it
/// (`SEED_SNAPSHOT_SPARE=off` turns that off; see docs/seed-data.md, "Snapshots").
pub fn run_executable<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_as(args, true)
}

fn run_as<I, T>(args: I, executable: bool) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    // Parsed through the matches so the run knows which dataset inputs were given (on the
    // command line or in the environment) rather than defaulted: `seed verify` takes the
    // others from the ledger.
    let matches = match Cli::command().try_get_matches_from(args) {
        Ok(m) => m,
        // clap prints help/version (exit 0) or the usage error (exit 2) itself.
        Err(e) => e.exit(),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.format(&mut Cli::command()).exit(),
    };
    let given = Given {
        rng_seed: given(&matches, "rng_seed"),
        as_of: given(&matches, "as_of"),
        scale: given(&matches, "scale"),
    };
    policy::init_tracing(cli.common.log_format);
    // Stages, their generators and the COPY encoders run on these threads: one per CPU, and
    // at least two so a stage's generation never starves another stage's merge.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cpus().max(2))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return policy::report(Err(SeedError::Internal(format!(
                "cannot start the async runtime: {e}"
            ))));
        }
    };
    policy::report(rt.block_on(execute(cli, given, executable)))
}

/// Which dataset inputs the run was given rather than defaulted.
#[derive(Debug, Clone, Copy)]
struct Given {
    rng_seed: bool,
    as_of: bool,
    scale: bool,
}

/// Whether argument `id` came from the command line or the environment (a global flag may
/// sit on either side of the subcommand).
fn given(m: &clap::ArgMatches, id: &str) -> bool {
    use clap::parser::ValueSource;
    let explicit = |m: &clap::ArgMatches| {
        matches!(
            m.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    explicit(m) || m.subcommand().is_some_and(|(_, sub)| explicit(sub))
}

/// The run's connection settings, parsed once (a malformed string is exit 2).
fn conn_info(cli: &Cli) -> Result<groundwork_migrate::ConnInfo> {
    let text = cli.common.database_url.as_deref().filter(|u| !u.trim().is_empty()).ok_or_else(|| {
        SeedError::Usage(
            "no database given: pass --database-url or set DATABASE_URL (in the environment or .env).".into(),
        )
    })?;
    db::parse(text, cli.common.connect_timeout)
}

/// The environment `seed` was asked for: `--env` on the command line, else `APP_ENV`, else
/// the default (which follows the database's stamp; see `groundwork_migrate::policy::decide`).
fn requested_env(flag: Option<Environment>) -> Result<Requested> {
    Ok(Requested::from_flag_or_env(flag)?)
}

/// The environment of this run and whether the database is stamped prod, by the rule
/// `migrate` follows too (`groundwork_migrate::policy::decide`): refusals (stamp
/// mismatch, unknown database for `intent`) come back with `migrate`'s message and exit code.
async fn resolve_env(
    conn: &mut diesel_async::AsyncPgConnection,
    requested: Requested,
    intent: Intent,
) -> Result<(Environment, bool, bool)> {
    let (decision, facts) = migrations::environment(conn, requested, intent).await?;
    Ok((
        decision.env,
        facts.stamp == Some(Environment::Prod),
        !facts.has_content,
    ))
}

/// Applies pending migrations on dev/test; elsewhere refuses to seed an outdated schema.
async fn prepare_schema(
    url: &groundwork_migrate::ConnInfo,
    env: Environment,
    reporter: &feedback::Reporter,
) -> Result<()> {
    match env {
        Environment::Dev | Environment::Test => {
            let applied = migrations::apply_pending(url, env).await?;
            if !applied.is_empty() {
                reporter.note(&format!(
                    "applied {} pending migration(s): {}",
                    applied.len(),
                    applied.join(", ")
                ));
            }
            Ok(())
        }
        Environment::Staging | Environment::Prod => {
            let pending = migrations::pending(url, env).await?;
            if pending.is_empty() {
                Ok(())
            } else {
                Err(SeedError::Refused(format!(
                    "{} migration(s) are pending ({}), and seed applies migrations only in dev/test. Run `migrate --env {} up` first.",
                    pending.len(),
                    pending.join(", "),
                    env.as_str()
                )))
            }
        }
    }
}

async fn execute(cli: Cli, given: Given, executable: bool) -> Result<()> {
    // The child a restore started: it needs the server and nothing else (above all no
    // connection to the target, which would block the next restore of it).
    if let Some(Command::Snapshot(cli::SnapshotCommand::Maintain(job))) = &cli.command {
        return snapshot::upkeep::run(&conn_info(&cli)?, job).await;
    }
    let upkeep = snapshot::upkeep::Upkeep::resolve(
        executable,
        cli.common.database_url.as_deref(),
        cli.common.connect_timeout,
    )?;
    // Everything that can be checked without the database is checked first: an unwritable
    // --write-env target found after stage 01 committed would lose the new key.
    if let Some(path) = &cli.write_env
        && !cli.list
        && !matches!(cli.command, Some(Command::Verify | Command::Snapshot(_)))
    {
        envfile::check_target(path)?;
    }
    if cli.prune && cli.command.is_some() {
        return Err(SeedError::Usage(
            "--prune applies to stage runs (`seed --stage STAGES --prune`), not to `verify` or `reset`; drop it or run the stages.".into(),
        ));
    }
    let core = data::load(cli.common.data_dir.as_deref())?;
    let selected: Vec<&'static dyn Stage> = stages::stage::select(&cli.stage, STAGES)?;
    if cli.list {
        // Without a database the list still shows the stages; a malformed one is an error.
        let given = cli
            .common
            .database_url
            .as_deref()
            .is_some_and(|u| !u.trim().is_empty());
        let target = if given { Some(conn_info(&cli)?) } else { None };
        return runner::list(target.as_ref()).await;
    }
    // Stage 03 writes its sample files last; a folder it cannot use would fail it after 00–02
    // committed.
    let writes_artifacts = matches!(cli.command, Some(Command::Reset { .. }))
        || (cli.command.is_none()
            && selected
                .iter()
                .any(|s| s.id() == dataset::stage_id::DATA_IMPORTS));
    if writes_artifacts {
        stages::s03_data_imports::check_artifacts_dir(&cli.common.artifacts_dir)?;
    }
    let url = conn_info(&cli)?;
    let reporter = feedback::Reporter::new(cli.common.output_format(), cli.common.quiet);
    let requested = requested_env(cli.common.env)?;
    let mut conn = db::connect(&url).await?;
    if let Some(Command::Snapshot(cmd)) = &cli.command {
        let (env, stamp_is_prod, _) = resolve_env(&mut conn, requested, Intent::ReadOnly).await?;
        drop(conn);
        // Whichever is less disposable: what the run asked for or what the database is.
        let judged = if requested.env.is_disposable() {
            env
        } else {
            requested.env
        };
        return snapshot::command::run(&url, judged, stamp_is_prod, cmd, &reporter).await;
    }
    // Seeding replaces rows and `reset` empties tables: both are destructive.
    let intent = match cli.command {
        Some(Command::Verify | Command::Snapshot(_)) => Intent::ReadOnly,
        Some(Command::Add(_)) => Intent::Change,
        Some(Command::Reset { .. }) | None => Intent::Destroy,
    };
    let (env, stamp_is_prod, was_empty) = resolve_env(&mut conn, requested, intent).await?;
    if cli.prune && cli.command.is_none() {
        // A prod stamp outranks whatever the run was told it is.
        let judged = if stamp_is_prod {
            Environment::Prod
        } else {
            env
        };
        if !judged.is_disposable() {
            return Err(SeedError::Refused(format!(
                "--prune deletes rows and runs only on dev/test databases, not {judged}. Nothing was changed; rerun without --prune."
            )));
        }
    }
    let mut dataset = dataset::Dataset {
        rng_seed: cli.common.rng_seed,
        as_of: cli.common.as_of,
        scale: cli.common.scale,
        core,
        only: None,
    };
    if matches!(cli.command, Some(Command::Verify)) {
        recorded_inputs(&mut conn, &mut dataset, given, &reporter).await?;
    }
    let ctx = Arc::new(Ctx {
        dataset,
        prune: cli.prune.then(|| url.clone()),
        artifacts_dir: cli.common.artifacts_dir.clone(),
        rotate_key: cli.rotate_key,
        // Environment only (never a flag): a flag would show in `ps` and shell history.
        demo_password: std::env::var(DEMO_PASSWORD_VAR)
            .ok()
            .filter(|p| !p.is_empty()),
        reporter,
        write_env: cli.write_env.clone(),
        deliver_keys: true,
    });
    let jobs = cli.jobs.map_or_else(cpus, |j| j as usize);
    match cli.command {
        Some(Command::Verify) => {
            let problems = verify::run(&mut conn, &ctx, &url, &selected).await?;
            if problems == 0 {
                Ok(())
            } else {
                Err(SeedError::VerifyFailed(problems))
            }
        }
        Some(Command::Snapshot(_)) => Err(SeedError::Internal(
            "`seed snapshot` reached the seeding code".into(),
        )),
        Some(Command::Reset {
            hard,
            in_place,
            yes,
        }) => {
            // A prod stamp outranks whatever the run was told it is.
            let judged = if stamp_is_prod {
                Environment::Prod
            } else {
                env
            };
            policy::require_disposable(judged, DisposableOnly::SeedReset)?;
            drop(conn);
            if !hard && !in_place {
                let others = if yes {
                    snapshot::Others::Disconnect
                } else {
                    snapshot::Others::Ask
                };
                if restore_from_snapshot(&url, &ctx, env, others, cli.common.snapshots, &upkeep)
                    .await?
                {
                    return Ok(());
                }
            }
            if hard {
                let n = migrations::revert_all(&url, env).await?;
                ctx.reporter.note(&format!("reverted {n} migration(s)"));
            }
            prepare_schema(&url, env, &ctx.reporter).await?;
            let mut conn = db::connect(&url).await?;
            ledger::ensure(&mut conn).await?;
            runner::reset_tables(&mut conn).await?;
            ctx.reporter
                .note("emptied the seeded tables and the seed ledger");
            runner::seed(
                &url,
                &mut conn,
                &ctx,
                STAGES,
                runner::Run {
                    force: true,
                    keep_going: cli.keep_going,
                    jobs,
                },
            )
            .await?;
            drop(conn);
            keep_snapshot(&url, &ctx, cli.common.snapshots, &upkeep).await
        }
        Some(Command::Add(what)) => {
            let judged = if stamp_is_prod {
                Environment::Prod
            } else {
                env
            };
            policy::require_disposable(judged, DisposableOnly::SeedAdd)?;
            add(&url, &mut conn, ctx, what).await
        }
        None => {
            runner::check_prod(env, stamp_is_prod, &selected)?;
            // Only a database that was empty becomes a snapshot: one holding rows of its
            // own would hand them to every database restored from it.
            let whole = selected.len() == STAGES.len()
                && was_empty
                && env.is_disposable()
                && !stamp_is_prod
                && cli.common.snapshots == cli::Snapshots::Auto;
            if whole {
                drop(conn);
                if restore_from_snapshot(
                    &url,
                    &ctx,
                    env,
                    snapshot::Others::Decline,
                    cli.common.snapshots,
                    &upkeep,
                )
                .await?
                {
                    return Ok(());
                }
                conn = db::connect(&url).await?;
            }
            runner::check_prerequisites(&mut conn, &selected).await?;
            prepare_schema(&url, env, &ctx.reporter).await?;
            ledger::ensure(&mut conn).await?;
            runner::seed(
                &url,
                &mut conn,
                &ctx,
                &selected,
                runner::Run {
                    force: cli.force,
                    keep_going: cli.keep_going,
                    jobs,
                },
            )
            .await?;
            drop(conn);
            if whole {
                keep_snapshot(&url, &ctx, cli.common.snapshots, &upkeep).await?;
            }
            Ok(())
        }
    }
}

/// `seed add`: a factory's tenant or flow, written by the stages for that tenant only.
async fn add(
    url: &groundwork_migrate::ConnInfo,
    conn: &mut diesel_async::AsyncPgConnection,
    ctx: Arc<Ctx>,
    what: cli::Add,
) -> Result<()> {
    let (tenant, stages) = match what {
        cli::Add::Tenant {
            slug,
            assets,
            graph,
        } => {
            let mut f = factory::TenantFactory::new(slug).graph(graph);
            if let Some(n) = assets {
                f = f.assets(n as usize);
            }
            (f.tenant(&ctx.dataset)?, factory::tenant_stages())
        }
        cli::Add::Flow {
            tenant,
            status,
            phase,
        } => {
            let stuck = factory::stuck(status, &phase)?;
            let mut t = factory::existing_tenant(conn, &ctx.dataset, &tenant).await?;
            let mut custom = t.custom.as_deref().cloned().unwrap_or_default();
            custom.flows.push(stuck);
            t.custom = Some(Arc::new(custom));
            (t, factory::flow_stages())
        }
    };
    let (slug, id) = (tenant.slug.clone(), tenant.id);
    // The factory's context: the run's inputs, its one tenant.
    let mut ctx = Arc::try_unwrap(ctx)
        .map_err(|_| SeedError::Internal("the run's context is shared".into()))?;
    ctx.dataset.only = Some(vec![tenant]);
    ctx.rotate_key = false;
    ctx.write_env = None;
    let counts = factory::run(url, conn, &ctx, &stages).await?;
    let total = write::Counts::sum(counts.values());
    ctx.reporter.note(&format!(
        "tenant {slug} ({id}): {} inserted, {} updated",
        total.inserted, total.updated
    ));
    Ok(())
}

/// Replaces the database with the snapshot of this run's inputs when there is one, then gives
/// it a new API key (shown and written like a fresh run's) and the sample files (see
/// [`snapshot::renew`]). Returns whether it restored; if not, it said why.
async fn restore_from_snapshot(
    url: &groundwork_migrate::ConnInfo,
    ctx: &Ctx,
    env: Environment,
    others: snapshot::Others,
    snapshots: cli::Snapshots,
    upkeep: &snapshot::upkeep::Upkeep,
) -> Result<bool> {
    if snapshots == cli::Snapshots::Off {
        return Ok(false);
    }
    if let Some(why) = snapshot::unusable_because(ctx) {
        ctx.reporter.note(&format!(
            "not restoring from a snapshot: {why}; seeding every stage"
        ));
        return Ok(false);
    }
    let key = snapshot::key_of(&ctx.dataset, true)?;
    let started = std::time::Instant::now();
    match snapshot::restore(url, &key, env, others, upkeep).await? {
        snapshot::Restore::Fallback(why) => {
            ctx.reporter.note(&format!("{why}; seeding every stage"));
            Ok(false)
        }
        snapshot::Restore::Done(restored) => {
            ctx.reporter.note(&format!(
                "restored {} from snapshot {}{} in {} ms",
                url.database(),
                restored.name,
                if restored.from_spare {
                    " (a spare copy made ahead)"
                } else {
                    ""
                },
                started.elapsed().as_millis()
            ));
            let renewing = std::time::Instant::now();
            let renewed = snapshot::renew(url, ctx).await;
            if renewed.is_ok() {
                ctx.reporter.note(&format!(
                    "created a new test agent API key and wrote the sample import files in {} ms; no stage needed to rerun",
                    renewing.elapsed().as_millis()
                ));
            }
            if let Some(note) = restored.finish().await {
                ctx.reporter.note(&note);
            }
            ctx.reporter.dataset_fingerprint(&renewed?);
            Ok(true)
        }
    }
}

/// After every stage succeeded on a dev/test database that started empty: keep it as the
/// snapshot of this run's inputs (never fails the run; see [`snapshot::keep`]).
async fn keep_snapshot(
    url: &groundwork_migrate::ConnInfo,
    ctx: &Ctx,
    snapshots: cli::Snapshots,
    upkeep: &snapshot::upkeep::Upkeep,
) -> Result<()> {
    if snapshots == cli::Snapshots::Off || snapshot::unusable_because(ctx).is_some() {
        return Ok(());
    }
    let key = snapshot::key_of(&ctx.dataset, true)?;
    snapshot::keep(url, &key, &ctx.reporter, upkeep).await;
    Ok(())
}

/// `seed verify` regenerates the rows from the inputs the ledger recorded, for every input
/// the run was not given (a database seeded with `--scale 3` verifies without repeating it).
async fn recorded_inputs(
    conn: &mut diesel_async::AsyncPgConnection,
    dataset: &mut dataset::Dataset,
    given: Given,
    reporter: &feedback::Reporter,
) -> Result<()> {
    let Some(rec) = ledger::recorded_inputs(conn).await? else {
        return Ok(());
    };
    let mut taken = Vec::new();
    if !given.scale
        && let Some(v) = rec.scale.filter(|v| *v != dataset.scale)
    {
        dataset.scale = v;
        taken.push(format!("--scale {v}"));
    }
    if !given.rng_seed
        && let Some(v) = rec.rng_seed.filter(|v| *v != dataset.rng_seed)
    {
        dataset.rng_seed = v;
        taken.push(format!("--rng-seed {v}"));
    }
    if !given.as_of
        && let Some(v) = rec.as_of.filter(|v| *v != dataset.as_of)
    {
        dataset.as_of = v;
        taken.push(format!("--as-of {v}"));
    }
    if !taken.is_empty() {
        reporter.note(&format!(
            "verifying with the inputs the seed ledger recorded: {}",
            taken.join(" ")
        ));
    }
    Ok(())
}

/// CPUs available to this process. Stages at a time by default: one per CPU (each stage's
/// merge is one busy backend).
pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
