//! The pre-migration backup: `pg_dump --format=custom`, verified with `pg_restore --list`,
//! with its path, size and SHA-256 recorded before the first statement runs.
//!
//! A dump is a full copy of every tenant's data, so it is guarded like the database: the
//! folder must be private to the running user, each dump is a new 0600 file that we create
//! ourselves (never through a symbolic link, never over an existing file) and hand to
//! `pg_dump` as its standard output, and the connection settings reach `pg_dump` and
//! `pg_restore` only through their environment, never their command line.

use std::fs::{self, File};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::error::MigrateError;
use crate::policy::{ConnInfo, LIBPQ_VARS};
use crate::store::BackupInfo;

mod folder;

pub use folder::{create_exclusive, dump_file_name, prepare_dir};

fn fail(reason: String) -> MigrateError {
    MigrateError::BackupFailed { reason }
}

/// A libpq client program aimed at `conn` through its environment alone: the caller's own
/// `PG*` variables are removed first so they cannot redirect or re-authenticate it.
pub(crate) fn pg_command(program: &str, conn: &ConnInfo) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(program);
    for var in LIBPQ_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(conn.pg_env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs `cmd` to the end. (tokio's `Command::output` would replace a stdout we set with a
/// pipe, and the dump would never reach its file.)
async fn run(
    mut cmd: tokio::process::Command,
    program: &str,
) -> Result<std::process::Output, MigrateError> {
    cmd.spawn()
        .map_err(|e| not_started(program, &e))?
        .wait_with_output()
        .await
        .map_err(|e| fail(format!("cannot wait for {program}: {e}")))
}

fn not_started(program: &str, e: &std::io::Error) -> MigrateError {
    if e.kind() == std::io::ErrorKind::NotFound {
        fail(format!(
            "{program} was not found on PATH; install PostgreSQL's client tools (the server's \
             major version or newer) and put them on PATH"
        ))
    } else {
        fail(format!("cannot start {program}: {e}"))
    }
}

/// A PostgreSQL major version: (15, 0) for 15.x, (9, 6) for 9.6.x.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Major(pub u32, pub u32);

impl std::fmt::Display for Major {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 >= 10 {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{}.{}", self.0, self.1)
        }
    }
}

impl Major {
    /// From `server_version_num` (e.g. 150004, 90624).
    pub fn from_version_num(num: u32) -> Self {
        if num >= 100_000 {
            Self(num / 10_000, 0)
        } else {
            Self(num / 10_000, (num / 100) % 100)
        }
    }

    /// From `pg_dump --version` output (e.g. `pg_dump (PostgreSQL) 15.4 (Debian 15.4-1)`).
    pub fn from_version_output(text: &str) -> Option<Self> {
        let version = text
            .split_whitespace()
            .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
        let mut parts = version.split('.').map(|p| {
            p.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse::<u32>()
        });
        let first = parts.next()?.ok()?;
        if first >= 10 {
            Some(Self(first, 0))
        } else {
            Some(Self(first, parts.next()?.ok()?))
        }
    }
}

/// Refuses a `pg_dump` older than the server: it cannot dump a newer server at all, or
/// would miss what it does not know. `server_version_num` is the server's setting.
pub async fn check_pg_dump_version(
    conn: &ConnInfo,
    server_version_num: u32,
) -> Result<(), MigrateError> {
    let mut cmd = pg_command("pg_dump", conn);
    cmd.arg("--version");
    let out = run(cmd, "pg_dump").await?;
    let text = String::from_utf8_lossy(&out.stdout);
    let server = Major::from_version_num(server_version_num);
    let Some(found) = Major::from_version_output(&text).filter(|_| out.status.success()) else {
        return Err(fail(format!(
            "`pg_dump --version` did not report a version (exit {}, output `{}`); install \
             PostgreSQL {server} client tools or newer and put them first on PATH",
            out.status,
            conn.scrub(text.trim())
        )));
    };
    if found < server {
        return Err(MigrateError::PgDumpTooOld {
            found: found.to_string(),
            server: server.to_string(),
        });
    }
    Ok(())
}

/// Removes a dump that did not make it, on every early return.
struct Unfinished {
    path: PathBuf,
    keep: bool,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Takes and verifies a backup of the database of `conn` into `dir`; `label` goes into the
/// file name (e.g. the first version to change). A dump that `pg_dump` did not finish or that
/// `pg_restore --list` rejects is removed.
pub async fn take_backup(
    conn: &ConnInfo,
    dir: &Path,
    label: &str,
) -> Result<BackupInfo, MigrateError> {
    let dir = prepare_dir(dir)?;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let name = dump_file_name(&conn.database(), label, chrono::Utc::now(), &run_id[..12]);
    let path = dir.join(name);
    let mut file = create_exclusive(&path).map_err(|e| {
        fail(format!(
            "cannot create the dump file {}: {e}; nothing may exist at that name (no file, no \
             symbolic link); check the folder for files you did not put there",
            path.display()
        ))
    })?;
    let mut guard = Unfinished {
        path: path.clone(),
        keep: false,
    };
    let io_fail = |what: &str, e: std::io::Error| {
        fail(format!("{what} the dump file {}: {e}", path.display()))
    };
    let stdout = file
        .try_clone()
        .map_err(|e| io_fail("cannot hand over", e))?;

    // pg_dump writes into the file we opened, so it never opens a path itself.
    let mut cmd = pg_command("pg_dump", conn);
    cmd.args(["--format=custom", "--no-password"])
        .stdout(Stdio::from(stdout));
    let out = run(cmd, "pg_dump").await?;
    if !out.status.success() {
        return Err(fail(format!(
            "pg_dump exited with {}: {} (the partial dump was removed)",
            out.status,
            conn.scrub(String::from_utf8_lossy(&out.stderr).trim())
        )));
    }
    file.sync_all().map_err(|e| io_fail("cannot flush", e))?;
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail(format!("cannot flush the folder {}: {e}", dir.display())))?;

    file.seek(SeekFrom::Start(0))
        .map_err(|e| io_fail("cannot rewind", e))?;
    let stdin = file.try_clone().map_err(|e| io_fail("cannot reread", e))?;
    let mut cmd = pg_command("pg_restore", conn);
    cmd.arg("--list").stdin(Stdio::from(stdin));
    let list = run(cmd, "pg_restore").await?;
    if !list.status.success() {
        return Err(fail(format!(
            "the dump {} did not verify: pg_restore --list exited with {}: {} (the dump was removed)",
            path.display(),
            list.status,
            conn.scrub(String::from_utf8_lossy(&list.stderr).trim())
        )));
    }
    let entries = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with(';'))
        .count();

    file.seek(SeekFrom::Start(0))
        .map_err(|e| io_fail("cannot rewind", e))?;
    let (size_bytes, sha256) = hash(tokio::fs::File::from_std(file))
        .await
        .map_err(|e| io_fail("cannot read back", e))?;
    if size_bytes == 0 {
        return Err(fail(format!(
            "pg_dump wrote nothing into {} (the empty file was removed)",
            path.display()
        )));
    }
    guard.keep = true;
    Ok(BackupInfo {
        path,
        size_bytes,
        sha256,
        entries,
    })
}

pub(crate) async fn hash(mut file: tokio::fs::File) -> std::io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((size, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests;
