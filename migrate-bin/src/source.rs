//! Where migrations come from (embedded in the binary, or a diesel-format folder) and the
//! checked, ordered list they are loaded into.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::MigrateError;

/// Where to read migrations from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationSource {
    /// The migrations compiled into the binary (`domain::migrations`).
    Embedded,
    /// A diesel-format folder: `<version>_<name>/up.sql`, optional `down.sql` and `metadata.toml`.
    Dir(PathBuf),
}

impl MigrationSource {
    /// `Dir(path)` when a folder was given, `Embedded` otherwise.
    pub fn from_option(dir: Option<PathBuf>) -> Self {
        dir.map_or(Self::Embedded, Self::Dir)
    }

    /// Reads and checks every migration, ordered by version.
    pub fn load_migrations(&self) -> Result<Vec<Migration>, MigrateError> {
        let migrations = self.load(Check::Run)?;
        Ok(migrations.into_iter().map(|(m, _)| m).collect())
    }

    /// Reads every migration for `migrate lint`, each with its folder (`migrations/<dir>`
    /// for the embedded set). Transaction control in a transactional migration is not
    /// refused here: the linter reports it, with its line, as a finding among the others.
    pub fn load_for_lint(&self) -> Result<Vec<(Migration, PathBuf)>, MigrateError> {
        self.load(Check::Lint)
    }

    fn load(&self, check: Check) -> Result<Vec<(Migration, PathBuf)>, MigrateError> {
        match self {
            Self::Embedded => load_embedded(check),
            Self::Dir(dir) => load_dir(dir, check),
        }
    }

    /// How to name this source in messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Embedded => "the migrations embedded in this binary".to_string(),
            Self::Dir(dir) => format!("the migrations folder {}", dir.display()),
        }
    }
}

/// What loading refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Everything, before any run.
    Run,
    /// Everything but transaction control, which `migrate lint` reports itself.
    Lint,
}

/// One migration, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// diesel's version: the folder name up to the first `_`, with `-` removed.
    pub version: String,
    /// The folder name after the version and `_` (may be empty).
    pub name: String,
    /// The SQL that applies it.
    pub up_sql: String,
    /// The SQL that reverts it, if the folder has a `down.sql`.
    pub down_sql: Option<String>,
    /// False when `metadata.toml` says `run_in_transaction = false`.
    pub run_in_transaction: bool,
    /// Line-ending-insensitive SHA-256 (hex) of `up.sql`.
    pub checksum: String,
}

impl Migration {
    /// Builds a migration from its folder name and file contents.
    ///
    /// `origin` names the folder in error messages.
    pub fn from_parts(
        dir_name: &str,
        up_sql: String,
        down_sql: Option<String>,
        metadata_toml: Option<&str>,
        origin: &Path,
    ) -> Result<Self, MigrateError> {
        Self::checked(
            dir_name,
            up_sql,
            down_sql,
            metadata_toml,
            origin,
            Check::Run,
        )
    }

    fn checked(
        dir_name: &str,
        up_sql: String,
        down_sql: Option<String>,
        metadata_toml: Option<&str>,
        origin: &Path,
        check: Check,
    ) -> Result<Self, MigrateError> {
        let (version, name) = parse_dir_name(dir_name).ok_or_else(|| MigrateError::BadMigrations {
            path: origin.to_path_buf(),
            reason: format!(
                "folder `{dir_name}` does not start with a version (expected e.g. `2026-01-10-090000_create_accounts` or `20260110090000_create_accounts`)"
            ),
        })?;
        let run_in_transaction = match metadata_toml {
            None => true,
            Some(text) => parse_metadata(text).map_err(|reason| MigrateError::BadMigrations {
                path: origin.join("metadata.toml"),
                reason,
            })?,
        };
        if run_in_transaction && check == Check::Run {
            refuse_transaction_control(&up_sql, &origin.join("up.sql"))?;
            if let Some(down) = &down_sql {
                refuse_transaction_control(down, &origin.join("down.sql"))?;
            }
        }
        let checksum = checksum(&up_sql);
        Ok(Self {
            version,
            name,
            up_sql,
            down_sql,
            run_in_transaction,
            checksum,
        })
    }
}

/// A transactional migration that commits or rolls back by itself would leave what ran
/// before that statement applied but unrecorded; refuse it when loading, before any run.
fn refuse_transaction_control(sql: &str, path: &Path) -> Result<(), MigrateError> {
    let Some(first) = crate::split::transaction_control_statements(sql)
        .into_iter()
        .next()
    else {
        return Ok(());
    };
    Err(MigrateError::BadMigrations {
        path: path.to_path_buf(),
        reason: format!(
            "line {} is a transaction-control statement (`{}`), but this migration runs inside a \
             transaction the engine manages, where it would commit or abandon part of the migration \
             behind the engine's back. Remove it, or, if the migration must control transactions \
             itself, put `run_in_transaction = false` in the metadata.toml next to it",
            first.line, first.keyword
        ),
    })
}

/// diesel's rule: the version is the folder name up to the first `_`, with `-` removed; it
/// must be non-empty and consist of digits.
pub fn parse_dir_name(dir_name: &str) -> Option<(String, String)> {
    let (raw_version, name) = match dir_name.split_once('_') {
        Some((v, n)) => (v, n),
        None => (dir_name, ""),
    };
    let version = raw_version.replace('-', "");
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((version, name.to_string()))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    // diesel_cli treats a metadata.toml without this key as `false`; we keep the safer
    // transactional default and document it in the runbook.
    run_in_transaction: Option<bool>,
}

fn parse_metadata(text: &str) -> Result<bool, String> {
    let meta: Metadata = toml::from_str(text).map_err(|e| {
        format!("is not valid (only `run_in_transaction = true|false` is allowed): {e}")
    })?;
    Ok(meta.run_in_transaction.unwrap_or(true))
}

/// SHA-256 (hex) of `sql` with CRLF and CR line endings normalised to LF, so a checkout on
/// Windows does not look like drift.
pub fn checksum(sql: &str) -> String {
    let normalised = sql.replace("\r\n", "\n").replace('\r', "\n");
    hex::encode(Sha256::digest(normalised.as_bytes()))
}

fn load_embedded(check: Check) -> Result<Vec<(Migration, PathBuf)>, MigrateError> {
    let origin = Path::new("migrations");
    let mut migrations = Vec::new();
    for file in domain::migrations::embedded_migration_files() {
        let folder = origin.join(file.dir_name);
        let migration = Migration::checked(
            file.dir_name,
            file.up_sql.to_string(),
            file.down_sql.map(str::to_string),
            file.metadata_toml,
            &folder,
            check,
        )?;
        migrations.push((migration, folder));
    }
    check_unique_and_sort(migrations, origin)
}

fn load_dir(dir: &Path, check: Check) -> Result<Vec<(Migration, PathBuf)>, MigrateError> {
    let bad = |reason: String| MigrateError::BadMigrations {
        path: dir.to_path_buf(),
        reason,
    };
    if !dir.exists() {
        return Err(bad("does not exist".to_string()));
    }
    if !dir.is_dir() {
        return Err(bad("is not a folder".to_string()));
    }
    let entries = std::fs::read_dir(dir).map_err(|e| bad(format!("cannot be read: {e}")))?;
    let mut migrations = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| bad(format!("cannot be read: {e}")))?;
        let file_name = entry.file_name();
        let dir_name = file_name.to_string_lossy();
        // diesel_cli skips hidden entries (.keep, .DS_Store) and plain files (README.md).
        if dir_name.starts_with('.') || !entry.path().is_dir() {
            continue;
        }
        let path = entry.path();
        let up_path = path.join("up.sql");
        if !up_path.is_file() {
            return Err(MigrateError::BadMigrations {
                path,
                reason: "has no up.sql (every migration folder needs one; remove the folder or add the file)".to_string(),
            });
        }
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|e| MigrateError::BadMigrations {
                path: p.to_path_buf(),
                reason: format!("cannot be read as UTF-8 text: {e}"),
            })
        };
        let up_sql = read(&up_path)?;
        let down_path = path.join("down.sql");
        let down_sql = if down_path.is_file() {
            Some(read(&down_path)?)
        } else {
            None
        };
        let meta_path = path.join("metadata.toml");
        let metadata = if meta_path.is_file() {
            Some(read(&meta_path)?)
        } else {
            None
        };
        let migration = Migration::checked(
            &dir_name,
            up_sql,
            down_sql,
            metadata.as_deref(),
            &path,
            check,
        )?;
        migrations.push((migration, path));
    }
    // An empty folder is almost always a wrong path; running it would report every applied
    // migration as unknown instead of saying so.
    if migrations.is_empty() {
        return Err(bad(
            "holds no migration (each is a folder <version>_<name>/ with an up.sql); check the \
             path given to --migrations-dir"
                .to_string(),
        ));
    }
    check_unique_and_sort(migrations, dir)
}

fn check_unique_and_sort(
    migrations: Vec<(Migration, PathBuf)>,
    origin: &Path,
) -> Result<Vec<(Migration, PathBuf)>, MigrateError> {
    let mut by_version: BTreeMap<String, (Migration, PathBuf)> = BTreeMap::new();
    for (m, path) in migrations {
        if let Some((existing, _)) = by_version.get(&m.version) {
            return Err(MigrateError::BadMigrations {
                path: origin.to_path_buf(),
                reason: format!(
                    "holds two migrations with version {}: `{}` and `{}` (versions must be unique; rename one)",
                    m.version, existing.name, m.name
                ),
            });
        }
        by_version.insert(m.version.clone(), (m, path));
    }
    Ok(by_version.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, folder: &str, files: &[(&str, &str)]) {
        let d = dir.join(folder);
        std::fs::create_dir_all(&d).unwrap();
        for (name, text) in files {
            std::fs::write(d.join(name), text).unwrap();
        }
    }

    #[test]
    fn versions_follow_diesel() {
        assert_eq!(
            parse_dir_name("2026-01-10-090000_create_accounts"),
            Some(("20260110090000".into(), "create_accounts".into()))
        );
        assert_eq!(
            parse_dir_name("00000000000000_diesel_initial_setup"),
            Some(("00000000000000".into(), "diesel_initial_setup".into()))
        );
        assert_eq!(parse_dir_name("abc_def"), None);
        assert_eq!(parse_dir_name("_x"), None);
    }

    #[test]
    fn checksum_ignores_line_endings() {
        assert_eq!(checksum("a\r\nb\rc\n"), checksum("a\nb\nc\n"));
        assert_ne!(checksum("a\n"), checksum("b\n"));
    }

    #[test]
    fn loads_sorted_with_metadata() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            "2026-01-02-000000_second",
            &[
                ("up.sql", "SELECT 2;"),
                ("metadata.toml", "run_in_transaction = false\n"),
            ],
        );
        write(
            tmp.path(),
            "2026-01-01-000000_first",
            &[("up.sql", "SELECT 1;"), ("down.sql", "SELECT -1;")],
        );
        std::fs::write(tmp.path().join("README.md"), "not a migration").unwrap();
        std::fs::create_dir(tmp.path().join(".hidden")).unwrap();
        let m = MigrationSource::Dir(tmp.path().into())
            .load_migrations()
            .unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].version, "20260101000000");
        assert_eq!(m[0].name, "first");
        assert!(m[0].run_in_transaction);
        assert_eq!(m[0].down_sql.as_deref(), Some("SELECT -1;"));
        assert!(!m[1].run_in_transaction);
        assert_eq!(m[1].down_sql, None);
    }

    #[test]
    fn missing_folder_is_reported_with_its_path() {
        let err = MigrationSource::Dir("/nonexistent/migs".into())
            .load_migrations()
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/migs"), "{err}");
    }

    #[test]
    fn folder_without_up_sql_is_reported() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            "2026-01-01-000000_first",
            &[("down.sql", "SELECT 1;")],
        );
        let err = MigrationSource::Dir(tmp.path().into())
            .load_migrations()
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("2026-01-01-000000_first") && msg.contains("up.sql"),
            "{msg}"
        );
    }

    #[test]
    fn duplicate_versions_are_reported() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            "2026-01-01-000000_a",
            &[("up.sql", "SELECT 1;")],
        );
        write(tmp.path(), "20260101000000_b", &[("up.sql", "SELECT 1;")]);
        let err = MigrationSource::Dir(tmp.path().into())
            .load_migrations()
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("two migrations with version 20260101000000"),
            "{err}"
        );
    }

    #[test]
    fn transaction_control_in_a_transactional_migration_is_refused_with_file_and_line() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            "2026-01-01-000000_a",
            &[(
                "up.sql",
                "CREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);\n",
            )],
        );
        let err = MigrationSource::Dir(tmp.path().into())
            .load_migrations()
            .unwrap_err();
        let msg = err.to_string();
        assert_eq!(
            crate::policy::ExitStatus::exit_code(&err),
            crate::policy::Code::Usage
        );
        assert!(
            msg.contains("2026-01-01-000000_a/up.sql")
                && msg.contains("line 2")
                && msg.contains("`COMMIT`")
                && msg.contains("run_in_transaction = false"),
            "{msg}"
        );
        // The same file outside a transaction is the author's choice.
        write(
            tmp.path(),
            "2026-01-01-000000_a",
            &[("metadata.toml", "run_in_transaction = false\n")],
        );
        assert!(
            MigrationSource::Dir(tmp.path().into())
                .load_migrations()
                .is_ok()
        );
    }

    #[test]
    fn embedded_migrations_load() {
        assert!(MigrationSource::Embedded.load_migrations().is_ok());
    }

    #[test]
    fn invalid_metadata_is_reported() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            "2026-01-01-000000_a",
            &[
                ("up.sql", "SELECT 1;"),
                ("metadata.toml", "run_in_transaction = \"no\""),
            ],
        );
        let err = MigrationSource::Dir(tmp.path().into())
            .load_migrations()
            .unwrap_err();
        assert!(err.to_string().contains("metadata.toml"), "{err}");
    }
}
