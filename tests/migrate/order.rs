//! Out-of-order migrations (issue 11, item 5): a pending migration older than the newest
//! applied one is flagged by `plan`, refused in staging/prod unless --allow-out-of-order
//! (then audited), and a warning in dev/test.

use groundwork_testdb::{Fixture, TestDb, migrate_cmd, normalise, output_text, run_expect, stderr};

use super::prod::{files_in, prod_db, prod_up};

/// The standard fixture applied up to its second migration in `env`, then the third applied
/// too, leaving the last one; and a migration merged late, older than the applied ones.
fn late_fixture() -> Fixture {
    let f = Fixture::standard();
    f.add(
        "2026-01-10-120000_late_notes",
        "CREATE TABLE late_notes (id int PRIMARY KEY);\n",
        Some("DROP TABLE late_notes;\n"),
    );
    f
}

fn is_applied(db: &TestDb, version: &str) -> bool {
    db.count(&format!(
        "SELECT count(*) FROM __diesel_schema_migrations WHERE version = '{version}'"
    )) == 1
}

#[test]
fn out_of_order_is_refused_in_prod_and_changes_nothing() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    f.add(
        "2026-01-10-000000_late_notes",
        "CREATE TABLE late_notes (id int PRIMARY KEY);\n",
        Some("DROP TABLE late_notes;\n"),
    );
    let before = db.full_dump();
    let n = files_in(backups.path());
    let out = run_expect(
        prod_up(&db, &f)
            .args(["--require-backup", "--yes", "--backup-dir"])
            .arg(backups.path())
            .arg("up"),
        4,
    );
    let err = stderr(&out);
    assert!(
        err.contains("20260110000000")
            && err.contains("20260110090000")
            && err.contains("--allow-out-of-order"),
        "{err}"
    );
    assert_eq!(before, db.full_dump(), "a refused run changes nothing");
    assert_eq!(n, files_in(backups.path()), "refused before the backup");
    insta::assert_snapshot!(normalise(&err));
}

#[test]
fn out_of_order_with_the_flag_is_applied_in_prod_and_audited() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    f.add(
        "2026-01-10-000000_late_notes",
        "CREATE TABLE late_notes (id int PRIMARY KEY);\n",
        Some("DROP TABLE late_notes;\n"),
    );
    let out = run_expect(
        prod_up(&db, &f)
            .args(["--require-backup", "--yes", "--backup-dir"])
            .arg(backups.path())
            .args(["up", "--allow-out-of-order"]),
        0,
    );
    assert!(
        stderr(&out).contains("out of order (--allow-out-of-order"),
        "{}",
        output_text(&out)
    );
    assert!(is_applied(&db, "20260110000000"));
    // Recorded by the run that applied it, which also records its backup.
    assert_eq!(
        db.count(
            "SELECT count(*) FROM groundwork.audit_migrations m JOIN groundwork.audit_runs r ON r.id = m.run_id \
             WHERE m.action = 'out_of_order' AND m.version = '20260110000000' AND r.command = 'up' \
             AND m.detail LIKE '--allow-out-of-order: older than the newest applied migration 20260110090000' \
             AND r.backup_path IS NOT NULL"
        ),
        1
    );
}

#[test]
fn out_of_order_is_flagged_by_plan_and_refused_in_staging() {
    let f = late_fixture();
    let db = TestDb::empty();
    let dir = f.arg();
    // Apply everything but the late migration by applying the standard set first.
    let std = Fixture::standard();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &std.arg(), "--env", "staging", "up"]),
        0,
    );
    let out = run_expect(migrate_cmd(&db).args(["--migrations-dir", &dir, "plan"]), 0);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(
            "OUT OF ORDER: 20260110120000 older than the newest applied migration 20260112090000"
        ),
        "{text}"
    );
    let json = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &dir, "--json", "plan"]),
        0,
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["out_of_order"]["versions"][0], "20260110120000");
    let before = db.full_dump();
    run_expect(migrate_cmd(&db).args(["--migrations-dir", &dir, "up"]), 4);
    assert_eq!(before, db.full_dump());
}

#[test]
fn out_of_order_in_dev_is_applied_with_a_warning() {
    let std = Fixture::standard();
    let f = late_fixture();
    let db = TestDb::empty();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &std.arg(), "--env", "dev", "up"]),
        0,
    );
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
    let err = stderr(&out);
    assert!(
        err.contains("warning: applying 20260110120000 out of order"),
        "{}",
        output_text(&out)
    );
    assert!(is_applied(&db, "20260110120000"));
}
