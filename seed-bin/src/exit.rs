//! The one mapping from errors to exit codes (see docs/exit-codes.md).

use crate::error::SeedError;
use std::process::ExitCode;

/// Success.
pub const OK: u8 = 0;
/// A bug or an unexpected failure.
pub const INTERNAL: u8 = 1;
/// Bad flags or data file.
pub const USAGE: u8 = 2;
/// The database cannot be reached.
pub const CONNECT: u8 = 3;
/// A guard refused the run.
pub const REFUSED: u8 = 4;
/// A stage (or the migrations run first) failed and was rolled back.
pub const FAILED: u8 = 8;
/// `seed verify` found problems.
pub const VERIFY_FAILED: u8 = 9;

/// The exit code of an error.
pub fn code(err: &SeedError) -> u8 {
    match err {
        SeedError::Usage(_) | SeedError::DataFile { .. } => USAGE,
        SeedError::Connect(_) => CONNECT,
        SeedError::Refused(_) => REFUSED,
        SeedError::StageFailed { .. } | SeedError::StagesFailed(_) | SeedError::Migration(_) => {
            FAILED
        }
        SeedError::VerifyFailed(_) => VERIFY_FAILED,
        SeedError::Engine { code, .. } => *code,
        SeedError::Database { .. }
        | SeedError::Io { .. }
        | SeedError::Bulk(_)
        | SeedError::Internal(_) => INTERNAL,
    }
}

/// Prints the error to stderr and returns its exit code.
pub fn report(err: &SeedError) -> ExitCode {
    eprintln!("error: {err}");
    ExitCode::from(code(err))
}

/// The success exit code.
pub fn ok() -> ExitCode {
    ExitCode::from(OK)
}
