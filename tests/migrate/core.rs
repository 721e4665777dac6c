//! `migrate` core commands against a real database: up, status, down, redo, setup.

use groundwork_testdb::{Fixture, TestDb, migrate_cmd, output_text, run_expect};

fn status_json(db: &TestDb, fixture: Option<&Fixture>) -> serde_json::Value {
    let mut cmd = migrate_cmd(db);
    if let Some(f) = fixture {
        cmd.args(["--migrations-dir", &f.arg()]);
    }
    let out = run_expect(cmd.args(["--json", "status"]), 0);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", output_text(&out)))
}

#[test]
fn up_applies_everything_and_prints_one_line_per_migration() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for v in Fixture::STANDARD_VERSIONS {
        assert!(
            stdout.contains(&format!("Applied {v} ")),
            "{}",
            output_text(&out)
        );
    }
    assert!(
        stdout.contains("Applied 20260110090000 create_accounts ("),
        "{stdout}"
    );
    let status = status_json(&db, Some(&f));
    assert_eq!(status["applied_count"], 4);
    assert_eq!(status["pending_count"], 0);
    assert_eq!(
        db.count("SELECT count(*) FROM groundwork.migration_checksums"),
        4,
        "every applied migration has a checksum"
    );
    // The CONCURRENTLY index exists and is valid.
    assert_eq!(
        db.count("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'engagements_account_idx' AND i.indisvalid"),
        1
    );
    // A second run has nothing to do.
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Nothing to apply"));
}

#[test]
fn down_all_then_up_gives_the_same_schema() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
    let first = db.schema_dump();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "down", "--all"]),
        0,
    );
    assert_eq!(status_json(&db, Some(&f))["applied_count"], 0);
    assert_eq!(db.count("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations'"), 0);
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
    assert_eq!(first, db.schema_dump());
}

#[test]
fn embedded_migrations_down_all_then_up_gives_the_same_schema() {
    let db = TestDb::migrated();
    let first = db.schema_dump();
    run_expect(migrate_cmd(&db).args(["--env", "test", "down", "--all"]), 0);
    run_expect(migrate_cmd(&db).args(["--env", "test", "up"]), 0);
    assert_eq!(first, db.schema_dump());
}

#[test]
fn up_to_down_steps_down_to_and_redo() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    let dir = f.arg();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &dir, "up", "--to", "20260110090000"]),
        0,
    );
    assert_eq!(status_json(&db, Some(&f))["applied_count"], 2);
    run_expect(migrate_cmd(&db).args(["--migrations-dir", &dir, "up"]), 0);
    let full = db.schema_dump();

    let out = run_expect(migrate_cmd(&db).args(["--migrations-dir", &dir, "down"]), 0);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Reverted 20260112090000 index_engagements")
    );
    assert_eq!(status_json(&db, Some(&f))["applied_count"], 3);

    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &dir, "down", "--steps", "2"]),
        0,
    );
    assert_eq!(status_json(&db, Some(&f))["applied_count"], 1);

    run_expect(migrate_cmd(&db).args(["--migrations-dir", &dir, "up"]), 0);
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &dir, "down", "--to", "20260110090000"]),
        0,
    );
    let status = status_json(&db, Some(&f));
    assert_eq!(status["applied_count"], 2);
    assert_eq!(status["migrations"][1]["state"], "applied");
    assert_eq!(status["migrations"][2]["state"], "pending");

    run_expect(migrate_cmd(&db).args(["--migrations-dir", &dir, "up"]), 0);
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &dir, "redo", "--steps", "2"]),
        0,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Reverted 20260111090000") && text.contains("Applied 20260111090000"),
        "{text}"
    );
    assert_eq!(full, db.schema_dump());
}

#[test]
fn status_table_shows_applied_and_pending_with_dates() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up", "--to", "20260110090000"]),
        0,
    );
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "status"]),
        0,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("create_accounts") && text.contains("applied") && text.contains("pending"),
        "{text}"
    );
    assert!(text.contains("2 applied, 2 pending"), "{text}");
    let status = status_json(&db, Some(&f));
    assert!(status["migrations"][0]["applied_at"].is_string());
    assert!(status["migrations"][3]["applied_at"].is_null());
}

#[test]
fn status_does_not_change_a_fresh_database() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    let before = db.full_dump();
    status_json(&db, Some(&f));
    assert_eq!(before, db.full_dump());
}

#[test]
fn setup_creates_a_missing_database_and_migrates_it() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    let name = format!("{}_setup", db.name());
    let url = groundwork_testdb::url_for_db(db.url(), &name);
    let out = run_expect(
        migrate_cmd(&db)
            .env("DATABASE_URL", &url)
            .args(["--migrations-dir", &f.arg(), "setup"]),
        0,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("Created database {name}")), "{text}");
    assert!(text.contains("Applied 20260112090000"), "{text}");
    // Idempotent.
    let out = run_expect(
        migrate_cmd(&db)
            .env("DATABASE_URL", &url)
            .args(["--migrations-dir", &f.arg(), "setup"]),
        0,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("already exists"));
    db.client()
        .batch_execute(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .unwrap();
}

#[test]
fn a_closed_stdout_does_not_crash_the_run() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    let mut child = migrate_cmd(&db)
        .args(["--migrations-dir", &f.arg(), "up"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away, like `migrate up | head -0`
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_eq!(
        db.count("SELECT count(*) FROM __diesel_schema_migrations"),
        4,
        "every migration still applied"
    );
}
