//! End-to-end suite: the real binaries against a real PostgreSQL.
//! One module per concern; each test gets its own database (see
//! `tests/support/lib.rs`).

mod harness;
