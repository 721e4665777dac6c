//! `--write-env`: sets one variable in a `.env` file, keeping every other line, mode 0600,
//! written atomically (temporary file in the same folder, then rename).

use crate::error::{Result, SeedError};
use std::io::Write;
use std::path::Path;

/// Sets `name=value` in the file at `path` (created when missing).
pub fn set_var(path: &Path, name: &str, value: &str) -> Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(SeedError::Io {
                doing: "cannot read",
                path: path.into(),
                source,
            });
        }
    };
    let mut replaced = false;
    let mut out = String::new();
    for line in existing.lines() {
        let key = line
            .trim_start()
            .strip_prefix("export ")
            .unwrap_or(line.trim_start());
        if key.split_once('=').is_some_and(|(k, _)| k.trim() == name) {
            if !replaced {
                out.push_str(&format!("{name}={value}\n"));
                replaced = true;
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !replaced {
        out.push_str(&format!("{name}={value}\n"));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let io = |doing: &'static str| {
        move |source| SeedError::Io {
            doing,
            path: path.into(),
            source,
        }
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(io("cannot create a temporary file next to"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io("cannot set mode 0600 on the temporary file for"))?;
    }
    tmp.write_all(out.as_bytes()).map_err(io("cannot write"))?;
    tmp.as_file().sync_all().map_err(io("cannot sync"))?;
    tmp.persist(path).map_err(|e| SeedError::Io {
        doing: "cannot replace",
        path: path.into(),
        source: e.error,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_other_lines_and_replaces_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        std::fs::write(
            &p,
            "DATABASE_URL=x\n# comment\nTEST_AGENT_KEY=old\nAPP_ENV=dev\n",
        )
        .unwrap();
        set_var(&p, "TEST_AGENT_KEY", "new").unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "DATABASE_URL=x\n# comment\nTEST_AGENT_KEY=new\nAPP_ENV=dev\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}
