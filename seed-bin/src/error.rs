//! The seed error type: every variant says what happened and what to do.

use std::path::PathBuf;

/// Everything that can stop a seed run. `exit.rs` maps each variant to one exit code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// Bad flags or arguments.
    #[error("{0}")]
    Usage(String),
    /// The core data file is malformed; nothing was written.
    #[error(
        "{file}:{line}:{column}: field `{field}`: {message}. Fix the data file and rerun; nothing was written."
    )]
    DataFile {
        file: PathBuf,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
    /// The database could not be reached. The message is the engine's (it names the server,
    /// host and port, the cause, what to do, and that nothing was changed).
    #[error("{0}")]
    Connect(String),
    /// A safety guard refused the run; nothing was written.
    #[error("refused: {0}")]
    Refused(String),
    /// A stage failed and was rolled back.
    #[error(
        "stage {stage} failed and was rolled back: {cause}. Fix the cause and rerun `seed --stage {stage}`; the stages before it are kept."
    )]
    StageFailed { stage: String, cause: String },
    /// Several stages failed (with `--keep-going`).
    #[error("{} stages failed: {}. Each was rolled back; fix the causes and rerun.", .0.len(), .0.join("; "))]
    StagesFailed(Vec<String>),
    /// Applying pending migrations failed.
    #[error(
        "applying pending migrations failed: {0}. Run `migrate status` and `migrate up` to see the details."
    )]
    Migration(String),
    /// The migration engine refused or failed; `code` is its exit code.
    #[error("{message}")]
    Engine { code: u8, message: String },
    /// `seed verify` found problems (the report was already printed).
    #[error("seed verify found {0} problem(s); see the report above")]
    VerifyFailed(usize),
    /// A database error outside any stage.
    #[error("database error while {doing}: {source}")]
    Database {
        doing: String,
        #[source]
        source: diesel::result::Error,
    },
    /// A file could not be read or written.
    #[error("{doing} {path}: {source}. Check the path and its permissions.")]
    Io {
        doing: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A bulk load failed (inside a stage, so the runner reports it as a failed stage).
    #[error("{0}")]
    Bulk(#[from] crate::bulk::BulkError),
    /// A bug.
    #[error("internal error: {0}. Please report it with the log (RUST_LOG=debug).")]
    Internal(String),
}

impl SeedError {
    /// Wraps a diesel error with what we were doing.
    pub fn db(doing: impl Into<String>) -> impl FnOnce(diesel::result::Error) -> SeedError {
        let doing = doing.into();
        move |source| SeedError::Database { doing, source }
    }
}

/// Lets stage code use `?` on diesel results inside transactions.
impl From<diesel::result::Error> for SeedError {
    fn from(source: diesel::result::Error) -> Self {
        SeedError::Database {
            doing: "running a query".into(),
            source,
        }
    }
}

/// Short alias used across the crate.
pub type Result<T, E = SeedError> = std::result::Result<T, E>;
