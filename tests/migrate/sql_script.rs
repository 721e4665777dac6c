//! `migrate plan --sql-script FILE` (issue 11, item 5): a psql script of exactly what `up`
//! would do; applied by hand it leaves a database `verify` accepts and `status` shows applied.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use groundwork_testdb::{Fixture, TestDb, migrate_cmd, output_text, run_expect, stderr, which};

fn psql_apply(db: &TestDb, file: &std::path::Path) -> std::process::Output {
    Command::new(which("psql").expect("psql on PATH"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db.url(), "-f"])
        .arg(file)
        .output()
        .expect("spawn psql")
}

#[test]
fn a_script_applied_with_psql_is_accepted_by_verify() {
    let f = Fixture::standard();
    let db = TestDb::empty();
    // One applied by `up` first, so the script starts from a state with bookkeeping.
    run_expect(
        migrate_cmd(&db).args([
            "--migrations-dir",
            &f.arg(),
            "--env",
            "staging",
            "up",
            "--to",
            "20260110090000",
        ]),
        0,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deploy.sql");
    let before = db.full_dump();
    run_expect(
        migrate_cmd(&db)
            .args(["--migrations-dir", &f.arg(), "plan", "--sql-script"])
            .arg(&file),
        0,
    );
    assert_eq!(
        before,
        db.full_dump(),
        "plan writes nothing to the database"
    );
    let meta = std::fs::symlink_metadata(&file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        !text.contains(db.url()) && !text.contains("postgres://"),
        "no connection string"
    );
    assert!(
        text.contains("BEGIN;") && text.contains("CREATE INDEX CONCURRENTLY"),
        "{text}"
    );

    let out = psql_apply(&db, &file);
    assert!(out.status.success(), "{}", output_text(&out));
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "verify"]),
        0,
    );
    let status = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--json", "status"]),
        0,
    );
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let pending: Vec<_> = v["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["applied_at"].is_null())
        .collect();
    assert!(pending.is_empty(), "{v}");
    assert_eq!(
        db.count("SELECT count(*) FROM groundwork.migration_checksums"),
        4
    );
    assert_eq!(
        db.count("SELECT count(*) FROM groundwork.audit_runs WHERE command = 'sql-script' AND outcome = 'succeeded'"),
        1
    );
    // Applied twice, the script stops at its state check and changes nothing.
    let after = db.full_dump();
    let again = psql_apply(&db, &file);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("applied migrations changed"),
        "{}",
        output_text(&again)
    );
    assert_eq!(after, db.full_dump());
}

#[test]
fn the_script_is_never_written_through_a_symlink_or_over_a_file() {
    let f = Fixture::standard();
    let db = TestDb::empty();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.sql");
    std::fs::write(&target, "keep me").unwrap();
    let link = dir.path().join("link.sql");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let dangling = dir.path().join("dangling.sql");
    std::os::unix::fs::symlink(dir.path().join("nowhere.sql"), &dangling).unwrap();
    for path in [&link, &dangling, &target] {
        let out = run_expect(
            migrate_cmd(&db)
                .args([
                    "--migrations-dir",
                    &f.arg(),
                    "--env",
                    "test",
                    "plan",
                    "--sql-script",
                ])
                .arg(path),
            2,
        );
        assert!(
            stderr(&out).contains("already exists"),
            "{}",
            output_text(&out)
        );
    }
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    assert!(!dir.path().join("nowhere.sql").exists());
}
