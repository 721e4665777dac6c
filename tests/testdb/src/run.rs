//! How a test aims the real binaries at its database.

use std::process::Command;

use crate::TestDb;
use crate::process::{bin_path, scratch_dir};

/// A `Command` for a workspace binary aimed at `db`: `DATABASE_URL` set,
/// `APP_ENV`/`RUST_LOG` cleared, run in an empty folder.
pub fn bin_cmd(name: &str, db: &TestDb) -> Command {
    let mut cmd = Command::new(bin_path(name));
    cmd.env("DATABASE_URL", db.url())
        // Every test seeds for real unless it asks for snapshots (tests/seed/snapshot.rs).
        .env("SEED_SNAPSHOTS", "off")
        .env_remove("APP_ENV")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .current_dir(scratch_dir());
    cmd
}

/// The real `migrate` binary aimed at `db`.
pub fn migrate_cmd(db: &TestDb) -> Command {
    bin_cmd("migrate", db)
}

/// The real `seed` binary aimed at `db`.
pub fn seed_cmd(db: &TestDb) -> Command {
    bin_cmd("seed", db)
}
