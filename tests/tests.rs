//! End-to-end suite: the real binaries against a real PostgreSQL.
//! One module per concern; each test gets its own database (see
//! `tests/support/lib.rs`).

mod bad_input;
mod env_and_recovery;
mod faults;
mod harness;
mod migrate_backup;
mod migrate_core;
mod migrate_diesel_compat;
mod migrate_errors;
mod migrate_fixtures;
mod migrate_guards;
mod migrate_output;
mod migrate_prod;
mod schema_isolation;
mod secrets_connect;
mod security;
mod seed_api_key;
mod seed_common;
mod seed_concurrency;
mod seed_crash;
mod seed_data_file;
mod seed_determinism;
mod seed_failure;
mod seed_guards;
mod seed_idempotency;
mod seed_verify;
