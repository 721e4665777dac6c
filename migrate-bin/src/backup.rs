//! The pre-migration backup: `pg_dump --format=custom`, verified with `pg_restore --list`,
//! with its path, size and SHA-256 recorded before the first statement runs.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::conninfo::{ConnInfo, LIBPQ_VARS};
use crate::error::MigrateError;

/// A verified backup file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupInfo {
    /// Where it was written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// SHA-256 of the file (hex).
    pub sha256: String,
    /// Entries `pg_restore --list` found in it.
    pub entries: usize,
}

/// Takes and verifies a backup of the database of `conn` into `dir`.
/// `label` goes into the file name (e.g. the first pending version).
pub async fn take_backup(
    conn: &ConnInfo,
    dir: &Path,
    label: &str,
) -> Result<BackupInfo, MigrateError> {
    let database = conn.database();
    let fail = |reason: String| MigrateError::BackupFailed { reason };
    tokio::fs::create_dir_all(dir).await.map_err(|e| {
        fail(format!(
            "cannot create the backup folder {}: {e}",
            dir.display()
        ))
    })?;
    // Prove the folder is writable before spending minutes on pg_dump.
    let probe = dir.join(format!(".migrate-write-test-{}", std::process::id()));
    tokio::fs::write(&probe, b"").await.map_err(|e| {
        fail(format!(
            "the backup folder {} is not writable: {e}",
            dir.display()
        ))
    })?;
    let _ = tokio::fs::remove_file(&probe).await;

    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let safe_db: String = database
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = dir.join(format!("{safe_db}-{stamp}-before-{label}.dump"));
    let mut dump = tokio::process::Command::new("pg_dump");
    // The connection reaches pg_dump through its environment only, never its command line
    // (visible in `ps`); the caller's own PG* variables are cleared first.
    for var in LIBPQ_VARS {
        dump.env_remove(var);
    }
    dump.envs(conn.pg_env())
        .args(["--format=custom", "--no-password", "--file"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let out = dump.output().await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            fail("pg_dump was not found on PATH; install PostgreSQL's client tools (same major version as the server or newer)".into())
        } else {
            fail(format!("cannot start pg_dump: {e}"))
        }
    })?;
    if !out.status.success() {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(fail(format!(
            "pg_dump exited with {}: {}",
            out.status,
            conn.scrub(String::from_utf8_lossy(&out.stderr).trim())
        )));
    }

    let list = tokio::process::Command::new("pg_restore")
        .arg("--list")
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| {
            fail(format!(
                "cannot run pg_restore --list to verify the backup: {e}"
            ))
        })?;
    if !list.status.success() {
        return Err(fail(format!(
            "the backup {} did not verify: pg_restore --list exited with {}: {}",
            path.display(),
            list.status,
            String::from_utf8_lossy(&list.stderr).trim()
        )));
    }
    let entries = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with(';'))
        .count();

    let (size_bytes, sha256) = hash_file(&path).await.map_err(|e| {
        fail(format!(
            "cannot read back the backup {}: {e}",
            path.display()
        ))
    })?;
    Ok(BackupInfo {
        path,
        size_bytes,
        sha256,
        entries,
    })
}

async fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = tokio::fs::File::open(path).await?;
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
