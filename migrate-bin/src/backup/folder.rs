//! The backup folder and the dump file: a folder private to the running user (created 0700,
//! or an existing one that nobody else may write to, also behind a symbolic link), and a new
//! 0600 file created exclusively, never through a link, with a name no other run can take.

use std::fs::{self, File, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::fail;
use crate::error::MigrateError;

/// Mode of a folder we create for backups: only the owner may enter it.
const DIR_MODE: u32 = 0o700;
/// Mode of every dump file, whatever the umask.
const FILE_MODE: u32 = 0o600;
/// Write bits for group and others: either lets another user replace or remove dumps.
const GROUP_OTHER_WRITE: u32 = 0o022;

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
pub(super) fn check_dir(
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
