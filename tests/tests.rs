//! End-to-end suite: the real binaries against a real PostgreSQL.
//! One module per concern; each test gets its own database (see
//! `tests/support/lib.rs`).

mod harness;
mod migrate_core;
mod migrate_diesel_compat;
mod migrate_errors;
mod migrate_fixtures;
mod migrate_guards;
mod migrate_prod;
mod schema_isolation;
