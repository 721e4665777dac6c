//! The bulk loader's error type (the table writer's COPY path): every message names the table
//! and says what to do. Kept with [`SeedError`](super::SeedError), which wraps it, below the
//! writer that returns it.

/// Everything that can stop a bulk load. The seed runner maps these to "stage failed".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BulkError {
    /// The URL cannot be parsed by tokio-postgres (the URL itself is never printed: it may hold
    /// a password).
    #[error(
        "the database URL cannot be used for a bulk-load connection: {0}. Fix DATABASE_URL (postgres://user@host:port/database)."
    )]
    Url(String),
    /// A bulk-load connection could not be opened.
    #[error(
        "cannot open a bulk-load connection to {target}: {cause}. Check that PostgreSQL is running and accepts more connections (max_connections), or lower the number of bulk streams."
    )]
    Connect {
        /// `user@host:port/database`, without the password.
        target: String,
        /// What the server or the network said.
        cause: String,
    },
    /// A statement of the load (staging table, COPY, cleanup) failed.
    #[error("bulk load into {table} failed while {doing}: {cause}")]
    Database {
        /// The target table (or `groundwork` for bookkeeping).
        table: String,
        /// What the loader was doing.
        doing: String,
        /// The server's message with its detail and hint.
        cause: String,
    },
    /// A row wrote a different number of values than the table declares columns: a stage bug.
    #[error(
        "a row for {table} has {got} values but the load declares {expected} columns ({columns}); the stage's BulkRow::write and its BulkTable disagree, which is a bug in the stage"
    )]
    RowShape {
        /// The target table.
        table: String,
        /// Values the row wrote.
        got: usize,
        /// Columns declared.
        expected: usize,
        /// The declared columns, comma-separated.
        columns: String,
    },
    /// The `INSERT … SELECT … ON CONFLICT` from the staging table failed.
    #[error("merging the staged rows into {table} failed: {source}{hint}")]
    Merge {
        /// The target table.
        table: String,
        /// What to do about it, when we know.
        hint: String,
        /// diesel's error.
        #[source]
        source: diesel::result::Error,
    },
    /// A fresh load's own foreign-key check (the per-row triggers were off) found a row whose
    /// parent does not exist.
    #[error(
        "a row loaded into {table} points at a missing parent: foreign key {constraint} needs ({columns}) = ({key}) in {parent}, which has no such row. The stage's rows must only reference rows its prerequisite stages wrote, so this is a bug in the stage or a parent row was deleted while it ran; nothing of the stage was kept. Rerun the stage; if it fails again, report it."
    )]
    ForeignKey {
        /// The loaded table.
        table: String,
        /// The constraint's name.
        constraint: String,
        /// Its columns in the loaded table, comma-separated.
        columns: String,
        /// The values of the first row without a parent, comma-separated.
        key: String,
        /// The referenced table.
        parent: String,
    },
    /// A row generator panicked or its task was cancelled.
    #[error(
        "the row generator for {table} stopped unexpectedly: {cause}. This is a bug; rerun with RUST_LOG=debug and report it."
    )]
    Generator {
        /// The target table.
        table: String,
        /// The panic or cancellation.
        cause: String,
    },
}
