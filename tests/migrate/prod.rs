//! The production flow of `migrate`: plan → confirm → backup → apply, with lock_timeout,
//! the audit log, and restoring the recorded backup.

use std::path::Path;
use std::process::{Command, Stdio};

use groundwork_testdb::{Fixture, TestDb, migrate_cmd, output_text, run_expect, stderr};

/// A database stamped prod with the first two fixture migrations applied, and a backup folder.
pub(crate) fn prod_db(f: &Fixture, backups: &Path) -> TestDb {
    let db = TestDb::empty();
    run_expect(
        migrate_cmd(&db)
            .args([
                "--migrations-dir",
                &f.arg(),
                "--env",
                "prod",
                "--require-backup",
                "--yes",
                "--backup-dir",
            ])
            .arg(backups)
            .args(["up", "--to", "20260110090000"]),
        0,
    );
    db
}

pub(crate) fn prod_up(db: &TestDb, f: &Fixture) -> Command {
    let mut cmd = migrate_cmd(db);
    cmd.args(["--migrations-dir", &f.arg(), "--env", "prod"])
        .stdin(Stdio::null());
    cmd
}

pub(crate) fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn prod_without_require_backup_is_refused_and_changes_nothing() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    let before = db.full_dump();
    let out = run_expect(prod_up(&db, &f).args(["--yes", "up"]), 4);
    let err = stderr(&out);
    assert!(err.contains("--require-backup"), "{err}");
    assert!(
        err.contains("Plan (apply in prod)") && err.contains("20260111090000 create_engagements"),
        "{err}"
    );
    assert_eq!(before, db.full_dump());
}

#[test]
fn prod_without_terminal_and_without_yes_is_refused_and_changes_nothing() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    let n = files_in(backups.path());
    let before = db.full_dump();
    let out = run_expect(
        prod_up(&db, &f)
            .args(["--require-backup", "--backup-dir"])
            .arg(backups.path())
            .arg("up"),
        4,
    );
    assert!(stderr(&out).contains("--yes"), "{}", output_text(&out));
    assert_eq!(before, db.full_dump());
    assert_eq!(n, files_in(backups.path()), "no backup before confirmation");
}

#[test]
fn prod_with_path_lacking_pg_dump_applies_nothing() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    let before = db.full_dump();
    let empty_bin = tempfile::tempdir().unwrap();
    let out = run_expect(
        prod_up(&db, &f)
            .env("PATH", empty_bin.path())
            .args(["--require-backup", "--yes", "--backup-dir"])
            .arg(backups.path())
            .arg("up"),
        7,
    );
    let err = stderr(&out);
    assert!(
        err.contains("pg_dump was not found") && err.contains("Nothing was applied"),
        "{err}"
    );
    assert_eq!(before, db.full_dump());
}

#[test]
fn prod_with_unwritable_backup_dir_applies_nothing() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    let before = db.full_dump();
    // A path below a regular file can never be created, even by root.
    let file = backups.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = run_expect(
        prod_up(&db, &f)
            .args(["--require-backup", "--yes", "--backup-dir"])
            .arg(file.join("sub"))
            .arg("up"),
        7,
    );
    assert!(
        stderr(&out).contains("backup folder"),
        "{}",
        output_text(&out)
    );
    assert_eq!(before, db.full_dump());
}

#[test]
fn prod_with_nothing_pending_takes_no_backup() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    run_expect(
        prod_up(&db, &f)
            .args(["--require-backup", "--yes", "--backup-dir"])
            .arg(backups.path())
            .arg("up"),
        0,
    );
    let n = files_in(backups.path());
    let out = run_expect(
        prod_up(&db, &f)
            .args(["--require-backup", "--yes", "--backup-dir"])
            .arg(backups.path())
            .arg("up"),
        0,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Nothing to apply"));
    assert_eq!(n, files_in(backups.path()));
}

#[test]
fn prod_backup_is_recorded_and_restores_the_pre_migration_database() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    let before = db.full_dump();
    let out = run_expect(
        prod_up(&db, &f)
            .args(["--require-backup", "--yes", "--backup-dir"])
            .arg(backups.path())
            .arg("up"),
        0,
    );
    assert!(
        stderr(&out).contains("Backup written and verified"),
        "{}",
        output_text(&out)
    );

    let rows = db.rows_as_text(
        "SELECT backup_path, backup_size_bytes, backup_sha256 FROM groundwork.audit_runs WHERE backup_path IS NOT NULL ORDER BY id DESC LIMIT 1",
    );
    assert_eq!(rows.len(), 1);
    let mut client = db.client();
    let row = client
        .query_one(
            "SELECT backup_path, backup_size_bytes, backup_sha256 FROM groundwork.audit_runs WHERE backup_path IS NOT NULL ORDER BY id DESC LIMIT 1",
            &[],
        )
        .unwrap();
    let path: String = row.get(0);
    let size: i64 = row.get(1);
    let sha: String = row.get(2);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() as i64, size);
    use sha2::Digest;
    assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), sha);

    // Restore the recorded backup into a new database: it equals the pre-migration database.
    let restored = TestDb::empty();
    let out = Command::new("pg_restore")
        .args(["--no-owner", "--dbname", restored.url()])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(before, restored.full_dump());

    // And the audit log shows the run with its migrations and backup.
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--json", "history"]),
        0,
    );
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let newest = &history["runs"][0];
    assert_eq!(newest["outcome"], "succeeded");
    assert_eq!(newest["env"], "prod");
    assert_eq!(newest["backup_path"], path.as_str());
    assert!(
        newest["migrations"]
            .as_str()
            .unwrap()
            .contains("apply 20260112090000 index_engagements (succeeded")
    );
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "history"]),
        0,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("succeeded"));
}

#[test]
fn down_all_is_refused_in_prod() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    let before = db.full_dump();
    run_expect(
        prod_up(&db, &f).args(["--require-backup", "--yes", "down", "--all"]),
        4,
    );
    assert_eq!(before, db.full_dump());
}

/// A migrated database with one pending migration that needs `accounts`, and a client whose
/// open transaction holds a lock on `accounts` until it sends ROLLBACK.
fn pending_migration_blocked_by_a_lock() -> (TestDb, Fixture, postgres::Client) {
    let db = TestDb::empty();
    let f = Fixture::standard();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
    f.add(
        "2026-02-01-000000_touch_accounts",
        "ALTER TABLE accounts ADD COLUMN note text;",
        Some("ALTER TABLE accounts DROP COLUMN note;"),
    );
    let mut blocker = db.client();
    blocker
        .batch_execute("BEGIN; LOCK TABLE accounts IN ACCESS SHARE MODE")
        .unwrap();
    (db, f, blocker)
}

#[test]
fn lock_timeout_is_retried_then_reported_and_the_next_run_succeeds() {
    let (db, f, mut blocker) = pending_migration_blocked_by_a_lock();
    let out = run_expect(
        migrate_cmd(&db).args([
            "--migrations-dir",
            &f.arg(),
            "--lock-timeout",
            "200ms",
            "--lock-retries",
            "1",
            "up",
        ]),
        8,
    );
    let err = stderr(&out);
    assert!(
        err.contains("hit lock_timeout; retrying") && err.contains("attempt 2 of 2"),
        "{err}"
    );
    assert!(
        err.contains("lock timeout") && err.contains("20260201000000 touch_accounts"),
        "{err}"
    );
    blocker.batch_execute("ROLLBACK").unwrap();
    run_expect(
        migrate_cmd(&db).args([
            "--migrations-dir",
            &f.arg(),
            "--lock-timeout",
            "200ms",
            "up",
        ]),
        0,
    );
}

/// diesel-async drops the SQLSTATE of the migration's error, so `migrate` asks the server
/// for its 55P03 message (provoked on two extra connections and checked by SQLSTATE) instead
/// of trusting English text: the debug log shows the message it learned, and the timeout is
/// recognised by it.
#[test]
fn lock_timeout_is_recognised_by_the_message_of_a_provoked_55p03() {
    let (db, f, mut blocker) = pending_migration_blocked_by_a_lock();
    let out = run_expect(
        migrate_cmd(&db)
            .env("RUST_LOG", "groundwork_migrate::engine=debug")
            .args([
                "--migrations-dir",
                &f.arg(),
                "--lock-timeout",
                "200ms",
                "--lock-retries",
                "0",
                "up",
            ]),
        8,
    );
    let err = stderr(&out);
    let learned = err
        .lines()
        .find(|l| l.contains("learned the server's lock_timeout message"))
        .unwrap_or_else(|| panic!("no learned message in the debug log: {err}"));
    assert!(
        learned.contains(r#"Some("canceling statement due to lock timeout")"#),
        "{learned}"
    );
    assert!(
        err.contains("lock_timeout reached on all 1 attempts"),
        "{err}"
    );
    blocker.batch_execute("ROLLBACK").unwrap();
}

#[test]
fn plan_lists_pending_migrations_with_lint_findings_and_sql() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
    f.add(
        "2026-02-01-000000_risky",
        "CREATE INDEX accounts_name_idx ON accounts (name);\nALTER TABLE accounts ADD COLUMN tier int NOT NULL;\n",
        Some("DROP INDEX accounts_name_idx; ALTER TABLE accounts DROP COLUMN tier;"),
    );
    let before = db.full_dump();
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "plan"]),
        0,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("20260201000000 risky (in a transaction)"),
        "{text}"
    );
    assert!(
        text.contains(
            "error[require-concurrent-index-creation] line 1: During normal index creation"
        ) && text.contains("fix: Use `concurrently` to avoid blocking writes.")
            && text.contains("error[adding-required-field] line 2:"),
        "{text}"
    );
    assert!(text.contains("| CREATE INDEX accounts_name_idx"), "{text}");
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--json", "plan"]),
        0,
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["pending"][0]["version"], "20260201000000");
    let rules: Vec<&str> = plan["pending"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        ["require-concurrent-index-creation", "adding-required-field"]
    );
    assert_eq!(before, db.full_dump(), "plan changes nothing");
}

/// Runs `migrate` for `db` under a pseudo-terminal (util-linux `script`), typing `answer` at
/// the confirmation prompt.
fn prod_up_on_terminal(
    db: &TestDb,
    f: &Fixture,
    backups: &Path,
    answer: &str,
) -> std::process::Output {
    let cmd = format!(
        "{} --migrations-dir {} --env prod --require-backup --backup-dir {} up",
        groundwork_testdb::bin_path("migrate").display(),
        f.arg(),
        backups.display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("DATABASE_URL", db.url())
        .env_remove("APP_ENV")
        .current_dir(groundwork_testdb::scratch_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script(1) from util-linux");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{answer}").unwrap();
    }
    child.wait_with_output().unwrap()
}

#[test]
fn prod_on_a_terminal_asks_and_applies_nothing_unless_the_answer_is_yes() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    let before = db.full_dump();
    let backups_before = files_in(backups.path());

    let out = prod_up_on_terminal(&db, &f, backups.path(), "no");
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(text.contains("Type 'yes' to continue"), "{text}");
    assert!(text.contains("not confirmed"), "{text}");
    assert_eq!(before, db.full_dump());
    assert_eq!(
        backups_before,
        files_in(backups.path()),
        "no backup before confirmation"
    );

    let out = prod_up_on_terminal(&db, &f, backups.path(), "yes");
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Applied 20260111090000"), "{text}");
    assert_eq!(
        backups_before + 1,
        files_in(backups.path()),
        "one verified backup"
    );
}
