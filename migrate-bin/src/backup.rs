//! The pre-migration backup: `pg_dump --format=custom`, verified with `pg_restore --list`,
//! with its path, size and SHA-256 recorded before the first statement runs.
//!
//! A dump is a full copy of every tenant's data, so it is guarded like the database: the
//! folder must be private to the running user, each dump is a new 0600 file that we create
//! ourselves (never through a symbolic link, never over an existing file) and hand to
//! `pg_dump` as its standard output, and the connection settings reach `pg_dump` and
//! `pg_restore` only through their environment, never their command line.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::error::MigrateError;
use crate::policy::{ConnInfo, LIBPQ_VARS};
use crate::store::BackupInfo;

/// Mode of a folder we create for backups: only the owner may enter it.
const DIR_MODE: u32 = 0o700;
/// Mode of every dump file, whatever the umask.
const FILE_MODE: u32 = 0o600;
/// Write bits for group and others: either lets another user replace or remove dumps.
const GROUP_OTHER_WRITE: u32 = 0o022;

fn fail(reason: String) -> MigrateError {
    MigrateError::BackupFailed { reason }
}

fn unsafe_dir(path: &Path, reason: String) -> MigrateError {
    MigrateError::BackupDirUnsafe {
        path: path.to_path_buf(),
        reason,
    }
}

/// Makes sure `dir` can hold dumps safely and returns its canonical path.
///
/// A missing folder is created 0700 (with any missing parents). An existing one is used only
/// if it resolves to a folder owned by the running user that neither group nor others may
/// write to; a symbolic link is accepted only when its target passes that same test, because
/// the owner of a link's target decides who can swap the dumps in it. Finally an exclusive
/// private temp file proves the folder is writable before `pg_dump` spends minutes.
pub fn prepare_dir(dir: &Path) -> Result<PathBuf, MigrateError> {
    match fs::symlink_metadata(dir) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(dir)
                .map_err(|e| {
                    fail(format!(
                        "cannot create the backup folder {}: {e}; create it yourself (mode 0700) \
                         or pass another --backup-dir",
                        dir.display()
                    ))
                })?;
            // The umask may have taken bits away (e.g. 0277 leaves 0500, unwritable).
            fs::set_permissions(dir, Permissions::from_mode(DIR_MODE)).map_err(|e| {
                fail(format!(
                    "cannot set mode 0700 on the new backup folder {}: {e}",
                    dir.display()
                ))
            })?;
        }
        Err(e) => {
            return Err(fail(format!(
                "cannot inspect the backup folder {}: {e}; pass a --backup-dir the running user can read",
                dir.display()
            )));
        }
    }
    let link = fs::symlink_metadata(dir)
        .map(|m| m.file_type().is_symlink())
        .unwrap_or(false);
    let real = fs::canonicalize(dir).map_err(|e| {
        unsafe_dir(
            dir,
            format!(
                "it cannot be resolved ({e}){}; pass an existing private folder as --backup-dir",
                if link {
                    ", it is a symbolic link whose target is missing"
                } else {
                    ""
                }
            ),
        )
    })?;
    let meta = fs::metadata(&real).map_err(|e| {
        fail(format!(
            "cannot inspect the backup folder {}: {e}",
            real.display()
        ))
    })?;
    check_dir(dir, &real, &meta, link, rustix::process::geteuid().as_raw())?;
    write_probe(&real)?;
    Ok(real)
}

/// The ownership and mode rules for a backup folder (`meta` is of `real`, the resolved path).
fn check_dir(
    given: &Path,
    real: &Path,
    meta: &fs::Metadata,
    link: bool,
    uid: u32,
) -> Result<(), MigrateError> {
    let what = if link {
        format!("it is a symbolic link to {}, which", real.display())
    } else {
        "it".to_string()
    };
    if !meta.is_dir() {
        return Err(unsafe_dir(
            given,
            format!("{what} is not a folder; pass a folder as --backup-dir"),
        ));
    }
    if meta.uid() != uid {
        return Err(unsafe_dir(
            given,
            format!(
                "{what} belongs to uid {}, not to the user running migrate (uid {uid}), so its owner \
                 could read, replace or delete the dumps; use a folder you own (mode 0700)",
                meta.uid()
            ),
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & GROUP_OTHER_WRITE != 0 {
        return Err(unsafe_dir(
            given,
            format!(
                "{what} is writable by group or others (mode {mode:04o}), so other users could \
                 replace or delete the dumps; run `chmod 700 {}` or pass a private --backup-dir",
                real.display()
            ),
        ));
    }
    Ok(())
}

/// Creates and removes an exclusive, private temp file in `dir`.
fn write_probe(dir: &Path) -> Result<(), MigrateError> {
    let probe = tempfile::Builder::new()
        .prefix(".migrate-write-probe-")
        .tempfile_in(dir)
        .map_err(|e| {
            fail(format!(
                "the backup folder {} is not writable: {e}; fix its permissions or pass another --backup-dir",
                dir.display()
            ))
        })?;
    probe.close().map_err(|e| {
        fail(format!(
            "cannot remove the write probe in the backup folder {}: {e}",
            dir.display()
        ))
    })
}

/// Creates `path` as a new file, mode 0600 whatever the umask: fails if anything exists at
/// `path`, a symbolic link included (dangling or not), so nothing is ever overwritten or
/// written through a link.
pub fn create_exclusive(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    // The umask may have removed bits, never added any; set the exact mode on the handle.
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(file)
}

/// `<db>-<UTC time, microseconds>-<run id>-before-<label>.dump`: the random run id keeps two
/// runs in the same instant (or on two hosts sharing the folder) apart.
pub fn dump_file_name(
    database: &str,
    label: &str,
    now: chrono::DateTime<chrono::Utc>,
    run_id: &str,
) -> String {
    fn safe(text: &str, max: usize) -> String {
        text.chars()
            .take(max)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
    format!(
        "{}-{}-{}-before-{}.dump",
        safe(database, 63),
        now.format("%Y%m%dT%H%M%S%.6fZ"),
        safe(run_id, 32),
        safe(label, 64)
    )
}

/// A libpq client program aimed at `conn` through its environment alone: the caller's own
/// `PG*` variables are removed first so they cannot redirect or re-authenticate it.
fn pg_command(program: &str, conn: &ConnInfo) -> tokio::process::Command {
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

async fn hash(mut file: tokio::fs::File) -> std::io::Result<(u64, String)> {
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
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn mode_of(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    fn set_mode(path: &Path, mode: u32) {
        fs::set_permissions(path, Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn missing_folder_is_created_private_with_its_parents() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        let real = prepare_dir(&dir).unwrap();
        assert_eq!(real, fs::canonicalize(&dir).unwrap());
        assert_eq!(mode_of(&dir), 0o700);
        // The probe leaves nothing behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
    }

    #[test]
    fn existing_private_folder_is_used_and_left_as_it_is() {
        let tmp = tempfile::tempdir().unwrap();
        set_mode(tmp.path(), 0o755);
        prepare_dir(tmp.path()).unwrap();
        assert_eq!(mode_of(tmp.path()), 0o755);
    }

    #[test]
    fn group_or_world_writable_folder_is_refused() {
        for mode in [0o770, 0o707, 0o777, 0o1777] {
            let tmp = tempfile::tempdir().unwrap();
            set_mode(tmp.path(), mode);
            let err = prepare_dir(tmp.path()).unwrap_err();
            assert!(
                matches!(err, MigrateError::BackupDirUnsafe { .. }),
                "{mode:o}: {err}"
            );
            let msg = err.to_string();
            assert!(
                msg.contains(&tmp.path().display().to_string())
                    && msg.contains("writable by group or others")
                    && msg.contains("chmod 700"),
                "{msg}"
            );
            assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
        }
    }

    #[test]
    fn symlinked_folder_is_used_only_if_its_target_is_private() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("real");
        fs::create_dir(&target).unwrap();
        set_mode(&target, 0o700);
        let link = tmp.path().join("link");
        symlink(&target, &link).unwrap();
        assert_eq!(
            prepare_dir(&link).unwrap(),
            fs::canonicalize(&target).unwrap()
        );

        set_mode(&target, 0o777);
        let msg = prepare_dir(&link).unwrap_err().to_string();
        assert!(
            msg.contains("symbolic link to") && msg.contains("writable by group or others"),
            "{msg}"
        );

        let dangling = tmp.path().join("dangling");
        symlink(tmp.path().join("nowhere"), &dangling).unwrap();
        let err = prepare_dir(&dangling).unwrap_err();
        assert!(matches!(err, MigrateError::BackupDirUnsafe { .. }), "{err}");
        assert!(
            !tmp.path().join("nowhere").exists(),
            "a dangling link is not followed to create its target"
        );
    }

    #[test]
    fn folder_of_another_user_or_a_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let meta = fs::metadata(tmp.path()).unwrap();
        let other = meta.uid().wrapping_add(1);
        let msg = check_dir(tmp.path(), tmp.path(), &meta, false, other)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("belongs to uid"), "{msg}");

        let file = tmp.path().join("f");
        fs::write(&file, "x").unwrap();
        let msg = prepare_dir(&file).unwrap_err().to_string();
        assert!(msg.contains("is not a folder"), "{msg}");
    }

    #[test]
    fn exclusive_create_is_0600() {
        let tmp = tempfile::tempdir().unwrap();
        create_exclusive(&tmp.path().join("d.dump")).unwrap();
        assert_eq!(mode_of(&tmp.path().join("d.dump")), 0o600);
    }

    #[test]
    fn exclusive_create_refuses_an_existing_file_and_any_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let existing = tmp.path().join("existing");
        fs::write(&existing, "keep").unwrap();
        assert!(create_exclusive(&existing).is_err());
        assert_eq!(fs::read_to_string(&existing).unwrap(), "keep");

        let victim = tmp.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let planted = tmp.path().join("planted");
        symlink(&victim, &planted).unwrap();
        assert!(create_exclusive(&planted).is_err());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");

        let dangling = tmp.path().join("dangling");
        symlink(tmp.path().join("would-be-created"), &dangling).unwrap();
        assert!(create_exclusive(&dangling).is_err());
        assert!(!tmp.path().join("would-be-created").exists());
    }

    #[test]
    fn names_are_unique_per_run_and_safe() {
        let now = chrono::Utc::now();
        let a = dump_file_name("shop/../x", "2026", now, "aaaa");
        let b = dump_file_name("shop/../x", "2026", now, "bbbb");
        assert_ne!(a, b);
        assert!(!a.contains('/'), "{a}");
        assert!(a.ends_with("-aaaa-before-2026.dump"), "{a}");
        let stamp = now.format("%Y%m%dT%H%M%S%.6fZ").to_string();
        assert!(a.contains(&stamp), "{a}");
    }

    #[test]
    fn versions_compare_by_major() {
        assert_eq!(
            Major::from_version_output("pg_dump (PostgreSQL) 15.4 (Debian 15.4-1.pgdg120+1)"),
            Some(Major(15, 0))
        );
        assert_eq!(
            Major::from_version_output("pg_dump (PostgreSQL) 9.6.24"),
            Some(Major(9, 6))
        );
        assert_eq!(
            Major::from_version_output("pg_dump (PostgreSQL) 17beta1"),
            Some(Major(17, 0))
        );
        assert_eq!(Major::from_version_output("nonsense"), None);
        assert_eq!(Major::from_version_num(150004), Major(15, 0));
        assert_eq!(Major::from_version_num(90624), Major(9, 6));
        assert!(Major(9, 6) < Major(15, 0));
        assert!(Major(16, 0) > Major(15, 0));
        assert_eq!(Major(9, 6).to_string(), "9.6");
    }
}
