//! `groundwork_seed`: the numbered, deterministic, idempotent, transactional seed stages of
//! groundwork and the runner behind the `seed` binary.
//!
//! Order of work for every command: parse flags, load and validate the core data file, connect
//! once (fail fast with the real error), check the guards (environment, prerequisites), bring
//! a dev/test database's migrations up to date, then run each stage in its own transaction.

pub mod bulk;
pub mod cli;
pub mod data;
pub mod db;
pub mod envfile;
pub mod error;
pub mod feedback;
pub mod fingerprint;
pub mod ids;
pub mod ledger;
pub mod migrations;
pub mod plan;
pub mod runner;
pub mod stage;
pub mod stages;
pub mod upsert;
pub mod verify;

use clap::Parser;
use cli::{Cli, Command};
use error::{Result, SeedError};
use groundwork_migrate::Environment;
use groundwork_migrate::policy::{self, DisposableOnly, Intent, Requested};
use stage::{Ctx, Stage};
use stages::STAGES;
use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

/// Variable holding an optional local password for the demo users.
pub const DEMO_PASSWORD_VAR: &str = "SEED_DEMO_PASSWORD";

/// Name of the variable `--write-env` sets.
pub const KEY_ENV_VAR: &str = "TEST_AGENT_KEY";

/// Runs `seed` with the given arguments (the first is the program name; `main` has loaded
/// `.env`) and returns the exit code of the table both binaries share.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        // clap prints help/version (exit 0) or the usage error (exit 2) itself.
        Err(e) => e.exit(),
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
    policy::report(rt.block_on(execute(cli)))
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
) -> Result<(Environment, bool)> {
    let (decision, facts) = migrations::environment(conn, requested, intent).await?;
    Ok((decision.env, facts.stamp == Some(Environment::Prod)))
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

async fn execute(cli: Cli) -> Result<()> {
    // Everything that can be checked without the database is checked first: an unwritable
    // --write-env target found after stage 01 committed would lose the new key.
    if let Some(path) = &cli.write_env
        && !cli.list
        && !matches!(cli.command, Some(Command::Verify))
    {
        envfile::check_target(path)?;
    }
    let core = data::load(cli.common.data_dir.as_deref())?;
    let selected: Vec<&'static dyn Stage> = stage::select(&cli.stage, STAGES)?;
    if cli.list {
        return list(&cli).await;
    }
    // Stage 03 writes its sample files last; a folder it cannot use would fail it after 00–02
    // committed.
    let writes_artifacts = matches!(cli.command, Some(Command::Reset { .. }))
        || (cli.command.is_none()
            && selected
                .iter()
                .any(|s| s.id() == stages::s03_data_imports::ID));
    if writes_artifacts {
        stages::s03_data_imports::check_artifacts_dir(&cli.common.artifacts_dir)?;
    }
    let url = conn_info(&cli)?;
    let reporter = feedback::Reporter::new(cli.common.output_format(), cli.common.quiet);
    let requested = requested_env(cli.common.env)?;
    let mut conn = db::connect(&url).await?;
    // Seeding replaces rows and `reset` empties tables: both are destructive.
    let intent = match cli.command {
        Some(Command::Verify) => Intent::ReadOnly,
        Some(Command::Reset { .. }) | None => Intent::Destroy,
    };
    let (env, stamp_is_prod) = resolve_env(&mut conn, requested, intent).await?;
    let ctx = Arc::new(Ctx {
        rng_seed: cli.common.rng_seed,
        as_of: cli.common.as_of,
        scale: cli.common.scale,
        core,
        artifacts_dir: cli.common.artifacts_dir.clone(),
        rotate_key: cli.rotate_key,
        // Environment only (never a flag): a flag would show in `ps` and shell history.
        demo_password: std::env::var(DEMO_PASSWORD_VAR)
            .ok()
            .filter(|p| !p.is_empty()),
        reporter,
        new_key: Mutex::new(None),
        write_env: cli.write_env.clone(),
        key_error: Mutex::new(None),
        conn: url.clone(),
        bulk: tokio::sync::OnceCell::new(),
        counts: Mutex::new(Default::default()),
    });
    let jobs = cli.jobs.map_or_else(cpus, |j| j as usize);
    match cli.command {
        Some(Command::Verify) => {
            let problems = verify::run(&mut conn, &ctx).await?;
            if problems == 0 {
                Ok(())
            } else {
                Err(SeedError::VerifyFailed(problems))
            }
        }
        Some(Command::Reset { hard }) => {
            // A prod stamp outranks whatever the run was told it is.
            let judged = if stamp_is_prod {
                Environment::Prod
            } else {
                env
            };
            policy::require_disposable(judged, DisposableOnly::SeedReset)?;
            drop(conn);
            if hard {
                let n = migrations::revert_all(&url, env).await?;
                ctx.reporter.note(&format!("reverted {n} migration(s)"));
            }
            prepare_schema(&url, env, &ctx.reporter).await?;
            let mut conn = db::connect(&url).await?;
            ledger::ensure(&mut conn).await?;
            reset_tables(&mut conn).await?;
            ctx.reporter
                .note("emptied the seeded tables and the seed ledger");
            seed(
                &url,
                &mut conn,
                &ctx,
                STAGES,
                Run {
                    force: true,
                    keep_going: cli.keep_going,
                    jobs,
                },
                cli.write_env.as_deref(),
            )
            .await
        }
        None => {
            runner::check_prod(env, stamp_is_prod, &selected)?;
            runner::check_prerequisites(&mut conn, &selected).await?;
            prepare_schema(&url, env, &ctx.reporter).await?;
            ledger::ensure(&mut conn).await?;
            seed(
                &url,
                &mut conn,
                &ctx,
                &selected,
                Run {
                    force: cli.force,
                    keep_going: cli.keep_going,
                    jobs,
                },
                cli.write_env.as_deref(),
            )
            .await
        }
    }
}

/// How to run the stages: the flags of one `seed` invocation.
struct Run {
    force: bool,
    keep_going: bool,
    jobs: usize,
}

/// CPUs available to this process. Stages at a time by default: one per CPU (each stage's
/// merge is one busy backend).
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

async fn seed(
    url: &groundwork_migrate::ConnInfo,
    conn: &mut diesel_async::AsyncPgConnection,
    ctx: &Arc<Ctx>,
    stages: &[&'static dyn Stage],
    run: Run,
    write_env: Option<&std::path::Path>,
) -> Result<()> {
    // Staging tables of killed runs: swept by every run, not only when a bulk load starts.
    let swept = bulk::sweep_stale(url).await?;
    if swept > 0 {
        ctx.reporter.note(&format!(
            "dropped {swept} staging table(s) left by a killed seed run"
        ));
    }
    warn_undelivered_key(conn, ctx).await?;
    // One connection per running stage, and one for the ledger row of a failed stage.
    let pool = db::pool(url, run.jobs as u32 + 1).await?;
    // The runner shows a new key as soon as stage 01 commits (see `runner::run_one`).
    let result = runner::run_stages(&pool, ctx, stages, run.force, run.keep_going, run.jobs).await;
    let key_created = ctx.new_key.lock().is_ok_and(|k| k.is_some());
    let key_error = ctx.key_error.lock().ok().and_then(|mut e| e.take());
    if !key_created
        && write_env.is_some()
        && stages
            .iter()
            .any(|s| s.id() == stages::s01_core_entities::ID)
    {
        ctx.reporter.note("the existing API key was kept, so .env was not changed; use --rotate-key --write-env for a new one");
    }
    let rows = match (result, key_error) {
        (Ok(rows), None) => rows,
        (Ok(_), Some(e)) => return Err(e),
        (Err(e), key_error) => {
            if let Some(k) = key_error {
                eprintln!("error: {k}");
            }
            return Err(e);
        }
    };
    let fp = runner::dataset_fingerprint(conn, STAGES).await?;
    ctx.reporter.summary(&rows, &fp);
    Ok(())
}

/// Tells the user when a key was created by a run that ended before showing it.
async fn warn_undelivered_key(conn: &mut diesel_async::AsyncPgConnection, ctx: &Ctx) -> Result<()> {
    let Some(at) = ledger::undelivered_key(conn).await? else {
        return Ok(());
    };
    let at = at.format("%Y-%m-%d %H:%M:%S UTC");
    if ctx.rotate_key {
        ctx.reporter.note(&format!(
            "replacing the API key created at {at} by a seed run that ended before it confirmed showing the key"
        ));
    } else {
        // stderr even with --quiet: if nobody has the stored key, the app's test agent cannot
        // authenticate until it is replaced.
        eprintln!(
            "warning: the test agent API key was created at {at} by a seed run that ended before it confirmed showing the key (printed, or written with --write-env), so it may be lost. If you do not have it, get a new one with `seed --rotate-key --write-env` (it replaces the old key)."
        );
    }
    Ok(())
}

/// Prints a newly created key once on stdout (the one place the plaintext is printed), then
/// writes it with `--write-env`.
pub(crate) fn show_key(ctx: &Ctx, key: &str, write_env: Option<&std::path::Path>) -> Result<()> {
    let printed = match ctx.reporter_format() {
        cli::LogFormat::Json => policy::write_line(format_args!(
            "{}",
            serde_json::json!({"event": "api_key", "name": KEY_ENV_VAR, "key": key})
        )),
        cli::LogFormat::Text => {
            eprintln!("New test agent API key (shown once; it is stored only as a hash):");
            policy::write_line(format_args!("{KEY_ENV_VAR}={key}"))
        }
    };
    // A closed stdout loses the printed copy; with --write-env the file still delivers it.
    if let Err(source) = printed
        && write_env.is_none()
    {
        return Err(SeedError::Io {
            doing: "cannot print the new API key to",
            path: "standard output".into(),
            source,
        });
    }
    if let Some(path) = write_env {
        envfile::set_var(path, KEY_ENV_VAR, key)?;
        ctx.reporter.note(&format!(
            "wrote {KEY_ENV_VAR} to {} (mode 0600)",
            path.display()
        ));
    }
    Ok(())
}

/// Empties every table a stage owns, and the ledger, in one transaction.
async fn reset_tables(conn: &mut diesel_async::AsyncPgConnection) -> Result<()> {
    use diesel_async::{AsyncConnection, SimpleAsyncConnection};
    let tables: Vec<String> = runner::all_tables(STAGES)
        .iter()
        .map(|t| format!("public.{}", policy::quote_ident(t.name)))
        .collect();
    let sql = format!(
        "TRUNCATE {} CASCADE; DELETE FROM groundwork.seed_ledger;",
        tables.join(", ")
    );
    conn.transaction::<(), SeedError, _>(async |c| {
        c.batch_execute(&sql).await?;
        Ok(())
    })
    .await
    .map_err(|e| match e {
        SeedError::Database { source, .. } => SeedError::Database {
            doing: "emptying the seeded tables".into(),
            source,
        },
        other => other,
    })
}

/// `seed --list`: stages, prerequisites, and their last run on this database (when reachable).
async fn list(cli: &Cli) -> Result<()> {
    // Without a database the list still shows the stages; a malformed one is an error.
    let given = cli
        .common
        .database_url
        .as_deref()
        .is_some_and(|u| !u.trim().is_empty());
    let mut conn = if given {
        Some(db::connect(&conn_info(cli)?).await?)
    } else {
        None
    };
    let has_ledger = match conn.as_mut() {
        Some(c) => ledger::exists(c).await?,
        None => false,
    };
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(["stage", "description", "prerequisites", "last run"]);
    for s in STAGES {
        let last = match (conn.as_mut(), has_ledger) {
            (Some(c), true) => match ledger::last(c, s.id()).await? {
                Some(e) => format!("{} {}", e.status, e.finished_at.format("%Y-%m-%d %H:%M")),
                None => "never".into(),
            },
            (Some(_), false) => "never".into(),
            (None, _) => "unknown (no DATABASE_URL)".into(),
        };
        let prereq = if s.prerequisites().is_empty() {
            "-".to_string()
        } else {
            s.prerequisites().join(", ")
        };
        t.add_row([
            s.id().to_string(),
            s.description().to_string(),
            prereq,
            last,
        ]);
    }
    out!("{t}");
    Ok(())
}

impl Ctx {
    /// The output format (for the one key print).
    pub fn reporter_format(&self) -> cli::LogFormat {
        self.reporter.format()
    }
}
