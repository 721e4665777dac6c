//! The test kit: a real PostgreSQL database per test, migrated or seeded, for groundwork's own
//! end-to-end suite and for the application that links `domain`
//! (docs/testing-with-groundwork.md).
//!
//! ```ignore
//! let db = groundwork_testdb::TestDb::seeded(1); // or TestDb::migrated()
//! let mut conn = db.diesel_async().await;        // or db.url() for any client
//! // dropped with `db`; kept (its name printed) if the test panics
//! ```
//!
//! * The server comes from `TEST_DATABASE_URL` (default
//!   `postgres://postgres@127.0.0.1:5432/postgres`). When nothing answers
//!   there, the variable is unset and PostgreSQL's binaries are installed,
//!   a throwaway cluster is started in the temp folder, so `cargo test`
//!   passes on a fresh machine.
//! * Each test gets its own database, cloned (`CREATE DATABASE … TEMPLATE`)
//!   from a template built once (across parallel test processes) per set of
//!   inputs: the migrations and the engine for [`TestDb::migrated`], plus the
//!   seed stages and their parameters for [`TestDb::seeded`]. Both engines run
//!   in-process, so no binary is needed.
//! * A database is dropped when its [`TestDb`] is dropped, unless the test
//!   panicked: then it is kept for debugging and the next run sweeps it.
//! * Features `tokio-postgres` and `diesel-async` add connectors.
//!
//! The rest (running the real binaries, dumps, fixtures, the message
//! normaliser) serves groundwork's own suites.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a panic is the report

#[cfg(any(feature = "tokio-postgres", feature = "diesel-async"))]
mod connectors;
mod db;
mod dump;
mod fixture;
mod normalise;
mod process;
mod recipes;
mod rng;
mod run;
mod server;
mod silent_server;
mod template;

pub use db::TestDb;
pub use dump::{
    DbSnapshot, assert_same_snapshot, content_hashes, db_snapshot, pg_dump, snapshot_diff,
    user_tables,
};
pub use fixture::Fixture;
pub use normalise::normalise;
pub use process::{
    RunResult, bin_path, output_text, run_expect, run_with_limit, scratch_dir, stderr, which,
    workspace_root,
};
pub use rng::SeededRng;
pub use run::{bin_cmd, migrate_cmd, seed_cmd};
pub use server::{server_url, url_for_db};
pub use silent_server::silent_server;

/// Hides the password of a URL for messages (the binaries' own rules).
pub use groundwork_migrate::redact;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_password() {
        assert_eq!(
            redact("postgres://u:secret@h/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h:5432/db");
    }
}
