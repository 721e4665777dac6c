//! Bulk loading at close to raw `COPY` speed, without giving up a stage's all-or-nothing promise.
//!
//! diesel-async has no `COPY`, and a `COPY` on another connection cannot join the stage's
//! transaction. So a load has two steps:
//!
//! 1. **Stage** ([`BulkLoader::stage`]): an `UNLOGGED` staging table
//!    `groundwork.stg_<run>_<seq>_<table>` (`LIKE public.<table> INCLUDING DEFAULTS`, no indexes or
//!    constraints besides `NOT NULL`) is filled by binary `COPY` over separate tokio-postgres
//!    connections, one per stream, several streams in parallel. Rows come from generators that
//!    yield bounded batches (`Vec<Row>`) through a channel of capacity [`CHANNEL_BATCHES`], so
//!    memory is bounded by `streams × (CHANNEL_BATCHES + 2) × batch size`, whatever the row count.
//! 2. **Merge** ([`Staged::merge`]), on the stage's own connection inside its transaction: one
//!    `INSERT INTO public.<table> … SELECT … FROM staging ON CONFLICT (<natural key>) DO UPDATE …
//!    WHERE (old) IS DISTINCT FROM (new)`, which counts inserted and updated rows (`xmax = 0`
//!    marks an insert; unchanged rows are not written at all), then `DROP TABLE` of the staging
//!    table in the same transaction. Into a table that was empty when the load began (a fresh
//!    database) the merge is a plain `INSERT … SELECT`, and where the role may turn triggers
//!    off for its transaction, the foreign keys are checked once per constraint after the
//!    last segment instead of once per row (`foreign_keys.rs`).
//!
//! [`BulkLoader::load_from_producers`] pipelines the two: each stream fills a fresh staging *segment* every
//! [`SEGMENT_ROWS`] rows and the stage's connection merges finished segments while the streams
//! keep copying, so the merge (one backend, the part that must be in the transaction) overlaps
//! generation and `COPY`. Two rows with one natural key in one load are an error in both forms.
//!
//! If the stage fails, its transaction rolls back the merge and the drop; [`BulkLoader::cleanup`]
//! (called by the runner after every stage, success or not) drops what is left.
//!
//! **Stale staging tables** (from a killed run) are swept by every seed run before its stages
//! ([`sweep_stale`]) and when a loader starts. The rule: the run
//! id in a staging table's name is the backend pid of the loader's *holder* connection, which
//! holds the session advisory lock `(BULK_LOCK_NAMESPACE, run id)` for the loader's whole life.
//! A table whose lock can be taken belongs to a loader whose connection is gone (PostgreSQL
//! releases session locks when a session ends, however the process died), so it is dropped; a
//! table whose lock is held belongs to a live concurrent seeder and is left alone. A new holder
//! takes its own lock *before* creating anything, and pids of live sessions are unique, so a
//! reused pid never claims a live loader's tables.
//!
//! Connections are plain TCP (`NoTls`), like the diesel-async connections of the pool.

#[cfg(any(test, feature = "bench"))]
mod bench;
mod conn;
mod field;
mod foreign_keys;
mod loader;
mod merge;
pub mod rows;
mod stream;
mod sweep;

pub use crate::error::BulkError;
#[cfg(any(test, feature = "bench"))]
pub use bench::{Staged, split};
pub use field::Field;
pub use loader::{
    BATCH_ROWS, BulkLoader, CHANNEL_BATCHES, Progress, SEGMENT_ROWS, batched, default_streams,
};
pub use sweep::{BULK_LOCK_NAMESPACE, sweep_stale};

/// The result of a bulk-load step.
pub type Result<T, E = BulkError> = std::result::Result<T, E>;

/// The server's message, SQLSTATE, detail, hint and the column or constraint it names: the
/// policy core's one formatter of server errors.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    groundwork_migrate::policy::describe_driver_error(e)
}

/// A target table of a bulk load and how rows merge into it.
#[derive(Debug, Clone, Copy)]
pub struct BulkTable {
    /// Table name in schema `public`.
    pub table: &'static str,
    /// Columns every row writes, in [`BulkRow::write`] order.
    pub columns: &'static [&'static str],
    /// The natural key: columns of a unique constraint or index of the table.
    pub conflict_cols: &'static [&'static str],
    /// Columns a rerun overwrites when they differ; empty means `DO NOTHING` on conflict.
    /// Columns left out (e.g. a link written by a later stage) keep their stored value.
    pub update_cols: &'static [&'static str],
}

/// One row of a bulk load.
pub trait BulkRow: Send + Sync + 'static {
    /// Appends exactly one value per [`BulkTable::columns`] entry, in that order, e.g.
    /// `out.extend([Field::from(self.id), (&self.name).into(), self.kind.into()])`.
    fn write<'a>(&'a self, out: &mut Vec<Field<'a>>);
}

/// Double-quoted SQL identifier.
pub fn ident(name: &str) -> String {
    groundwork_migrate::policy::quote_ident(name)
}

/// `"a", "b", "c"`.
pub(crate) fn ident_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}
