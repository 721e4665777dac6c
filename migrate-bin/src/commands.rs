//! The subcommands: guard, run the engine, print what happened.
//!
//! Every command that changes the database follows one order: take the migration lock →
//! check the environment stamp → verify (drift, database ahead) → work out what to do →
//! (prod or --require-backup) plan, confirm, backup → apply with the audit log → release.
//! Everything before "apply" changes nothing, so every refusal leaves the database as it was.

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use diesel::sql_types::{Bool, Text};
use diesel_async::RunQueryDsl;

use crate::backup;
use crate::cli::{Command, GlobalArgs};
use crate::conninfo::ConnInfo;
use crate::db;
use crate::drops::{self, Dropped};
use crate::engine::{
    Done, Event, Locked, Plan, RevertTarget, RunOptions, Session, Status, Verification,
};
use crate::environment::{self, Facts, Intent, Requested, Standing};
use crate::error::MigrateError;
use crate::lint;
use crate::settings::{Environment, Settings};
use crate::source::{Migration, MigrationSource};

/// `println!` that ignores a closed stdout (`migrate status | head`): output is a report,
/// and a reader that stopped listening must neither crash the run nor stop a migration.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Output options shared by the commands.
struct Output {
    json: bool,
    quiet: bool,
}

impl Output {
    fn event(&self, event: Event<'_>) {
        if let Event::Retrying {
            migration,
            attempt,
            of,
            wait,
        } = event
        {
            // Retries matter even with --quiet/--json: they explain a slow run.
            eprintln!(
                "warning: {} {} hit lock_timeout; retrying in {:.1} s (attempt {attempt} of {of})",
                migration.version,
                migration.name,
                wait.as_secs_f64()
            );
            return;
        }
        if self.json || self.quiet {
            return;
        }
        match event {
            Event::Applied {
                migration,
                duration,
            } => {
                say!(
                    "Applied {} {} ({} ms)",
                    migration.version,
                    migration.name,
                    duration.as_millis()
                );
            }
            Event::Reverted {
                migration,
                duration,
            } => {
                say!(
                    "Reverted {} {} ({} ms)",
                    migration.version,
                    migration.name,
                    duration.as_millis()
                );
            }
            Event::Retrying { .. } => {}
        }
    }

    fn summary(&self, action: &str, done: &[Done], nothing: &str) {
        if self.json {
            say!("{}", serde_json::json!({ action: done }));
        } else if done.is_empty() && !self.quiet {
            say!("{nothing}");
        }
    }

    fn info(&self, line: &str) {
        if !self.json && !self.quiet {
            say!("{line}");
        }
    }
}

/// Runs one subcommand.
pub(crate) async fn dispatch(global: &GlobalArgs, command: &Command) -> Result<(), MigrateError> {
    let out = Output {
        json: global.json,
        quiet: global.quiet,
    };
    let settings = Settings::resolve(global.database_url.clone(), global.env)?
        .with_connect_timeout(global.connect_timeout);
    let source = MigrationSource::from_option(global.migrations_dir.clone());
    tracing::debug!(url = %settings.conn, env = %settings.env, source = %source.describe(), "starting");

    match command {
        Command::Status => {
            let migrations = source.load_migrations()?;
            let (mut session, _, facts) = open(
                &settings,
                migrations,
                &source,
                global,
                "status",
                Intent::ReadOnly,
            )
            .await?;
            let status = session.status().await?;
            print_status(&status, &facts, &out, &settings);
            Ok(())
        }
        Command::Up { to, repair } => {
            let migrations = source.load_migrations()?;
            if let Some(to) = to {
                check_to(to, &migrations, &source)?;
            }
            let (session, settings, facts) =
                open(&settings, migrations, &source, global, "up", Intent::Change).await?;
            let how = UpHow {
                to: to.as_deref(),
                repair: *repair,
                restamp: facts.stamp.is_none() && facts.standing() != Standing::Fresh,
            };
            let mut locked = guards(session, global, true).await?;
            let result = up(&mut locked, &how, &settings, global, &out).await;
            locked.finish(&result).await;
            out.summary(
                "applied",
                &result?,
                "Nothing to apply: the database is up to date.",
            );
            Ok(())
        }
        Command::Down { steps, to, all } => {
            let target = match (steps, to, all) {
                (_, _, true) => RevertTarget::All,
                (_, Some(to), _) => RevertTarget::To(to.clone()),
                (Some(0), _, _) => {
                    return Err(MigrateError::InvalidArgument(
                        "--steps must be at least 1 (use --all to revert everything)".into(),
                    ));
                }
                (Some(n), _, _) => RevertTarget::Steps(*n),
                (None, None, false) => RevertTarget::Steps(1),
            };
            // Before connecting when --env says prod, and again once the stamp is known: a
            // refused form must not even take the lock.
            if settings.env == Environment::Prod {
                refuse_wide_prod_revert(&target)?;
            }
            let migrations = source.load_migrations()?;
            let (session, settings, _) = open(
                &settings,
                migrations,
                &source,
                global,
                "down",
                Intent::Destroy,
            )
            .await?;
            if settings.env == Environment::Prod {
                refuse_wide_prod_revert(&target)?;
            }
            let mut locked = guards(session, global, false).await?;
            let result = down(&mut locked, &target, &settings, global, &out).await;
            locked.finish(&result).await;
            out.summary(
                "reverted",
                &result?,
                "Nothing to revert: no migration is applied.",
            );
            Ok(())
        }
        Command::Redo { steps } => {
            if *steps == 0 {
                return Err(MigrateError::InvalidArgument(
                    "--steps must be at least 1".into(),
                ));
            }
            let refuse_in_prod = |env: Environment| {
                if env == Environment::Prod && *steps > 1 {
                    return Err(MigrateError::ProdRevertTooFar {
                        form: format!("redo --steps {steps}"),
                    });
                }
                Ok(())
            };
            refuse_in_prod(settings.env)?;
            let migrations = source.load_migrations()?;
            let (session, settings, _) = open(
                &settings,
                migrations,
                &source,
                global,
                "redo",
                Intent::Destroy,
            )
            .await?;
            refuse_in_prod(settings.env)?;
            let mut locked = guards(session, global, true).await?;
            let result = redo(&mut locked, *steps, &settings, global, &out).await;
            locked.finish(&result).await;
            out.summary(
                "redone",
                &result?,
                "Nothing to redo: no migration is applied.",
            );
            Ok(())
        }
        Command::Setup => {
            if !settings.env.is_disposable() {
                return Err(MigrateError::Refused(format!(
                    "`migrate setup` creates databases and is for dev and test only, but the environment is {}. \
                     Create production and staging databases through your normal provisioning, then run `migrate up`",
                    settings.env
                )));
            }
            let migrations = source.load_migrations()?;
            let created = create_database_if_missing(&settings.conn).await?;
            let name = settings.conn.database();
            out.info(&if created {
                format!("Created database {name}")
            } else {
                format!("Database {name} already exists")
            });
            let (session, settings, facts) = open(
                &settings,
                migrations,
                &source,
                global,
                "setup",
                Intent::Change,
            )
            .await?;
            // Again with the effective environment: without --env it is the database's stamp.
            if !settings.env.is_disposable() {
                return Err(MigrateError::Refused(format!(
                    "`migrate setup` is for dev and test only, but this database is stamped {}; \
                     use `migrate --env {} --require-backup up` for it. Nothing was changed",
                    settings.env, settings.env
                )));
            }
            let how = UpHow {
                to: None,
                repair: false,
                restamp: facts.stamp.is_none() && facts.standing() != Standing::Fresh,
            };
            let mut locked = guards(session, global, true).await?;
            let result = up(&mut locked, &how, &settings, global, &out).await;
            locked.finish(&result).await;
            let done = result?;
            if out.json {
                say!(
                    "{}",
                    serde_json::json!({ "created": created, "applied": done })
                );
            } else if done.is_empty() {
                out.info("Nothing to apply: the database is up to date.");
            }
            Ok(())
        }
        Command::Plan { to } => {
            let migrations = source.load_migrations()?;
            if let Some(to) = to {
                check_to(to, &migrations, &source)?;
            }
            let (mut session, _, _) = open(
                &settings,
                migrations,
                &source,
                global,
                "plan",
                Intent::ReadOnly,
            )
            .await?;
            let verification = session.verify().await?;
            let pending = session.pending(to.as_deref()).await?;
            let tables = existing_tables(session.connection()).await?;
            print_plan(&pending, &verification, &tables, &out, true);
            Ok(())
        }
        Command::Verify => {
            let migrations = source.load_migrations()?;
            // Read-only: migrations applied by diesel_cli are reported as unrecorded and
            // recorded by the next `up`, never adopted here.
            let (mut session, _, facts) = open(
                &settings,
                migrations,
                &source,
                global,
                "verify",
                Intent::ReadOnly,
            )
            .await?;
            let verification = session.verify().await?;
            print_verification(&verification, &facts.standing(), &out);
            match verification.to_error(session.source_desc()) {
                Some(err) => Err(err),
                None => Ok(()),
            }
        }
        Command::AcceptChecksum { version } => {
            let migrations = source.load_migrations()?;
            let (session, settings, _) = open(
                &settings,
                migrations,
                &source,
                global,
                "accept-checksum",
                Intent::Change,
            )
            .await?;
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
            let (old, new) = result?;
            if out.json {
                say!(
                    "{}",
                    serde_json::json!({ "version": version, "old_checksum": old, "new_checksum": new })
                );
            } else {
                out.info(&format!("Accepted the current up.sql of {version}: checksum {old} -> {new} (recorded in the audit log)"));
            }
            Ok(())
        }
        Command::History { limit } => {
            let migrations = source.load_migrations()?;
            let (mut session, _, _) = open(
                &settings,
                migrations,
                &source,
                global,
                "history",
                Intent::ReadOnly,
            )
            .await?;
            let runs = session.history((*limit).max(1)).await?;
            print_history(&runs, &out);
            Ok(())
        }
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

/// Connects and applies the environment rule ([`crate::environment`]) for `intent`. Returns
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
    let mut conn = db::connect(&settings.conn, &db::application_name()).await?;
    let requested = Requested {
        env: settings.env,
        source: settings.env_source,
    };
    let (decision, facts) = environment::resolve(&mut conn, requested, intent).await?;
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

/// Takes the lock; the session checks the environment stamp and verifies under it.
async fn lock(session: Session, global: &GlobalArgs) -> Result<Locked, MigrateError> {
    session
        .lock(global.lock_wait, &mut |holder, wait| match holder {
            Some(h) => eprintln!(
                "Waiting for the migration lock held by {h} (giving up after {:.0} s, --lock-wait)",
                wait.as_secs_f64()
            ),
            None => eprintln!(
                "Waiting for the migration lock (giving up after {:.0} s)",
                wait.as_secs_f64()
            ),
        })
        .await
}

/// Lock, environment, drift: the guards every changing command passes first.
async fn guards(
    session: Session,
    global: &GlobalArgs,
    check_drift: bool,
) -> Result<Locked, MigrateError> {
    let locked = lock(session, global).await?;
    if check_drift && let Err(err) = locked.check_drift() {
        return Err(locked.refuse(err).await);
    }
    if let Some(hint) = locked.verification().cleanup_hint() {
        eprintln!("warning: {hint}");
    }
    Ok(locked)
}

/// What `up` (and `setup`) was asked to do.
struct UpHow<'a> {
    to: Option<&'a str>,
    /// `--repair`: drop INVALID indexes of an interrupted non-transactional migration in
    /// staging/prod too.
    repair: bool,
    /// The database has content but no stamp (the rule let an explicit --env through):
    /// stamp it even when nothing is pending.
    restamp: bool,
}

async fn up(
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
    production_gate(locked, &plan, "apply", settings, global, out).await?;
    for l in &leftovers {
        for index in &l.indexes {
            eprintln!(
                "Repairing {} {}: dropping index {index} left by an interrupted run, then applying it again (audited)",
                l.version, l.name
            );
        }
    }
    locked.repair_indexes(&leftovers).await?;
    locked.execute(plan, &mut |e| out.event(e)).await
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
    production_gate(locked, &plan, "revert", settings, global, out).await?;
    locked.execute(plan, &mut |e| out.event(e)).await
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
    production_gate(locked, &plan, "redo", settings, global, out).await?;
    locked.execute(plan, &mut |e| out.event(e)).await
}

/// In prod, reverts go one migration per run: each gets its own plan, backup and
/// confirmation, so a typo in `--steps` or `--to` can never empty the database.
fn refuse_wide_prod_revert(target: &RevertTarget) -> Result<(), MigrateError> {
    let form = match target {
        RevertTarget::Steps(n) if *n <= 1 => return Ok(()),
        RevertTarget::Steps(n) => format!("down --steps {n}"),
        RevertTarget::To(version) => format!("down --to {version}"),
        RevertTarget::All => "down --all".to_string(),
    };
    Err(MigrateError::ProdRevertTooFar { form })
}

/// In prod (or with --require-backup): show the plan, insist on --require-backup (prod),
/// check pg_dump and the backup folder, confirm (prod), take and verify the backup.
/// Changes nothing in the database. Shows `plan`, the value `execute` then runs.
async fn production_gate(
    locked: &mut Locked,
    plan: &Plan,
    verb: &str,
    settings: &Settings,
    global: &GlobalArgs,
    out: &Output,
) -> Result<(), MigrateError> {
    let migrations = plan.migrations();
    let prod = settings.env == Environment::Prod;
    if !prod && !global.require_backup {
        return Ok(());
    }
    if prod {
        let tables = existing_tables(locked.connection()).await?;
        // The plan goes to stderr so stdout stays machine-readable with --json.
        eprintln!("Plan ({verb} in {}):", settings.env);
        for m in migrations {
            eprintln!("  {} {} ({})", m.version, m.name, tx_label(m));
            if verb == "apply" {
                for w in lint::scan(&m.up_sql, &|t| tables.contains(t)) {
                    eprintln!("    warning: {}", w.message);
                }
            } else {
                print_revert_plan(locked, m, verb, &tables).await;
            }
        }
        if !global.require_backup {
            return Err(MigrateError::Refused(format!(
                "a prod run that changes the schema needs --require-backup ({} migration(s) to {verb}); \
                 rerun with --require-backup [--backup-dir DIR]",
                migrations.len()
            )));
        }
    }
    let conn = &settings.conn;
    // Checked before the confirmation, so nobody confirms a run that cannot back up. The
    // folder is checked again by `take_backup`: it may change while the prompt waits.
    let server = server_version_num(locked).await?;
    backup::check_pg_dump_version(conn, server).await?;
    backup::prepare_dir(&global.backup_dir)?;
    if prod {
        confirm(
            global,
            &format!(
                "{verb} {} migration(s) on the prod database?",
                migrations.len()
            ),
        )?;
    }
    let label = migrations
        .first()
        .map(|m| m.version.as_str())
        .unwrap_or("run");
    let started = std::time::Instant::now();
    let info = backup::take_backup(&settings.conn, &global.backup_dir, label).await?;
    eprintln!(
        "Backup written and verified: {} ({} bytes, {} entries, sha256 {}) in {} ms",
        info.path.display(),
        info.size_bytes,
        info.entries,
        info.sha256,
        started.elapsed().as_millis()
    );
    let _ = out;
    locked.set_backup(info);
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

async fn server_version_num(locked: &mut Locked) -> Result<u32, MigrateError> {
    let row: Setting = diesel::sql_query("SELECT current_setting('server_version_num') AS value")
        .get_result(locked.connection())
        .await
        .map_err(|e| MigrateError::db("reading the server version", &e))?;
    row.value
        .trim()
        .parse()
        .map_err(|_| MigrateError::Database {
            context: "reading the server version".into(),
            error: format!("server_version_num is `{}`, not a number", row.value),
        })
}

/// The revert part of a prod plan: the down.sql's warnings, what it drops with live row
/// counts, and the down.sql itself.
async fn print_revert_plan(
    locked: &mut Locked,
    m: &Migration,
    verb: &str,
    tables: &BTreeSet<String>,
) {
    let Some(down_sql) = m.down_sql.as_deref() else {
        return;
    };
    for w in lint::scan(down_sql, &|t| tables.contains(t)) {
        eprintln!("    warning (down.sql): {}", w.message);
    }
    let dropped = drops::dropped_by(down_sql);
    if dropped.iter().all(|d| matches!(d, Dropped::Other(_))) {
        eprintln!("    drops no table, column or rows");
    }
    for d in &dropped {
        let line = match d {
            Dropped::Table(t) => format!("drops table {t}: {}", live_rows(locked, t, None).await),
            Dropped::Emptied(t) => {
                format!("empties table {t}: {}", live_rows(locked, t, None).await)
            }
            Dropped::Column { table, column } => format!(
                "drops column {table}.{column}: {}",
                live_rows(locked, table, Some(column)).await
            ),
            Dropped::Other(statement) => format!("also runs: {statement}"),
        };
        eprintln!("    {line}");
    }
    eprintln!("    down.sql:");
    for line in down_sql.lines() {
        eprintln!("    | {line}");
    }
    if verb == "redo" {
        eprintln!("    then applies its up.sql again");
        for w in lint::scan(&m.up_sql, &|t| tables.contains(t)) {
            eprintln!("    warning (up.sql): {}", w.message);
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Relation {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    rel: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    estimate: Option<i64>,
}

#[derive(diesel::QueryableByName)]
struct Counts {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    rows: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    non_null: i64,
}

/// Above this planner estimate a table is not counted (a full scan of it could take minutes
/// on the live database); the estimate is shown instead, labelled as such.
const COUNT_LIMIT: i64 = 10_000_000;

/// What is in `table` (or its `column`) now, for the plan. Never fails: a table that cannot
/// be counted is said to be so.
async fn live_rows(locked: &mut Locked, table: &str, column: Option<&str>) -> String {
    let found: Result<Relation, _> = diesel::sql_query(
        "SELECT to_regclass($1)::text AS rel, \
                (SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass($1)) AS estimate",
    )
    .bind::<Text, _>(table)
    .get_result(locked.connection())
    .await;
    let rel = match found {
        Ok(Relation {
            rel: Some(rel),
            estimate,
        }) => {
            if let Some(n) = estimate.filter(|n| *n > COUNT_LIMIT) {
                return format!("about {n} rows (planner estimate; too big to count for a plan)");
            }
            rel
        }
        Ok(_) => return "the table does not exist (nothing to lose)".into(),
        Err(e) => return format!("row count unavailable ({e})"),
    };
    // `rel` is PostgreSQL's own quoting of the table; `column` is as down.sql writes it.
    let sql = match column {
        Some(c) => format!("SELECT count(*) AS rows, count({c}) AS non_null FROM {rel}"),
        None => format!("SELECT count(*) AS rows, count(*) AS non_null FROM {rel}"),
    };
    match diesel::sql_query(sql)
        .get_result::<Counts>(locked.connection())
        .await
    {
        Ok(c) if column.is_some() => format!("{} rows, {} non-null values", c.rows, c.non_null),
        Ok(c) => format!("{} rows", c.rows),
        Err(e) => format!("row count unavailable ({e})"),
    }
}

/// Asks on a terminal; `--yes` answers for pipelines; no terminal and no `--yes` refuses.
fn confirm(global: &GlobalArgs, question: &str) -> Result<(), MigrateError> {
    if global.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(MigrateError::Refused(format!(
            "{question} needs confirmation, but there is no terminal to ask on; pass --yes in pipelines"
        )));
    }
    eprint!("{question} Type 'yes' to continue: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| MigrateError::Refused(format!("could not read the confirmation: {e}")))?;
    if answer.trim().eq_ignore_ascii_case("yes") {
        Ok(())
    } else {
        Err(MigrateError::Refused(
            "not confirmed; nothing was changed".into(),
        ))
    }
}

fn tx_label(m: &Migration) -> &'static str {
    if m.run_in_transaction {
        "in a transaction"
    } else {
        "NOT in a transaction"
    }
}

#[derive(diesel::QueryableByName)]
struct TableName {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Existing tables as `name` (for tables on the search path) and `schema.name`.
async fn existing_tables(
    conn: &mut diesel_async::AsyncPgConnection,
) -> Result<BTreeSet<String>, MigrateError> {
    let rows: Vec<TableName> = diesel::sql_query(
        "SELECT lower(schemaname || '.' || tablename) AS name FROM pg_tables \
         UNION ALL SELECT lower(tablename) FROM pg_tables WHERE schemaname = ANY (current_schemas(false))",
    )
    .load(conn)
    .await
    .map_err(|e| MigrateError::db("listing existing tables", &e))?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

fn print_plan(
    pending: &[Migration],
    verification: &Verification,
    tables: &BTreeSet<String>,
    out: &Output,
    with_sql: bool,
) {
    let exists = |t: &str| tables.contains(t);
    if out.json {
        let value = serde_json::json!({
            "environment": verification.environment,
            "drift": {
                "changed": verification.changed,
                "ahead": verification.ahead,
                "blocks_up": !verification.is_clean(),
            },
            "cleanup_hint": verification.cleanup_hint(),
            "pending": pending.iter().map(|m| serde_json::json!({
                "version": m.version,
                "name": m.name,
                "run_in_transaction": m.run_in_transaction,
                "checksum": m.checksum,
                "warnings": lint::scan(&m.up_sql, &exists),
                "sql": m.up_sql,
            })).collect::<Vec<_>>(),
        });
        say!("{value}");
        return;
    }
    if let Some(err) = verification.to_error("the migrations source") {
        say!("BLOCKED: `up` would refuse: {err}");
    }
    if let Some(hint) = verification.cleanup_hint() {
        say!("Warning: {hint}");
    }
    if pending.is_empty() {
        say!("Nothing to apply: the database is up to date.");
        return;
    }
    say!("{} pending migration(s):", pending.len());
    for m in pending {
        say!();
        say!("== {} {} ({})", m.version, m.name, tx_label(m));
        for w in lint::scan(&m.up_sql, &exists) {
            say!("   warning [{}]: {}", w.kind, w.message);
        }
        if with_sql {
            for line in m.up_sql.lines() {
                say!("   | {line}");
            }
        }
    }
}

fn print_verification(v: &Verification, standing: &Standing, out: &Output) {
    if out.json {
        let value = serde_json::json!({
            "clean": v.is_clean(),
            "environment": v.environment,
            "standing": standing,
            "ok": v.ok,
            "changed": v.changed,
            "ahead": v.ahead,
            "unrecorded": v.unrecorded,
            "partial_failures": v.partial_failures,
            "invalid_indexes": v.invalid_indexes,
            "cleanup_hint": v.cleanup_hint(),
        });
        say!("{value}");
        return;
    }
    say!("Environment stamp: {standing}");
    say!("{} applied migration(s) match their files", v.ok.len());
    for c in &v.changed {
        say!(
            "CHANGED  {} {}: recorded {} but the file now hashes to {}",
            c.version,
            c.name,
            c.recorded,
            c.current
        );
    }
    for a in &v.ahead {
        say!("UNKNOWN  {a}: applied in the database but not in this binary (database ahead)");
    }
    for u in &v.unrecorded {
        say!("UNRECORDED {u}: applied by diesel_cli, no checksum yet (recorded by the next `up`)");
    }
    if let Some(hint) = v.cleanup_hint() {
        say!("PARTIAL  {hint}");
    }
    if v.is_clean() {
        say!("OK: no drift");
    }
}

fn print_status(status: &Status, facts: &Facts, out: &Output, settings: &Settings) {
    let standing = facts.standing();
    if out.json {
        let value = serde_json::json!({
            "database": settings.conn.redacted(),
            "environment": facts.stamp,
            "standing": standing,
            "applied_count": status.applied_count(),
            "pending_count": status.pending_count(),
            "migrations": status.migrations.iter().map(|m| serde_json::json!({
                "version": m.version,
                "name": m.name,
                "state": if m.applied_at.is_some() { "applied" } else { "pending" },
                "applied_at": m.applied_at.map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string()),
                "run_in_transaction": m.run_in_transaction,
                "changed": m.changed,
            })).collect::<Vec<_>>(),
            "unknown_applied": status.unknown_applied,
        });
        say!("{value}");
        return;
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(["Version", "Name", "State", "Applied at"]);
    for m in &status.migrations {
        let (state, at) = match m.applied_at {
            Some(t) if m.changed => (
                "applied, CHANGED since",
                t.format("%Y-%m-%d %H:%M:%S").to_string(),
            ),
            Some(t) => ("applied", t.format("%Y-%m-%d %H:%M:%S").to_string()),
            None => ("pending", String::new()),
        };
        table.add_row([m.version.as_str(), m.name.as_str(), state, at.as_str()]);
    }
    for v in &status.unknown_applied {
        table.add_row([v.as_str(), "(not in this binary)", "applied", ""]);
    }
    say!("{table}");
    say!(
        "{} applied, {} pending{}; environment stamp: {}",
        status.applied_count(),
        status.pending_count(),
        if status.unknown_applied.is_empty() {
            String::new()
        } else {
            format!(
                ", {} applied but unknown to this binary (database ahead)",
                status.unknown_applied.len()
            )
        },
        standing
    );
}

fn print_history(runs: &[crate::store::RunRecord], out: &Output) {
    if out.json {
        say!("{}", serde_json::json!({ "runs": runs }));
        return;
    }
    if runs.is_empty() {
        say!("No runs recorded yet.");
        return;
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header([
        "Run",
        "Started (UTC)",
        "Command",
        "Env",
        "Who",
        "Outcome",
        "Migrations",
        "Backup",
    ]);
    for r in runs {
        let who = format!(
            "{}@{} (db {}, v{})",
            r.os_user.as_deref().unwrap_or("?"),
            r.host.as_deref().unwrap_or("?"),
            r.db_user,
            r.binary_version
        );
        let outcome = match &r.error {
            Some(e) => format!("{}: {}", r.outcome, e.chars().take(200).collect::<String>()),
            None => r.outcome.clone(),
        };
        table.add_row([
            r.id.to_string(),
            r.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            r.command.clone(),
            r.env.clone(),
            who,
            outcome,
            r.migrations.clone().unwrap_or_default().replace("; ", "\n"),
            r.backup_path.clone().unwrap_or_default(),
        ]);
    }
    say!("{table}");
}

#[derive(diesel::QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

/// Creates the database of `target` via the `postgres` maintenance database.
/// Returns whether it was created.
async fn create_database_if_missing(target: &ConnInfo) -> Result<bool, MigrateError> {
    let name = target.database();
    let maintenance = target.with_database("postgres");
    let mut conn = db::connect(&maintenance, &db::application_name()).await?;
    let row: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<Text, _>(&name)
            .get_result(&mut conn)
            .await
            .map_err(|e| MigrateError::db("checking whether the database exists", &e))?;
    if row.exists {
        return Ok(false);
    }
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    diesel::sql_query(format!("CREATE DATABASE {quoted}"))
        .execute(&mut conn)
        .await
        .map_err(|e| MigrateError::db(format!("creating database {name}"), &e))?;
    Ok(true)
}
