//! The one mapping from errors to exit codes (documented in docs/exit-codes.md).

use std::process::ExitCode;

use crate::error::MigrateError;

/// Success, also when there was nothing to do.
pub const OK: u8 = 0;
/// Unexpected failure (a bug, or a database error outside a migration).
pub const INTERNAL: u8 = 1;
/// Bad input: flags, URL, `--to` version, migrations folder.
pub const USAGE: u8 = 2;
/// The database cannot be reached or does not exist.
pub const CONNECT: u8 = 3;
/// A safety guard refused the run.
pub const REFUSED: u8 = 4;
/// Migrations in the database differ from the source.
pub const DRIFT: u8 = 5;
/// Another migrator holds the lock.
pub const LOCK_TIMEOUT: u8 = 6;
/// The pre-migration backup failed.
pub const BACKUP_FAILED: u8 = 7;
/// A migration failed.
pub const FAILED: u8 = 8;

/// The exit code for an error.
pub fn code(error: &MigrateError) -> u8 {
    match error {
        MigrateError::MissingDatabaseUrl
        | MigrateError::MalformedUrl { .. }
        | MigrateError::UnknownVersion { .. }
        | MigrateError::BadMigrations { .. }
        | MigrateError::InvalidArgument(_)
        | MigrateError::Irreversible { .. } => USAGE,
        MigrateError::Unreachable { .. } | MigrateError::DatabaseMissing { .. } => CONNECT,
        MigrateError::Refused(_)
        | MigrateError::EnvironmentMismatch { .. }
        | MigrateError::UnknownEnvironment { .. }
        | MigrateError::StampMissing { .. }
        | MigrateError::RepairNeeded { .. }
        | MigrateError::ProdRevertTooFar { .. } => REFUSED,
        MigrateError::DatabaseAhead { .. } | MigrateError::Drift { .. } => DRIFT,
        MigrateError::LockTimeout { .. } => LOCK_TIMEOUT,
        MigrateError::BackupFailed { .. }
        | MigrateError::BackupDirUnsafe { .. }
        | MigrateError::PgDumpTooOld { .. } => BACKUP_FAILED,
        MigrateError::MigrationFailed { .. } => FAILED,
        MigrateError::Database { .. } => INTERNAL,
    }
}

/// The process exit code for a run's result.
pub fn exit_code(result: &Result<(), MigrateError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::from(OK),
        Err(e) => ExitCode::from(code(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_per_kind() {
        assert_eq!(code(&MigrateError::MissingDatabaseUrl), USAGE);
        assert_eq!(code(&MigrateError::Refused("x".into())), REFUSED);
        assert_eq!(
            code(&MigrateError::DatabaseMissing {
                database: "d".into(),
                url: "u".into()
            }),
            CONNECT
        );
        assert_eq!(
            code(&MigrateError::LockTimeout {
                waited_secs: 1.0,
                holder: None
            }),
            LOCK_TIMEOUT
        );
        assert_eq!(
            code(&MigrateError::BackupFailed { reason: "x".into() }),
            BACKUP_FAILED
        );
        assert_eq!(
            code(&MigrateError::BackupDirUnsafe {
                path: "b".into(),
                reason: "x".into()
            }),
            BACKUP_FAILED
        );
        assert_eq!(
            code(&MigrateError::PgDumpTooOld {
                found: "9.6".into(),
                server: "15".into()
            }),
            BACKUP_FAILED
        );
        assert_eq!(
            code(&MigrateError::ProdRevertTooFar {
                form: "down --all".into()
            }),
            REFUSED
        );
        assert_eq!(
            code(&MigrateError::Drift {
                changed: vec![],
                ahead: vec!["1".into()],
                source_desc: "s".into()
            }),
            DRIFT
        );
    }
}
