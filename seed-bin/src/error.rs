//! The seed error type: every variant says what happened and what to do, and names its row
//! of the exit-code table both binaries share ([`groundwork_migrate::policy::Code`]).

mod bulk;

pub use bulk::BulkError;
use groundwork_migrate::MigrateError;
use groundwork_migrate::policy::{Code, ExitStatus};
use std::path::PathBuf;

/// Everything that can stop a seed run.
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
    /// The connection pool could not lend a connection (its last connect error included).
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
    /// The policy core or the migration engine refused or failed: a malformed connection
    /// string, an unreachable server, the environment rule, the engine's lock or drift. Its
    /// message and exit code are `migrate`'s, unchanged.
    #[error(transparent)]
    Engine(Box<MigrateError>),
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
    Bulk(#[from] BulkError),
    /// A statement on the server's maintenance database failed (snapshots); `state` is the
    /// SQLSTATE, by which callers recognise a busy database or a missing privilege.
    #[error("{message}. Check that the role may create and drop databases (CREATEDB) and rerun.")]
    Server {
        message: String,
        state: Option<tokio_postgres::error::SqlState>,
    },
    /// A query of the comparison behind `seed verify` and `--prune` failed.
    #[error(
        "database error while {doing}: {cause}. Check that the database is reachable and migrated, then rerun"
    )]
    Compare { doing: String, cause: String },
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

/// The one conversion from the engine's and the policy core's errors: message and exit code
/// stay `migrate`'s.
impl From<MigrateError> for SeedError {
    fn from(e: MigrateError) -> Self {
        SeedError::Engine(Box::new(e))
    }
}

impl ExitStatus for SeedError {
    fn exit_code(&self) -> Code {
        match self {
            SeedError::Usage(_) | SeedError::DataFile { .. } => Code::Usage,
            SeedError::Connect(_) => Code::Connect,
            SeedError::Refused(_) => Code::Refused,
            SeedError::StageFailed { .. } | SeedError::StagesFailed(_) => Code::Failed,
            SeedError::VerifyFailed(_) => Code::VerifyFailed,
            SeedError::Engine(e) => e.exit_code(),
            SeedError::Database { .. }
            | SeedError::Io { .. }
            | SeedError::Bulk(_)
            | SeedError::Server { .. }
            | SeedError::Compare { .. }
            | SeedError::Internal(_) => Code::Internal,
        }
    }
}

/// Short alias used across the crate.
pub type Result<T, E = SeedError> = std::result::Result<T, E>;
