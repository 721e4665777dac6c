//! Bookkeeping in the database: which migrations are applied (diesel_cli's table and our
//! checksums), the environment stamp, the audit log, and the one-migrator advisory lock.
//!
//! Everything here is a single query or a few; the order they run in (lock, then stamp,
//! then the run) is the engine's session's business, not this module's.

mod audit;
mod bookkeeping;
mod lock;
mod schema;

pub use audit::{BackupInfo, NamedIndex, Note, PartialFailure, RunRecord};
pub(crate) use audit::{
    MigrationRecord, begin_run, finish_run, history, indexes_named, invalid_indexes,
    partial_failures, record_migration,
};
pub use bookkeeping::{AppliedRecord, check_stamp, read_stamp};
pub(crate) use bookkeeping::{
    DIESEL_TABLE_DDL, adopt, ensure_bookkeeping, ensure_groundwork_tables, load_applied,
    record_checksum, record_step, stamp_environment,
};
pub use lock::{Blocker, LockHolder, MIGRATION_LOCK_KEY};
pub(crate) use lock::{acquire_lock, blockers, release_lock};
