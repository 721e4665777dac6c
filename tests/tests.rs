//! End-to-end suite: the real `migrate` and `seed` binaries against a real PostgreSQL.
//! One folder per area; each test gets its own database from the `groundwork-testdb`
//! crate (`tests/testdb/`), which also holds the shared helpers.

mod cli;
mod env_and_recovery;
mod faults;
mod input;
mod migrate;
mod policy;
mod schema_isolation;
mod security;
mod seed;
