//! `--write-env`: sets one variable in a `.env` file, keeping every other line.
//!
//! The file is replaced atomically (a temporary file in the real file's own folder, then
//! rename), so a reader never sees half a file. A symlinked `.env` is edited behind the link:
//! the link stays and points at the updated file (replacing the link by a copy would leave the
//! password of the target in a second place). The file keeps its mode, owner, line endings and
//! `export NAME=` form; a new file is created with mode 0600.

use crate::error::{Result, SeedError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the variable is really written: the file itself, or the target of a symlink.
fn real_path(path: &Path) -> Result<PathBuf> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(path.to_path_buf()),
        Err(source) => {
            return Err(SeedError::Io {
                doing: "cannot inspect",
                path: path.into(),
                source,
            });
        }
    };
    if !meta.file_type().is_symlink() {
        return Ok(path.to_path_buf());
    }
    std::fs::canonicalize(path).map_err(|e| {
        SeedError::Usage(format!(
            "--write-env={} is a symlink whose target cannot be reached ({e}); point it at an existing file or pass another --write-env=FILE. Nothing was written.",
            path.display()
        ))
    })
}

fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Checks, before any stage runs, that [`set_var`] can write `path`: the real file (behind a
/// symlink) is not a folder and can be read, and its folder exists and takes new files. A
/// target found unwritable only after stage 01 committed would leave a new key unsaved.
pub fn check_target(path: &Path) -> Result<()> {
    let usage = |why: String| {
        SeedError::Usage(format!(
            "--write-env={}: {why}; fix it or pass another --write-env=FILE. Nothing was written.",
            path.display()
        ))
    };
    let real = real_path(path).map_err(|e| match e {
        SeedError::Io { source, .. } => usage(format!("it cannot be inspected ({source})")),
        other => other,
    })?;
    match std::fs::metadata(&real) {
        Ok(m) if m.is_dir() => return Err(usage("it is a folder, not a file".into())),
        Ok(_) => {
            if let Err(e) = std::fs::File::open(&real) {
                return Err(usage(format!("the file cannot be read ({e})")));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(usage(format!("it cannot be inspected ({e})"))),
    }
    let dir = folder_of(&real);
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(usage(format!("{} is not a folder", dir.display())));
        }
        Err(e) => {
            return Err(usage(format!(
                "its folder {} does not exist ({e})",
                dir.display()
            )));
        }
    }
    // The write is a temporary file plus rename in that folder: probe exactly that.
    tempfile::NamedTempFile::new_in(dir).map_err(|e| {
        usage(format!(
            "no file can be created in its folder {} ({e})",
            dir.display()
        ))
    })?;
    Ok(())
}

/// The new content: `name=value` replaces the first assignment of `name` (keeping its
/// `export ` form) and drops later ones; every other line stays as it was. Line endings follow
/// the file (CRLF when it has any).
fn edit(existing: &str, name: &str, value: &str) -> String {
    let eol = if existing.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let mut replaced = false;
    let mut out = String::with_capacity(existing.len() + name.len() + value.len() + 2);
    for line in existing.lines() {
        let trimmed = line.trim_start();
        let (export, rest) = match trimmed.strip_prefix("export") {
            Some(r) if r.starts_with([' ', '\t']) => (true, r.trim_start()),
            _ => (false, trimmed),
        };
        if rest.split_once('=').is_some_and(|(k, _)| k.trim() == name) {
            if !replaced {
                let prefix = if export { "export " } else { "" };
                out.push_str(&format!("{prefix}{name}={value}{eol}"));
                replaced = true;
            }
        } else {
            out.push_str(line);
            out.push_str(eol);
        }
    }
    if !replaced {
        out.push_str(&format!("{name}={value}{eol}"));
    }
    out
}

/// Sets `name=value` in the file at `path` (created with mode 0600 when missing).
pub fn set_var(path: &Path, name: &str, value: &str) -> Result<()> {
    let real = real_path(path)?;
    let io = |doing: &'static str| {
        let p = real.clone();
        move |source| SeedError::Io {
            doing,
            path: p,
            source,
        }
    };
    let (existing, meta) = match std::fs::read(&real) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| {
                SeedError::Usage(format!(
                    "--write-env={} is not a UTF-8 text file; fix or remove it. Nothing was written.",
                    path.display()
                ))
            })?;
            (
                text,
                Some(std::fs::metadata(&real).map_err(io("cannot inspect"))?),
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), None),
        Err(source) => {
            return Err(SeedError::Io {
                doing: "cannot read",
                path: real,
                source,
            });
        }
    };
    let out = edit(&existing, name, value);
    let mut tmp = tempfile::NamedTempFile::new_in(folder_of(&real))
        .map_err(io("cannot create a temporary file next to"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let mode = meta.as_ref().map_or(0o600, |m| m.mode() & 0o7777);
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io("cannot set the mode of the temporary file for"))?;
        if let Some(m) = &meta {
            let mine = tmp.as_file().metadata().map_err(io("cannot inspect"))?;
            if (mine.uid(), mine.gid()) != (m.uid(), m.gid()) {
                // Before the rename: a file whose owner cannot be kept is left untouched.
                std::os::unix::fs::fchown(tmp.as_file(), Some(m.uid()), Some(m.gid()))
                    .map_err(io("cannot keep the owner (uid/gid) of"))?;
            }
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %real.display(),
                    mode = format!("{mode:o}"),
                    "the env file other users can read now holds the API key; chmod 600 it"
                );
                eprintln!(
                    "warning: {} has mode {mode:o}, so other users can read the API key written to it; run `chmod 600 {}`.",
                    real.display(),
                    real.display()
                );
            }
        }
    }
    tmp.write_all(out.as_bytes()).map_err(io("cannot write"))?;
    tmp.as_file().sync_all().map_err(io("cannot sync"))?;
    tmp.persist(&real).map_err(|e| SeedError::Io {
        doing: "cannot replace",
        path: real.clone(),
        source: e.error,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn keeps_other_lines_and_replaces_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        std::fs::write(
            &p,
            "DATABASE_URL=x\n# comment\nTEST_AGENT_KEY=old\nAPP_ENV=dev\nTEST_AGENT_KEY=dup\n",
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        set_var(&p, "TEST_AGENT_KEY", "new").unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "DATABASE_URL=x\n# comment\nTEST_AGENT_KEY=new\nAPP_ENV=dev\n"
        );
        assert_eq!(mode(&p), 0o600);
    }

    #[test]
    fn a_new_file_is_created_0600() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        set_var(&p, "TEST_AGENT_KEY", "k").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "TEST_AGENT_KEY=k\n");
        assert_eq!(mode(&p), 0o600);
    }

    #[test]
    fn keeps_the_mode_of_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        std::fs::write(&p, "A=1\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        set_var(&p, "TEST_AGENT_KEY", "k").unwrap();
        assert_eq!(mode(&p), 0o640);
    }

    #[test]
    fn keeps_the_owner() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        std::fs::write(&p, "A=1\n").unwrap();
        let before = std::fs::metadata(&p).unwrap();
        set_var(&p, "TEST_AGENT_KEY", "k").unwrap();
        let after = std::fs::metadata(&p).unwrap();
        assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
        // As root, a file owned by someone else keeps that owner too.
        if before.uid() == 0 {
            std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
            set_var(&p, "TEST_AGENT_KEY", "k2").unwrap();
            let m = std::fs::metadata(&p).unwrap();
            assert_eq!((m.uid(), m.gid()), (65534, 65534));
        }
    }

    #[test]
    fn keeps_crlf_line_endings() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        std::fs::write(&p, "A=1\r\nTEST_AGENT_KEY=old\r\nB=2\r\n").unwrap();
        set_var(&p, "TEST_AGENT_KEY", "new").unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "A=1\r\nTEST_AGENT_KEY=new\r\nB=2\r\n"
        );
        std::fs::write(&p, "A=1\r\n").unwrap();
        set_var(&p, "TEST_AGENT_KEY", "new").unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "A=1\r\nTEST_AGENT_KEY=new\r\n"
        );
    }

    #[test]
    fn keeps_the_export_form() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        std::fs::write(&p, "export A=1\nexport TEST_AGENT_KEY=old\nexporter=x\n").unwrap();
        set_var(&p, "TEST_AGENT_KEY", "new").unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "export A=1\nexport TEST_AGENT_KEY=new\nexporter=x\n"
        );
    }

    #[test]
    fn edits_the_file_behind_a_symlink_and_keeps_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.env");
        let link = dir.path().join(".env");
        std::fs::write(&real, "A=1\n").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        set_var(&link, "TEST_AGENT_KEY", "k").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read_to_string(&real).unwrap(),
            "A=1\nTEST_AGENT_KEY=k\n"
        );
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn check_target_refuses_what_set_var_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let is_usage = |r: Result<()>, what: &str| match r {
            Err(SeedError::Usage(m)) => assert!(m.contains("--write-env="), "{what}: {m}"),
            other => panic!("{what}: {other:?}"),
        };
        is_usage(check_target(dir.path()), "a folder");
        is_usage(
            check_target(&dir.path().join("missing/.env")),
            "a missing folder",
        );
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        is_usage(check_target(&file.join(".env")), "a file as folder");
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere/x"), &dangling).unwrap();
        is_usage(check_target(&dangling), "a dangling symlink");
        check_target(&dir.path().join(".env")).expect("a new file in a writable folder");
        check_target(&file).expect("an existing file");
    }

    #[test]
    fn check_target_refuses_a_read_only_folder() {
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
        // root writes anywhere: the probe must then succeed, as the real write would.
        let root = std::fs::metadata(dir.path()).unwrap().uid() == 0
            && tempfile::NamedTempFile::new_in(&ro).is_ok();
        let r = check_target(&ro.join(".env"));
        if root {
            assert!(r.is_ok());
        } else {
            assert!(matches!(r, Err(SeedError::Usage(_))), "{r:?}");
        }
    }
}
