//! The one exit-code table of both binaries (documented in docs/exit-codes.md). Each error
//! type says which row it belongs to through [`ExitStatus`]; nothing else picks a number.

use std::process::ExitCode;

use crate::error::MigrateError;

/// Every exit code `migrate` and `seed` return. The numbers are a contract with scripts:
/// never renumber, only add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Code {
    /// Success, also when there was nothing to do, or when the reader of stdout went away.
    Ok = 0,
    /// Unexpected failure (a bug, or a database error outside a migration or stage).
    Internal = 1,
    /// Bad input: flags, connection string, `--to` version, migrations folder, data file.
    Usage = 2,
    /// The database cannot be reached or does not exist.
    Connect = 3,
    /// A safety guard refused the run.
    Refused = 4,
    /// Migrations in the database differ from the source.
    Drift = 5,
    /// Another migrator holds the lock.
    LockTimeout = 6,
    /// The pre-migration backup failed.
    BackupFailed = 7,
    /// A migration or a seed stage failed (and was rolled back).
    Failed = 8,
    /// `seed verify` found problems.
    VerifyFailed = 9,
    /// `migrate lint` (or the lint gate of a prod `up`) found errors, or warnings under
    /// `--deny warnings`.
    LintFailed = 10,
    /// `migrate rehearse` found a lock held longer, or a rewrite bigger, than its thresholds,
    /// or a `down.sql` that does not undo its `up.sql`.
    RehearsalFailed = 11,
}

impl Code {
    /// The number scripts see.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

impl From<Code> for ExitCode {
    fn from(code: Code) -> Self {
        ExitCode::from(code.as_u8())
    }
}

/// An error that knows its row in the exit-code table.
pub trait ExitStatus {
    /// The exit code the process ends with when this error stops it.
    fn exit_code(&self) -> Code;
}

impl ExitStatus for MigrateError {
    fn exit_code(&self) -> Code {
        match self {
            MigrateError::MissingDatabaseUrl
            | MigrateError::MalformedUrl { .. }
            | MigrateError::UnknownVersion { .. }
            | MigrateError::BadMigrations { .. }
            | MigrateError::InvalidArgument(_)
            | MigrateError::Irreversible { .. }
            | MigrateError::BadConfig { .. } => Code::Usage,
            MigrateError::Unreachable { .. } | MigrateError::DatabaseMissing { .. } => {
                Code::Connect
            }
            MigrateError::Refused(_)
            | MigrateError::EnvironmentMismatch { .. }
            | MigrateError::UnknownEnvironment { .. }
            | MigrateError::StampMissing { .. }
            | MigrateError::RepairNeeded { .. }
            | MigrateError::ProdRevertTooFar { .. }
            | MigrateError::ScratchNotPermitted { .. } => Code::Refused,
            MigrateError::ScratchUnusable { .. } => Code::Usage,
            MigrateError::DatabaseAhead { .. }
            | MigrateError::Drift { .. }
            | MigrateError::SchemaDrift { .. } => Code::Drift,
            MigrateError::LockTimeout { .. } => Code::LockTimeout,
            MigrateError::BackupFailed { .. }
            | MigrateError::BackupDirUnsafe { .. }
            | MigrateError::PgDumpTooOld { .. } => Code::BackupFailed,
            MigrateError::MigrationFailed { .. } => Code::Failed,
            MigrateError::Database { .. } => Code::Internal,
            MigrateError::LintFailed(_) => Code::LintFailed,
        }
    }
}

/// Ends a run the same way in both binaries: the error on stderr as one `error: …`
/// paragraph, then its code.
pub fn report<E: ExitStatus + std::fmt::Display>(result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => Code::Ok.into(),
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code().into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_numbers_are_the_documented_ones() {
        let table = [
            (Code::Ok, 0),
            (Code::Internal, 1),
            (Code::Usage, 2),
            (Code::Connect, 3),
            (Code::Refused, 4),
            (Code::Drift, 5),
            (Code::LockTimeout, 6),
            (Code::BackupFailed, 7),
            (Code::Failed, 8),
            (Code::VerifyFailed, 9),
            (Code::LintFailed, 10),
            (Code::RehearsalFailed, 11),
        ];
        for (code, n) in table {
            assert_eq!(code.as_u8(), n, "{code:?}");
        }
    }

    #[test]
    fn codes_are_distinct_per_kind() {
        assert_eq!(MigrateError::MissingDatabaseUrl.exit_code(), Code::Usage);
        assert_eq!(MigrateError::Refused("x".into()).exit_code(), Code::Refused);
        assert_eq!(
            MigrateError::DatabaseMissing {
                database: "d".into(),
                url: "u".into()
            }
            .exit_code(),
            Code::Connect
        );
        assert_eq!(
            MigrateError::LockTimeout {
                waited_secs: 1.0,
                holder: None
            }
            .exit_code(),
            Code::LockTimeout
        );
        assert_eq!(
            MigrateError::BackupFailed { reason: "x".into() }.exit_code(),
            Code::BackupFailed
        );
        assert_eq!(
            MigrateError::BackupDirUnsafe {
                path: "b".into(),
                reason: "x".into()
            }
            .exit_code(),
            Code::BackupFailed
        );
        assert_eq!(
            MigrateError::PgDumpTooOld {
                found: "9.6".into(),
                server: "15".into()
            }
            .exit_code(),
            Code::BackupFailed
        );
        assert_eq!(
            MigrateError::ProdRevertTooFar {
                form: "down --all".into()
            }
            .exit_code(),
            Code::Refused
        );
        assert_eq!(
            MigrateError::Drift {
                changed: vec![],
                ahead: vec!["1".into()],
                source_desc: "s".into()
            }
            .exit_code(),
            Code::Drift
        );
    }
}
