//! The guards every changing command passes: the lock, the environment stamp, drift, and in
//! prod (or with --require-backup) the plan, the confirmation and the backup.
//!
//! Everything here runs before anything is applied, so every refusal leaves the database as
//! it was. The plan and prompts go to stderr so stdout stays machine-readable with --json.

use std::io::{BufRead, IsTerminal, Write};

use crate::backup;
use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::drops::{self, Dropped};
use crate::engine::{Leftover, Locked, Plan, RevertTarget, Session};
use crate::env::Environment;
use crate::error::MigrateError;
use crate::lint::report::{self, MigrationLint, Totals};
use crate::lint::{self, Input};
use crate::policy::Settings;
use crate::source::Migration;
use crate::store::Note;

use super::{catalog, verify};

/// Takes the lock; the session checks the environment stamp and verifies under it.
pub(super) async fn lock(session: Session, global: &GlobalArgs) -> Result<Locked, MigrateError> {
    // --quiet: a blocked run still ends with an error naming the lock holder.
    let quiet = global.quiet;
    session
        .lock(global.lock_wait, &mut |holder, wait| match holder {
            _ if quiet => {}
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
pub(super) async fn guards(
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

/// In prod, reverts go one migration per run: each gets its own plan, backup and
/// confirmation, so a typo in `--steps` or `--to` can never empty the database.
pub(super) fn refuse_wide_prod_revert(target: &RevertTarget) -> Result<(), MigrateError> {
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
pub(super) async fn production_gate(
    locked: &mut Locked,
    plan: &Plan,
    verb: &str,
    settings: &Settings,
    global: &GlobalArgs,
) -> Result<(), MigrateError> {
    let migrations = plan.migrations();
    let prod = settings.env == Environment::Prod;
    if !prod && !global.require_backup {
        return Ok(());
    }
    // --quiet keeps the plan only where it belongs to the confirmation prompt.
    if prod && (!global.quiet || will_ask(global)) {
        let config = Config::load(global.config.as_deref())?;
        eprintln!("Plan ({verb} in {}):", settings.env);
        for m in migrations {
            eprintln!(
                "  {} {} ({})",
                m.version,
                m.name,
                tx_label(m.run_in_transaction)
            );
            if verb == "apply" {
                print_lint(&lint::lint_up(m, &config.severities, &config.allows), "");
            } else {
                print_revert_plan(locked, m, verb, &config).await;
            }
        }
    }
    if prod && !global.require_backup {
        return Err(MigrateError::Refused(format!(
            "a prod run that changes the schema needs --require-backup ({} migration(s) to {verb}); \
             rerun with --require-backup [--backup-dir DIR]",
            migrations.len()
        )));
    }
    let conn = &settings.conn;
    // Checked before the confirmation, so nobody confirms a run that cannot back up. The
    // folder is checked again by `take_backup`: it may change while the prompt waits.
    let server = catalog::server_version_num(locked.connection()).await?;
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
    if !global.quiet {
        eprintln!(
            "Backup written and verified: {} ({} bytes, {} entries, sha256 {}) in {} ms",
            info.path.display(),
            info.size_bytes,
            info.entries,
            info.sha256,
            started.elapsed().as_millis()
        );
    }
    locked.set_backup(info);
    Ok(())
}

/// The lint findings of one file of a prod plan, under its migration's line.
fn print_lint(lint: &lint::FileLint, file: &str) {
    for f in &lint.findings {
        for line in report::short(f, "    ", file) {
            eprintln!("{line}");
        }
    }
    for a in &lint.allowed {
        eprintln!("{}", report::short_allowed(a, "    ", file));
    }
}

/// The revert part of a prod plan: the down.sql's lint findings, what it drops with live
/// row counts, and the down.sql itself.
async fn print_revert_plan(locked: &mut Locked, m: &Migration, verb: &str, config: &Config) {
    let Some(down_sql) = m.down_sql.as_deref() else {
        return;
    };
    let down = Input {
        sql: down_sql,
        version: &m.version,
        run_in_transaction: m.run_in_transaction,
    };
    print_lint(
        &lint::lint(&down, &config.severities, &config.allows),
        "(down.sql) ",
    );
    let dropped = drops::dropped_by(down_sql);
    if dropped.iter().all(|d| matches!(d, Dropped::Other(_))) {
        eprintln!("    drops no table, column or rows");
    }
    for d in &dropped {
        let conn = locked.connection();
        let line = match d {
            Dropped::Table(t) => {
                format!(
                    "drops table {t}: {}",
                    catalog::live_rows(conn, t, None).await
                )
            }
            Dropped::Emptied(t) => {
                format!(
                    "empties table {t}: {}",
                    catalog::live_rows(conn, t, None).await
                )
            }
            Dropped::Column { table, column } => format!(
                "drops column {table}.{column}: {}",
                catalog::live_rows(conn, table, Some(column)).await
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
        print_lint(
            &lint::lint_up(m, &config.severities, &config.allows),
            "(up.sql) ",
        );
    }
}

/// The lint of the migrations `up` is about to apply, with the config in use. In staging
/// and prod, errors stop the run here, before the backup and before anything changes
/// (dev and test apply anyway: `migrate lint` and `plan` show the findings there).
pub(super) fn lint_gate(
    plan: &Plan,
    settings: &Settings,
    global: &GlobalArgs,
) -> Result<Vec<MigrationLint>, MigrateError> {
    let config = Config::load(global.config.as_deref())?;
    let linted: Vec<MigrationLint> = plan
        .migrations()
        .iter()
        .map(|m| {
            MigrationLint::new(
                &m.version,
                &m.name,
                "up.sql".to_string(),
                m.run_in_transaction,
                lint::lint_up(m, &config.severities, &config.allows),
            )
        })
        .collect();
    let totals = Totals::of(&linted);
    if settings.env.is_disposable() || !totals.fails(false) {
        return Ok(linted);
    }
    for m in linted.iter().filter(|m| !m.findings.is_empty()) {
        eprintln!("{} {}:", m.version, m.name);
        for f in &m.findings {
            for line in report::short(f, "  ", "") {
                eprintln!("{line}");
            }
        }
    }
    Err(MigrateError::LintFailed(format!(
        "refused in {}: {}. Nothing was applied and no backup was taken",
        settings.env,
        report::failure_message(&linted, totals, false)
    )))
}

/// Writes each allow the applied migrations rely on (rule, line and reason) to the audit
/// run, before they are applied: `migrate history` shows them next to the migration.
pub(super) async fn record_allows(
    locked: &mut Locked,
    linted: &[MigrationLint],
) -> Result<(), MigrateError> {
    let notes: Vec<Note> = linted
        .iter()
        .flat_map(|m| {
            m.allowed.iter().map(|a| Note {
                version: m.version.clone(),
                name: m.name.clone(),
                run_in_transaction: m.run_in_transaction,
                detail: format!(
                    "{} allowed at up.sql line {} ({}): {}",
                    a.rule, a.line, a.source, a.reason
                ),
            })
        })
        .collect();
    locked.record_notes("allow", &notes).await
}

/// A prod `up` first compares the live schema with the one its applied migrations make
/// (`verify --schema`) and refuses on drift (exit 5, nothing changed): a hand-made hotfix
/// may clash with, or be silently undone by, what is about to run. `allow` (from
/// `--allow-schema-drift REASON`) lets it through in an emergency; the reason and the drift
/// go into the audit log before anything is applied. INVALID indexes of an interrupted
/// migration (`leftovers`) are `--repair`'s business, not drift.
pub(super) async fn schema_gate(
    locked: &mut Locked,
    plan: &Plan,
    leftovers: &[Leftover],
    allow: Option<&str>,
    settings: &Settings,
    global: &GlobalArgs,
) -> Result<(), MigrateError> {
    let Some(first) = plan.migrations().first() else {
        return Ok(());
    };
    if settings.env != Environment::Prod {
        return Ok(());
    }
    let scratch = super::scratch_url(global)?;
    let migrations = locked.migrations().to_vec();
    let source_desc = locked.source_desc().to_string();
    let repaired: Vec<String> = leftovers
        .iter()
        .flat_map(|l| l.qualified.iter().cloned())
        .collect();
    let check = verify::check_schema(
        locked.connection(),
        &migrations,
        &source_desc,
        &settings.conn,
        scratch.as_ref(),
        "up (the prod schema check)",
    )
    .await?
    .without_indexes(&repaired);
    if check.is_clean() {
        if !global.quiet {
            eprintln!("{check}");
        }
        return Ok(());
    }
    eprintln!("{check}");
    match allow {
        None => Err(check
            .to_error(
                "Nothing was changed. Bring the schema back in line (add a migration that makes \
                 the change, or undo it by hand), check with `migrate verify --schema`, and rerun; \
                 in an emergency, `up --allow-schema-drift REASON` applies anyway and audits the \
                 reason",
            )
            .unwrap_or_else(|| MigrateError::Refused("schema drift".into()))),
        Some(reason) => {
            let objects: Vec<String> = check
                .differences()
                .iter()
                .map(|d| format!("{} {} {}", d.change.sign(), d.kind, d.object))
                .collect();
            let detail = format!(
                "schema drift allowed (--allow-schema-drift): {reason}; drift: {}",
                objects.join(", ")
            );
            locked
                .record_override(first, "allow_schema_drift", &detail)
                .await?;
            eprintln!(
                "warning: applying despite {} schema difference(s), as --allow-schema-drift \
                 allows (reason recorded in the audit log: {reason})",
                objects.len()
            );
            Ok(())
        }
    }
}

/// Whether [`confirm`] will ask on a terminal (rather than take --yes or refuse).
fn will_ask(global: &GlobalArgs) -> bool {
    !global.yes && std::io::stdin().is_terminal()
}

/// Asks on a terminal; `--yes` answers for pipelines; no terminal and no `--yes` refuses.
pub(super) fn confirm(global: &GlobalArgs, question: &str) -> Result<(), MigrateError> {
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

pub(super) fn tx_label(run_in_transaction: bool) -> &'static str {
    if run_in_transaction {
        "in a transaction"
    } else {
        "NOT in a transaction"
    }
}
