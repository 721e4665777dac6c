//! Recovery by rerunning: a failed or killed first `up`, a killed CREATE INDEX CONCURRENTLY,
//! transaction control refused before anything runs, lock_timeout naming the blocker.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use groundwork_testdb::{Fixture, TestDb, migrate_cmd, output_text};

use super::support::migrate;

#[test]
fn a_failed_first_up_is_fixed_by_fixing_the_sql_and_rerunning() {
    let f = Fixture::empty();
    let dir = f.add(
        "2026-01-10-090000_create_accounts",
        "CREATE TABLE accounts (id int PRIMARY KEY);\nCREAT TABLE oops (id int);\n",
        Some("DROP TABLE accounts;"),
    );
    let db = TestDb::empty();
    migrate(&db, &f, &["up"], 8);
    // Every command keeps working on what the failed run left (no "relation
    // __diesel_schema_migrations does not exist").
    for args in [
        &["up"][..],
        &["verify"],
        &["status"],
        &["plan"],
        &["history"],
    ] {
        let text = migrate(&db, &f, args, if args == ["up"] { 8 } else { 0 });
        assert!(!text.contains("does not exist"), "{args:?}: {text}");
    }
    std::fs::write(
        dir.join("up.sql"),
        "CREATE TABLE accounts (id int PRIMARY KEY);\nCREATE TABLE oops (id int);\n",
    )
    .unwrap();
    migrate(&db, &f, &["up"], 0);
    migrate(&db, &f, &["verify"], 0);
    assert_eq!(
        db.count("SELECT count(*) FROM __diesel_schema_migrations"),
        1
    );
}

/// A fixture whose first migrations sleep, so a kill lands inside each phase of a first run.
fn slow_fixture() -> Fixture {
    let f = Fixture::empty();
    f.add(
        "2026-01-10-090000_first",
        "SELECT pg_sleep(0.4);\nCREATE TABLE accounts (id int PRIMARY KEY, name text);\nSELECT pg_sleep(0.4);\n",
        Some("DROP TABLE accounts;"),
    );
    f.add_non_transactional(
        "2026-01-11-090000_index",
        "SELECT pg_sleep(0.4);\nCREATE INDEX CONCURRENTLY accounts_name_idx ON accounts (name);\nSELECT pg_sleep(0.4);\n",
        Some("DROP INDEX CONCURRENTLY IF EXISTS accounts_name_idx;"),
    );
    f.add(
        "2026-01-12-090000_second",
        "SELECT pg_sleep(0.3);\nCREATE TABLE notes (id int);\n",
        Some("DROP TABLE notes;"),
    );
    f
}

fn kill_after(mut child: Child, after: Duration) {
    std::thread::sleep(after);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

#[test]
fn a_first_up_killed_at_any_point_is_fixed_by_rerunning() {
    let f = slow_fixture();
    let clean = TestDb::empty();
    migrate(&clean, &f, &["up"], 0);
    for ms in [30, 150, 300, 600, 900, 1300, 1700, 2100] {
        let db = TestDb::empty();
        let child = migrate_cmd(&db)
            .args(["--migrations-dir", &f.arg(), "up"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        kill_after(child, Duration::from_millis(ms));
        let out = migrate_cmd(&db)
            .args(["--migrations-dir", &f.arg(), "--lock-wait", "20s", "up"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "rerun after a kill at {ms} ms: {}",
            output_text(&out)
        );
        migrate(&db, &f, &["verify"], 0);
        assert_eq!(clean.schema_dump(), db.schema_dump(), "kill at {ms} ms");
    }
}

/// Starts `up` on a migration that builds an index CONCURRENTLY while another session keeps
/// a write transaction open on the table (so the build waits with its INVALID index already
/// in the catalog), kills it there, and waits until its server session is gone.
fn kill_during_create_index_concurrently(db: &TestDb, f: &Fixture, index: &str) {
    let mut blocker = db.client();
    let mut tx = blocker.transaction().unwrap();
    tx.batch_execute("INSERT INTO accounts (id, name) VALUES (424242, 'held')")
        .unwrap();
    let child = migrate_cmd(db)
        .args(["--migrations-dir", &f.arg(), "up"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let invalid = format!(
        "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE c.relname = '{index}' AND NOT i.indisvalid"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.count(&invalid) == 0 {
        assert!(Instant::now() < deadline, "the index build never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    kill_after(child, Duration::ZERO);
    // Its backend notices the dead client (client_connection_check_interval) and cancels the
    // build; only then may the blocking transaction end, or the build would complete.
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.count(
        "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'CREATE INDEX CONCURRENTLY%' AND pid <> pg_backend_pid()",
    ) > 0
    {
        assert!(Instant::now() < deadline, "the killed build never ended");
        std::thread::sleep(Duration::from_millis(100));
    }
    tx.rollback().unwrap();
    assert_eq!(
        db.count(&invalid),
        1,
        "the killed build left no INVALID index"
    );
}

fn index_fixture() -> Fixture {
    let f = Fixture::empty();
    f.add(
        "2026-01-10-090000_create_accounts",
        "CREATE TABLE accounts (id int PRIMARY KEY, name text);\nINSERT INTO accounts SELECT g, 'n' || g FROM generate_series(1, 100) g;\n",
        Some("DROP TABLE accounts;"),
    );
    f.add_non_transactional(
        "2026-01-11-090000_index_accounts",
        "CREATE INDEX CONCURRENTLY accounts_name_idx ON accounts (name);\n",
        Some("DROP INDEX CONCURRENTLY IF EXISTS accounts_name_idx;"),
    );
    f
}

#[test]
fn a_killed_create_index_concurrently_is_repaired_by_rerunning_in_dev() {
    let f = index_fixture();
    let db = TestDb::empty();
    migrate(&db, &f, &["up", "--to", "20260110090000"], 0);
    kill_during_create_index_concurrently(&db, &f, "accounts_name_idx");
    let text = migrate(&db, &f, &["--lock-wait", "20s", "up"], 0);
    assert!(
        text.contains("dropping index public.accounts_name_idx (INVALID)"),
        "{text}"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'accounts_name_idx' AND i.indisvalid"),
        1
    );
    assert_eq!(
        db.rows_as_text(
            "SELECT action, version, outcome FROM groundwork.audit_migrations WHERE version = '20260111090000' ORDER BY id"
        ),
        ["(repair,20260111090000,succeeded)", "(apply,20260111090000,succeeded)"]
    );
}

#[test]
fn a_killed_create_index_concurrently_in_prod_needs_up_repair() {
    let f = index_fixture();
    let db = TestDb::empty();
    migrate(&db, &f, &["up", "--to", "20260110090000"], 0);
    kill_during_create_index_concurrently(&db, &f, "accounts_name_idx");
    db.client()
        .batch_execute("UPDATE groundwork.environment SET env = 'prod'")
        .unwrap();
    let before = db.full_dump();
    let backups = tempfile::tempdir().unwrap();
    let backup_dir = backups.path().join("b").display().to_string();
    let prod = [
        "--env",
        "prod",
        "--require-backup",
        "--yes",
        "--backup-dir",
        &backup_dir,
    ];
    let text = migrate(&db, &f, &[&prod[..], &["up"]].concat(), 4);
    assert!(
        text.contains("20260111090000 index_accounts")
            && text.contains("public.accounts_name_idx")
            && text.contains("migrate --env prod up --repair")
            && text.contains("Nothing was changed"),
        "{text}"
    );
    assert_eq!(db.full_dump(), before);
    migrate(&db, &f, &[&prod[..], &["up", "--repair"]].concat(), 0);
    assert_eq!(
        db.count("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'accounts_name_idx' AND i.indisvalid"),
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM groundwork.audit_migrations m JOIN groundwork.audit_runs r ON r.id = m.run_id WHERE m.action = 'repair' AND r.env = 'prod' AND m.detail LIKE '%accounts_name_idx%'"),
        1
    );
}

#[test]
fn transaction_control_in_a_transactional_migration_is_refused_before_anything_runs() {
    let f = Fixture::standard();
    f.add(
        "2026-02-01-000000_sneaky_commit",
        "CREATE TABLE half (id int);\n-- make it stick\nCOMMIT;\nCREATE TABLE other_half (id int);\n",
        Some("DROP TABLE other_half; DROP TABLE half;"),
    );
    let db = TestDb::empty();
    let before = db.full_dump();
    let text = migrate(&db, &f, &["up"], 2);
    assert!(
        text.contains("2026-02-01-000000_sneaky_commit/up.sql")
            && text.contains("line 3")
            && text.contains("`COMMIT`")
            && text.contains("run_in_transaction = false"),
        "{text}"
    );
    assert_eq!(db.full_dump(), before);

    // Routine bodies with their own BEGIN/COMMIT are not transaction control.
    let g = Fixture::standard();
    g.add(
        "2026-02-01-000000_routines",
        "DO $$\nBEGIN\n  CREATE TABLE made_in_do (id int);\nEND\n$$;\n\
         CREATE PROCEDURE batch() LANGUAGE plpgsql AS $body$\nBEGIN\n  COMMIT;\n  ROLLBACK;\nEND\n$body$;\n\
         CREATE FUNCTION one() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\n",
        Some("DROP FUNCTION one(); DROP PROCEDURE batch(); DROP TABLE made_in_do;"),
    );
    migrate(&db, &g, &["up"], 0);
    assert_eq!(
        db.count("SELECT count(*) FROM pg_tables WHERE tablename = 'made_in_do'"),
        1
    );
}

#[test]
fn lock_timeout_names_the_blocking_session_instead_of_blaming_the_sql() {
    let f = Fixture::standard();
    let db = TestDb::empty();
    migrate(&db, &f, &["up"], 0);
    f.add(
        "2026-02-01-000000_touch_accounts",
        "ALTER TABLE accounts ADD COLUMN note text;",
        Some("ALTER TABLE accounts DROP COLUMN note;"),
    );
    let mut blocker = db.client();
    blocker
        .batch_execute("SET application_name = 'blocker-under-test'")
        .unwrap();
    let pid: i32 = blocker
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let mut tx = blocker.transaction().unwrap();
    tx.batch_execute("LOCK TABLE accounts IN ACCESS SHARE MODE")
        .unwrap();
    let text = migrate(
        &db,
        &f,
        &["--lock-timeout", "500ms", "--lock-retries", "1", "up"],
        8,
    );
    assert!(
        text.contains(&format!("pid {pid} (blocker-under-test, user "))
            && text.contains("idle in transaction")
            && text.contains("pg_terminate_backend"),
        "{text}"
    );
    assert!(!text.contains("Fix the migration's SQL"), "{text}");
    tx.rollback().unwrap();
}
