//! `.env` loading for both binaries, before clap parses (so `env = ...` defaults see it).
//!
//! Only `./.env` (the current folder; never a parent folder, as `dotenvy::dotenv()` would
//! search) or the file named by `--env-file PATH`. Variables already set in the environment
//! win. A `--env-file` that cannot be read, or a file that does not parse, is a usage error;
//! its messages never quote a line, since lines hold passwords.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// The flag, shared by both command lines.
pub const FLAG: &str = "--env-file";

/// The `--env-file` value among `args` (the program name first), if any. Stops at `--`.
pub fn explicit_path(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        if a == OsStr::new("--") {
            return None;
        }
        if a == OsStr::new(FLAG) {
            return it.next().map(PathBuf::from);
        }
        if let Some(rest) = a
            .to_str()
            .and_then(|s| s.strip_prefix(FLAG))
            .and_then(|s| s.strip_prefix('='))
        {
            return Some(PathBuf::from(rest));
        }
    }
    None
}

/// Loads `--env-file PATH` when given (it must exist), else `./.env` when present.
/// Returns the usage error to print (exit 2).
pub fn load(args: &[OsString]) -> Result<Option<PathBuf>, String> {
    match explicit_path(args) {
        Some(path) => {
            if !path.is_file() {
                return Err(format!(
                    "{FLAG} {}: no such file (or not a file); pass an existing settings file, or leave the flag out to read ./.env",
                    path.display()
                ));
            }
            read(&path).map(|()| Some(path))
        }
        None => {
            let path = Path::new(".env");
            if path.is_file() {
                read(path).map(|()| Some(path.to_path_buf()))
            } else {
                Ok(None)
            }
        }
    }
}

fn read(path: &Path) -> Result<(), String> {
    dotenvy::from_path(path).map_err(|e| {
        let why = match &e {
            // The line itself may hold a password: name its position, never its text.
            dotenvy::Error::LineParse(_, index) => {
                format!("a line does not parse (at character {index} of that line)")
            }
            dotenvy::Error::Io(io) => io.to_string(),
            dotenvy::Error::EnvVar(v) => v.to_string(),
            _ => "it cannot be read".to_owned(),
        };
        format!(
            "cannot load settings from {}: {why}; fix the file (NAME=value lines) or pass another {FLAG}",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn finds_the_flag_in_both_forms_and_stops_at_double_dash() {
        assert_eq!(
            explicit_path(&args(&["migrate", "--env-file", "a.env", "status"])),
            Some(PathBuf::from("a.env"))
        );
        assert_eq!(
            explicit_path(&args(&["seed", "--quiet", "--env-file=b.env"])),
            Some(PathBuf::from("b.env"))
        );
        assert_eq!(explicit_path(&args(&["seed", "--", "--env-file=x"])), None);
        assert_eq!(explicit_path(&args(&["seed", "--env-filex=y"])), None);
        assert_eq!(explicit_path(&args(&["migrate"])), None);
    }

    #[test]
    fn a_missing_explicit_file_is_an_error_naming_it() {
        let e = load(&args(&["migrate", "--env-file", "/no/such/file.env"])).unwrap_err();
        assert!(
            e.contains("/no/such/file.env") && e.contains("no such file"),
            "{e}"
        );
    }

    #[test]
    fn a_malformed_file_is_reported_without_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.env");
        std::fs::write(&p, "DATABASE_URL='postgres://u:hunter2@h/db\n").unwrap();
        let arg = format!("--env-file={}", p.display());
        let e = load(&args(&["seed", &arg])).unwrap_err();
        assert!(e.contains("bad.env") && !e.contains("hunter2"), "{e}");
    }

    #[test]
    fn an_explicit_file_is_loaded_and_the_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.env");
        std::fs::write(
            &p,
            "GW_DOTENV_TEST_A=from-file\nGW_DOTENV_TEST_B=from-file\n",
        )
        .unwrap();
        // SAFETY: only this test touches these variable names.
        unsafe { std::env::set_var("GW_DOTENV_TEST_B", "from-env") };
        let arg = format!("--env-file={}", p.display());
        assert_eq!(load(&args(&["seed", &arg])).unwrap(), Some(p.clone()));
        assert_eq!(std::env::var("GW_DOTENV_TEST_A").unwrap(), "from-file");
        assert_eq!(std::env::var("GW_DOTENV_TEST_B").unwrap(), "from-env");
    }
}
