//! Production-safety guards of `migrate`: environment stamp, one migrator at a time, drift,
//! database ahead, killed runs. Every refusal leaves the database exactly as it was.

use std::process::Stdio;
use std::time::{Duration, Instant};

use groundwork_testdb::{Fixture, TestDb, migrate_cmd, output_text, run_expect, stderr};

#[test]
fn environment_stamp_is_recorded_and_a_mismatch_is_refused() {
    let db = TestDb::empty();
    let f = Fixture::standard();
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
    assert_eq!(
        db.rows_as_text("SELECT env FROM groundwork.environment"),
        ["(staging)"]
    );
    let before = db.full_dump();
    for env in ["prod", "dev"] {
        let out = run_expect(
            migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--env", env, "up"]),
            4,
        );
        let err = stderr(&out);
        assert!(
            err.contains("stamped as environment `staging`") && err.contains(env),
            "{err}"
        );
    }
    // APP_ENV counts like --env.
    run_expect(
        migrate_cmd(&db)
            .env("APP_ENV", "prod")
            .args(["--migrations-dir", &f.arg(), "down"]),
        4,
    );
    assert_eq!(before, db.full_dump());
    // Read-only commands still work and show the stamp.
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--json", "status"]),
        0,
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["environment"], "staging");
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--env", "staging", "up"]),
        0,
    );
}

/// A session holding the migration lock, as another migrator would.
fn hold_migration_lock(db: &TestDb) -> postgres::Client {
    let mut c = db.client();
    c.batch_execute("SET application_name = 'other-migrator-under-test'")
        .unwrap();
    c.query_one(
        "SELECT pg_advisory_lock($1)",
        &[&groundwork_migrate::MIGRATION_LOCK_KEY],
    )
    .unwrap();
    c
}

#[test]
fn a_held_lock_times_out_naming_the_holder_and_changes_nothing() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    let holder = hold_migration_lock(&db);
    let before = db.full_dump();
    let started = Instant::now();
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--lock-wait", "1s", "up"]),
        6,
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    let err = stderr(&out);
    assert!(
        err.contains("Waiting for the migration lock held by pid"),
        "{err}"
    );
    assert!(
        err.contains("other-migrator-under-test") && err.contains("connected since"),
        "{err}"
    );
    assert!(err.contains("--lock-wait"), "{err}");
    assert_eq!(before, db.full_dump());
    drop(holder);
    // Once the holder is gone the next run is not blocked.
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--lock-wait", "5s", "up"]),
        0,
    );
}

#[test]
fn a_waiting_migrator_proceeds_when_the_lock_is_released() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    let holder = hold_migration_lock(&db);
    let child = migrate_cmd(&db)
        .args(["--migrations-dir", &f.arg(), "--lock-wait", "30s", "up"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    drop(holder);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(stderr(&out).contains("Waiting for the migration lock"));
    assert_eq!(
        db.count("SELECT count(*) FROM __diesel_schema_migrations"),
        4
    );
}

#[test]
fn six_concurrent_ups_apply_each_migration_exactly_once() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    let children: Vec<_> = (0..6)
        .map(|_| {
            migrate_cmd(&db)
                .args(["--migrations-dir", &f.arg(), "--lock-wait", "60s", "up"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut applied_lines = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
        applied_lines += String::from_utf8_lossy(&out.stdout)
            .matches("Applied ")
            .count();
    }
    assert_eq!(
        applied_lines, 4,
        "each migration applied by exactly one process"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM __diesel_schema_migrations"),
        4
    );
    assert_eq!(
        db.count("SELECT count(*) FROM groundwork.audit_migrations WHERE action = 'apply' AND outcome = 'succeeded'"),
        4
    );
}

#[test]
fn a_run_killed_mid_up_is_recovered_by_the_next_run() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    f.add(
        "2026-01-13-090000_slow",
        "CREATE TABLE slow_one (id int);\nSELECT pg_sleep(30);\n",
        Some("DROP TABLE slow_one;"),
    );
    let mut child = migrate_cmd(&db)
        .args(["--migrations-dir", &f.arg(), "up"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the slow migration is running.
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.count("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()") == 0 {
        assert!(Instant::now() < deadline, "the slow migration never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The server notices the dead client and rolls back; the lock goes with the session.
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.count("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()") > 0 {
        assert!(Instant::now() < deadline, "the killed session never ended");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        db.count("SELECT count(*) FROM pg_tables WHERE tablename = 'slow_one'"),
        0
    );

    // Rerun without the sleep (same file content otherwise would sleep again: replace it).
    std::fs::write(
        f.path().join("2026-01-13-090000_slow/up.sql"),
        "CREATE TABLE slow_one (id int);\n",
    )
    .unwrap();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--lock-wait", "10s", "up"]),
        0,
    );
    assert_eq!(
        db.rows_as_text("SELECT outcome FROM groundwork.audit_runs ORDER BY id"),
        ["(interrupted)", "(succeeded)"]
    );

    let clean = TestDb::empty();
    run_expect(
        migrate_cmd(&clean).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
    assert_eq!(clean.schema_dump(), db.schema_dump());
}

#[test]
fn a_tampered_applied_migration_blocks_up_until_accepted() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up", "--to", "20260111090000"]),
        0,
    );
    let file = f.path().join("2026-01-10-090000_create_accounts/up.sql");
    let original = std::fs::read_to_string(&file).unwrap();

    // Line endings alone are not drift.
    std::fs::write(&file, original.replace('\n', "\r\n")).unwrap();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "verify"]),
        0,
    );

    std::fs::write(&file, format!("{original}-- edited after release\n")).unwrap();
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "verify"]),
        5,
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("CHANGED  20260110090000 create_accounts"),
        "{}",
        output_text(&out)
    );
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--json", "verify"]),
        5,
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["changed"][0]["version"], "20260110090000");

    let before = db.full_dump();
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        5,
    );
    let err = stderr(&out);
    assert!(
        err.contains("20260110090000 create_accounts") && err.contains("accept-checksum"),
        "{err}"
    );
    assert_eq!(before, db.full_dump(), "drift refusal changes nothing");

    run_expect(
        migrate_cmd(&db).args([
            "--migrations-dir",
            &f.arg(),
            "accept-checksum",
            "20260110090000",
        ]),
        0,
    );
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "verify"]),
        0,
    );
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
    assert_eq!(
        db.count("SELECT count(*) FROM groundwork.audit_migrations WHERE action = 'accept_checksum' AND version = '20260110090000'"),
        1
    );
}

#[test]
fn a_database_ahead_of_the_binary_is_detected_and_blocks_up() {
    let db = TestDb::empty();
    let newer = Fixture::standard();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &newer.arg(), "up"]),
        0,
    );
    let older = Fixture::standard();
    std::fs::remove_dir_all(older.path().join("2026-01-12-090000_index_engagements")).unwrap();
    older.add(
        "2026-01-11-100000_new_in_old_binary",
        "CREATE TABLE x (id int);",
        Some("DROP TABLE x;"),
    );

    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &older.arg(), "verify"]),
        5,
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("UNKNOWN  20260112090000"),
        "{}",
        output_text(&out)
    );
    let before = db.full_dump();
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &older.arg(), "up"]),
        5,
    );
    assert!(
        stderr(&out).contains("database is ahead") || stderr(&out).contains("ahead of this binary"),
        "{}",
        output_text(&out)
    );
    assert_eq!(before, db.full_dump());
}

#[test]
fn a_failed_non_transactional_migration_is_explained_on_the_next_run() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    f.add_non_transactional(
        "2026-02-01-000000_unique_names",
        "INSERT INTO accounts (id, name) VALUES ('00000000-0000-0000-0000-000000000002', 'semi;colon');\nCREATE UNIQUE INDEX CONCURRENTLY accounts_name_key ON accounts (name);\n",
        Some("DROP INDEX CONCURRENTLY IF EXISTS accounts_name_key;"),
    );
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        8,
    );
    assert_eq!(
        db.rows_as_text("SELECT outcome, statements_done FROM groundwork.audit_migrations WHERE version = '20260201000000'"),
        ["(failed,1)"]
    );
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "verify"]),
        0,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("PARTIAL") && text.contains("public.accounts_name_key"),
        "{text}"
    );
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        8,
    );
    let err = stderr(&out);
    assert!(
        err.contains("failed part-way") && err.contains("DROP INDEX CONCURRENTLY"),
        "{err}"
    );
}

#[test]
fn after_a_failed_run_the_next_run_is_not_blocked() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    let bad = f.add(
        "2026-02-01-000000_fixable",
        "CREATE TABLE fixable (id int);\nSELEC 1;\n",
        Some("DROP TABLE fixable;"),
    );
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        8,
    );
    // The failed migration was never applied, so fixing it is not drift; the lock is free.
    std::fs::write(bad.join("up.sql"), "CREATE TABLE fixable (id int);\n").unwrap();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--lock-wait", "0s", "up"]),
        0,
    );
    assert_eq!(
        db.rows_as_text("SELECT outcome FROM groundwork.audit_runs ORDER BY id"),
        ["(failed)", "(succeeded)"]
    );
}
