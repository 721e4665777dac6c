//! Databases and commands shared by the security modules.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use groundwork_testdb::{DbSnapshot, TestDb, migrate_cmd, output_text, snapshot_diff};

pub const LIMIT: Duration = Duration::from_secs(90);

/// A prod database (applied by a prod run, audit log included) with the given number of the
/// embedded migrations still pending (1 or 2).
pub fn prod_db(pending: usize) -> TestDb {
    let files = domain::embedded_migration_files();
    let to = match pending {
        1 | 2 => files[files.len() - 1 - pending].version,
        n => panic!("no template for {n} pending migrations"),
    };
    TestDb::from_template(&format!("security_prod_pending_{pending}"), |url| {
        let backups = tempfile::tempdir().expect("temp dir");
        let out = Command::new(groundwork_testdb::bin_path("migrate"))
            .args(["--env", "prod", "--require-backup", "--yes", "--backup-dir"])
            .arg(backups.path())
            .args(["up", "--to", to])
            .env("DATABASE_URL", url)
            .env_remove("APP_ENV")
            .current_dir(groundwork_testdb::scratch_dir())
            .output()
            .expect("run migrate");
        assert!(out.status.success(), "{}", output_text(&out));
    })
}

/// A database migrated as diesel_cli leaves it: the tables and `__diesel_schema_migrations`
/// (created with diesel's own DDL, which `migrate` uses byte for byte), no `groundwork` schema.
pub fn diesel_db() -> TestDb {
    let db = TestDb::migrated();
    db.client()
        .batch_execute("DROP SCHEMA groundwork CASCADE")
        .expect("drop groundwork");
    db
}

/// A database with tables and bookkeeping whose stamp row was deleted (audit log says `test`).
pub fn unstamped_db() -> TestDb {
    let db = TestDb::migrated();
    db.client()
        .batch_execute("DELETE FROM groundwork.environment")
        .expect("delete stamp");
    db
}

pub fn stamp(db: &TestDb) -> Option<String> {
    let mut c = db.client();
    let exists: bool = c
        .query_one(
            "SELECT to_regclass('groundwork.environment') IS NOT NULL",
            &[],
        )
        .expect("look up the stamp table")
        .get(0);
    if !exists {
        return None;
    }
    c.query_opt("SELECT env FROM groundwork.environment", &[])
        .expect("read the stamp")
        .map(|r| r.get(0))
}

pub fn prod_up(db: &TestDb, backups: &Path) -> Command {
    let mut cmd = migrate_cmd(db);
    cmd.args(["--env", "prod", "--require-backup", "--yes", "--backup-dir"])
        .arg(backups)
        .arg("up");
    cmd
}

pub fn text(r: &groundwork_testdb::RunResult) -> String {
    format!("{}{}", r.stdout, r.stderr)
}

pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

pub fn assert_unchanged(before: &DbSnapshot, db: &TestDb, ctx: &str) {
    let diff = snapshot_diff(before, &db.snapshot());
    assert!(
        diff.is_empty(),
        "{ctx}: the database changed:\n  {}",
        diff.join("\n  ")
    );
}
