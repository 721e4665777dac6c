//! The subcommands: run the engine and print what happened.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use diesel::sql_types::{Bool, Text};
use diesel_async::RunQueryDsl;

use crate::cli::{Command, GlobalArgs};
use crate::db;
use crate::engine::{Done, Engine, Event, RevertTarget, Status};
use crate::error::MigrateError;
use crate::redact::redact;
use crate::settings::Settings;
use crate::source::MigrationSource;

/// Output options shared by the commands.
struct Output {
    json: bool,
    quiet: bool,
}

impl Output {
    fn event(&self, event: Event<'_>) {
        if self.json || self.quiet {
            return;
        }
        match event {
            Event::Applied {
                migration,
                duration,
            } => {
                println!(
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
                println!(
                    "Reverted {} {} ({} ms)",
                    migration.version,
                    migration.name,
                    duration.as_millis()
                );
            }
        }
    }

    fn summary(&self, action: &str, done: &[Done], nothing: &str) {
        if self.json {
            println!("{}", serde_json::json!({ action: done }));
        } else if done.is_empty() && !self.quiet {
            println!("{nothing}");
        }
    }
}

/// Runs one subcommand.
pub(crate) async fn dispatch(global: &GlobalArgs, command: &Command) -> Result<(), MigrateError> {
    let out = Output {
        json: global.json,
        quiet: global.quiet,
    };
    let settings = Settings::resolve(global.database_url.clone(), global.env)?;
    let source = MigrationSource::from_option(global.migrations_dir.clone());
    tracing::debug!(url = %redact(&settings.database_url), env = %settings.env, source = %source.describe(), "starting");

    match command {
        Command::Status => {
            let mut engine = Engine::connect(&settings, &source).await?;
            let status = engine.status().await?;
            print_status(&status, &out, &settings);
            Ok(())
        }
        Command::Up { to } => {
            let migrations = source.load_migrations()?;
            if let Some(to) = to {
                // Checked before connecting, so a typo never touches the database.
                if !migrations.iter().any(|m| &m.version == to) {
                    return Err(MigrateError::UnknownVersion {
                        requested: to.clone(),
                        source_desc: source.describe(),
                        known: migrations.iter().map(|m| m.version.clone()).collect(),
                    });
                }
            }
            let conn =
                db::connect(&settings.database_url, &crate::engine::application_name()).await?;
            let mut engine = Engine::from_parts(conn, migrations, source.describe());
            let done = engine
                .apply_pending(to.as_deref(), &mut |e| out.event(e))
                .await?;
            out.summary(
                "applied",
                &done,
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
            let mut engine = Engine::connect(&settings, &source).await?;
            let done = engine.revert(&target, &mut |e| out.event(e)).await?;
            out.summary(
                "reverted",
                &done,
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
            let mut engine = Engine::connect(&settings, &source).await?;
            let done = engine.redo(*steps, &mut |e| out.event(e)).await?;
            out.summary("redone", &done, "Nothing to redo: no migration is applied.");
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
            let created = create_database_if_missing(&settings.database_url).await?;
            if !out.quiet && !out.json {
                let name = db::database_name(&db::parse_url(&settings.database_url)?);
                if created {
                    println!("Created database {name}");
                } else {
                    println!("Database {name} already exists");
                }
            }
            let conn =
                db::connect(&settings.database_url, &crate::engine::application_name()).await?;
            let mut engine = Engine::from_parts(conn, migrations, source.describe());
            let done = engine.apply_pending(None, &mut |e| out.event(e)).await?;
            if out.json {
                println!(
                    "{}",
                    serde_json::json!({ "created": created, "applied": done })
                );
            } else if done.is_empty() && !out.quiet {
                println!("Nothing to apply: the database is up to date.");
            }
            Ok(())
        }
    }
}

fn print_status(status: &Status, out: &Output, settings: &Settings) {
    if out.json {
        let value = serde_json::json!({
            "database": redact(&settings.database_url),
            "applied_count": status.applied_count(),
            "pending_count": status.pending_count(),
            "migrations": status.migrations.iter().map(|m| serde_json::json!({
                "version": m.version,
                "name": m.name,
                "state": if m.applied_at.is_some() { "applied" } else { "pending" },
                "applied_at": m.applied_at.map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string()),
                "run_in_transaction": m.run_in_transaction,
            })).collect::<Vec<_>>(),
            "unknown_applied": status.unknown_applied,
        });
        println!("{value}");
        return;
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(["Version", "Name", "State", "Applied at"]);
    for m in &status.migrations {
        let (state, at) = match m.applied_at {
            Some(t) => ("applied", t.format("%Y-%m-%d %H:%M:%S").to_string()),
            None => ("pending", String::new()),
        };
        table.add_row([m.version.as_str(), m.name.as_str(), state, at.as_str()]);
    }
    for v in &status.unknown_applied {
        table.add_row([v.as_str(), "(not in this binary)", "applied", ""]);
    }
    println!("{table}");
    println!(
        "{} applied, {} pending{}",
        status.applied_count(),
        status.pending_count(),
        if status.unknown_applied.is_empty() {
            String::new()
        } else {
            format!(
                ", {} applied but unknown to this binary (database ahead)",
                status.unknown_applied.len()
            )
        }
    );
}

#[derive(diesel::QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

/// Creates the database named in `url` via the `postgres` maintenance database.
/// Returns whether it was created.
async fn create_database_if_missing(url: &str) -> Result<bool, MigrateError> {
    let target = db::parse_url(url)?;
    let name = db::database_name(&target);
    let mut maintenance = target.clone();
    maintenance.dbname("postgres");
    let mut conn =
        db::connect_config(&mut maintenance, url, &crate::engine::application_name()).await?;
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
