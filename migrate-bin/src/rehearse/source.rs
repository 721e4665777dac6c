//! Where the production-shaped copy comes from, and how it gets into the scratch database:
//! the newest backup the audit log recorded (checked against its recorded SHA-256), a dump
//! file, or another database on the server (dumped, never written to). All three go
//! through `pg_restore`, whose connection settings, like `pg_dump`'s, reach it only through
//! its environment.

use std::path::PathBuf;
use std::process::Stdio;

use tokio_postgres::Client;

use crate::backup::{hash, pg_command};
use crate::error::MigrateError;
use crate::policy::ConnInfo;

/// What the user asked to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The newest backup recorded in the target database's audit log.
    LatestBackup,
    /// A `pg_dump --format=custom` file.
    Dump(PathBuf),
    /// Another database on the same server.
    Database(String),
}

/// A source resolved to something `pg_restore` can read.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A custom-format dump file.
    File(PathBuf),
    /// A database to dump.
    Database(String),
}

/// The source resolved (the audit log read, the backup file checked), and how to name it.
pub async fn resolve(
    source: &Source,
    target: &Client,
    target_conn: &ConnInfo,
) -> Result<(Origin, String), MigrateError> {
    match source {
        Source::Dump(path) => {
            if !path.is_file() {
                return Err(bad_source(
                    format!("the dump file {}", path.display()),
                    "it does not exist or is not a file; pass the path of a pg_dump \
                     --format=custom file"
                        .into(),
                ));
            }
            Ok((
                Origin::File(path.clone()),
                format!("dump {}", path.display()),
            ))
        }
        Source::Database(name) => {
            let exists: bool = target
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
                    &[name],
                )
                .await
                .map_err(|e| db_error("looking up the --from-db database", &e))?
                .get(0);
            if !exists {
                return Err(bad_source(
                    format!("database `{name}`"),
                    format!(
                        "no such database on {}; name an existing database with --from-db",
                        target_conn.host_port()
                    ),
                ));
            }
            Ok((Origin::Database(name.clone()), format!("database {name}")))
        }
        Source::LatestBackup => latest_backup(target, target_conn).await,
    }
}

async fn latest_backup(
    target: &Client,
    target_conn: &ConnInfo,
) -> Result<(Origin, String), MigrateError> {
    let what = || {
        format!(
            "the newest backup in the audit log of {}",
            target_conn.redacted()
        )
    };
    let has_log: bool = target
        .query_one(
            "SELECT to_regclass('groundwork.audit_runs') IS NOT NULL",
            &[],
        )
        .await
        .map_err(|e| db_error("looking for the audit log", &e))?
        .get(0);
    let row = if has_log {
        target
            .query_opt(
                "SELECT backup_path, backup_sha256 FROM groundwork.audit_runs \
                 WHERE backup_path IS NOT NULL AND backup_sha256 IS NOT NULL \
                 ORDER BY id DESC LIMIT 1",
                &[],
            )
            .await
            .map_err(|e| db_error("reading the audit log", &e))?
    } else {
        None
    };
    let Some(row) = row else {
        return Err(bad_source(
            what(),
            "no run of this database recorded a backup (backups are taken by `migrate \
             --require-backup up`); pass --from-dump FILE or --from-db NAME instead"
                .into(),
        ));
    };
    let path = PathBuf::from(row.get::<_, String>(0));
    let recorded: String = row.get(1);
    let file = tokio::fs::File::open(&path).await.map_err(|e| {
        bad_source(
            what(),
            format!(
                "its file {} cannot be read ({e}); restore it there, or pass --from-dump FILE",
                path.display()
            ),
        )
    })?;
    let (_, sha256) = hash(file)
        .await
        .map_err(|e| bad_source(what(), format!("reading {} failed: {e}", path.display())))?;
    if sha256 != recorded {
        return Err(bad_source(
            what(),
            format!(
                "the file {} no longer has the SHA-256 the audit log recorded ({recorded}; the \
                 file hashes to {sha256}): it was changed or replaced after the backup, so it is \
                 not restored. Pass --from-dump FILE with a dump you trust",
                path.display()
            ),
        ));
    }
    let desc = format!("backup {}", path.display());
    Ok((Origin::File(path), desc))
}

/// Restores `origin` into the (empty) database of `scratch`.
pub async fn restore(
    origin: &Origin,
    target_conn: &ConnInfo,
    scratch: &ConnInfo,
) -> Result<(), MigrateError> {
    let mut restore = pg_command("pg_restore", scratch);
    // Ownership and grants name roles of the source's server, which this one may lack; the
    // rehearsal needs the tables and their rows, not who may read them.
    restore.args([
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--no-password",
        "--dbname",
        &scratch.database(),
    ]);
    let desc;
    let mut dump_child = None;
    match origin {
        Origin::File(path) => {
            desc = format!("the dump {}", path.display());
            let file = std::fs::File::open(path)
                .map_err(|e| bad_source(desc.clone(), format!("cannot open it: {e}")))?;
            restore.stdin(Stdio::from(file));
        }
        Origin::Database(name) => {
            desc = format!("database `{name}`");
            let mut dump = pg_command("pg_dump", &target_conn.with_database(name));
            dump.args(["--format=custom", "--no-password"]);
            let mut child = dump.spawn().map_err(|e| not_started("pg_dump", &e))?;
            let stdout: Stdio = child
                .stdout
                .take()
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| bad_source(desc.clone(), "cannot read pg_dump's output".into()))?;
            restore.stdin(stdout);
            dump_child = Some(child);
        }
    }
    let restored = restore
        .spawn()
        .map_err(|e| not_started("pg_restore", &e))?
        .wait_with_output()
        .await
        .map_err(|e| bad_source(desc.clone(), format!("cannot wait for pg_restore: {e}")))?;
    if let Some(child) = dump_child {
        let dumped = child
            .wait_with_output()
            .await
            .map_err(|e| bad_source(desc.clone(), format!("cannot wait for pg_dump: {e}")))?;
        if !dumped.status.success() {
            // When pg_restore gave up first, pg_dump only lost its reader: say both.
            let restore_said = if restored.status.success() {
                String::new()
            } else {
                format!(
                    "; pg_restore exited with {}: {}",
                    restored.status,
                    scratch.scrub(String::from_utf8_lossy(&restored.stderr).trim())
                )
            };
            return Err(bad_source(
                desc,
                format!(
                    "pg_dump exited with {}: {}{restore_said}",
                    dumped.status,
                    scratch.scrub(String::from_utf8_lossy(&dumped.stderr).trim())
                ),
            ));
        }
    }
    if !restored.status.success() {
        return Err(bad_source(
            desc,
            format!(
                "pg_restore exited with {}: {}; pass a pg_dump --format=custom file made by a \
                 pg_dump no newer than this pg_restore",
                restored.status,
                scratch.scrub(String::from_utf8_lossy(&restored.stderr).trim())
            ),
        ));
    }
    Ok(())
}

fn not_started(program: &str, e: &std::io::Error) -> MigrateError {
    bad_source(
        format!("the copy ({program})"),
        if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "{program} was not found on PATH; install PostgreSQL's client tools (the \
                 server's major version or newer) and put them on PATH"
            )
        } else {
            format!("cannot start {program}: {e}")
        },
    )
}

fn bad_source(what: String, reason: String) -> MigrateError {
    MigrateError::RehearsalSource { what, reason }
}

pub(super) fn db_error(context: &str, e: &tokio_postgres::Error) -> MigrateError {
    MigrateError::Database {
        context: context.to_string(),
        error: crate::sql::describe_driver_error(e),
    }
}
