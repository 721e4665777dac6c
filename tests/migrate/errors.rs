//! Every error a `migrate` user will hit: a clear message, the documented exit code, and the
//! database left exactly as it was.

use groundwork_testdb::{Fixture, TestDb, migrate_cmd, normalise, run_expect, stderr};

#[test]
fn unreachable_server_exits_3() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    let out = run_expect(
        migrate_cmd(&db)
            .env(
                "DATABASE_URL",
                "postgres://postgres:hunter2@127.0.0.1:1/nowhere",
            )
            .args(["--migrations-dir", &f.arg(), "up"]),
        3,
    );
    let err = stderr(&out);
    insta::assert_snapshot!(normalise(&err));
    assert!(!err.contains("hunter2"), "password leaked: {err}");
}

#[test]
fn malformed_url_exits_2() {
    let db = TestDb::empty();
    let out = run_expect(
        migrate_cmd(&db)
            .env("DATABASE_URL", "postgres://u:hunter2@host:port/db")
            .arg("status"),
        2,
    );
    let err = stderr(&out);
    insta::assert_snapshot!(normalise(&err));
    assert!(!err.contains("hunter2"), "password leaked: {err}");
}

#[test]
fn missing_database_exits_3_and_suggests_setup() {
    let db = TestDb::empty();
    let url = groundwork_testdb::url_for_db(db.url(), &format!("{}_missing", db.name()));
    let out = run_expect(migrate_cmd(&db).env("DATABASE_URL", url).arg("up"), 3);
    let err = stderr(&out);
    // No snapshot: the message holds the test server's URL, which differs between machines.
    assert!(
        err.contains("does not exist") && err.contains("migrate setup"),
        "{err}"
    );
}

#[test]
fn unknown_to_version_exits_2_lists_versions_and_changes_nothing() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up", "--to", "20260110090000"]),
        0,
    );
    let before = db.full_dump();
    for args in [
        ["up", "--to", "20990101000000"],
        ["down", "--to", "20990101000000"],
    ] {
        let out = run_expect(
            migrate_cmd(&db)
                .args(["--migrations-dir", &f.arg()])
                .args(args),
            2,
        );
        let err = stderr(&out);
        insta::assert_snapshot!(format!("unknown_to_version_{}", args[0]), normalise(&err));
    }
    assert_eq!(before, db.full_dump());
}

#[test]
fn missing_migrations_folder_exits_2_naming_it() {
    let db = TestDb::empty();
    let before = db.full_dump();
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", "/no/such/migrations", "up"]),
        2,
    );
    insta::assert_snapshot!(normalise(&stderr(&out)));
    assert_eq!(before, db.full_dump());
}

#[test]
fn folder_without_up_sql_exits_2_naming_it() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    let broken = f.path().join("2026-02-01-000000_broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("down.sql"), "SELECT 1;").unwrap();
    let before = db.full_dump();
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        2,
    );
    let err = stderr(&out);
    insta::assert_snapshot!(normalise(&err));
    assert_eq!(before, db.full_dump());
}

#[test]
fn failing_migration_exits_8_rolls_back_and_keeps_earlier_ones() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    f.add(
        "2026-02-01-000000_bad",
        "CREATE TABLE half_done (id int);\nINSERT INTO no_such_table VALUES (1);\n",
        Some("DROP TABLE half_done;"),
    );
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        8,
    );
    insta::assert_snapshot!(normalise(&stderr(&out)));
    // The four earlier migrations stay applied; nothing of the bad one remains.
    assert_eq!(
        db.count("SELECT count(*) FROM __diesel_schema_migrations"),
        4
    );
    assert_eq!(
        db.count("SELECT count(*) FROM pg_tables WHERE tablename = 'half_done'"),
        0
    );
    // Rerunning fails the same way and changes nothing but the audit log.
    let outside_audit = || groundwork_testdb::pg_dump(db.url(), &["--exclude-schema=groundwork"]);
    let before = outside_audit();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        8,
    );
    assert_eq!(before, outside_audit());
    assert_eq!(
        db.count("SELECT count(*) FROM groundwork.audit_migrations WHERE version = '20260201000000' AND outcome = 'failed'"),
        2
    );
}

#[test]
fn failing_first_migration_leaves_only_its_audit_record() {
    let db = TestDb::empty();
    let f = Fixture::empty();
    f.add(
        "2026-01-01-000000_bad",
        "CREATE TABLE t (id int);\nSELEC 1;",
        None,
    );
    let outside_audit = || groundwork_testdb::pg_dump(db.url(), &["--exclude-schema=groundwork"]);
    let before = outside_audit();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        8,
    );
    assert_eq!(
        before,
        outside_audit(),
        "everything but the audit log is as before"
    );
    assert_eq!(
        db.rows_as_text("SELECT outcome, action, version FROM groundwork.audit_migrations"),
        ["(failed,apply,20260101000000)"]
    );
    assert_eq!(
        db.rows_as_text("SELECT outcome FROM groundwork.audit_runs"),
        ["(failed)"]
    );
}

#[test]
fn down_all_failing_part_way_exits_8_and_says_what_was_reverted() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    // Its down.sql fails, so `down --all` stops there.
    f.add(
        "2026-01-11-120000_bad_down",
        "CREATE TABLE keepme (id int);",
        Some("DROP TABLE keepme;\nDROP TABLE no_such_table;"),
    );
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "down", "--all"]),
        8,
    );
    insta::assert_snapshot!(normalise(&stderr(&out)));
    // The failed down rolled back; it and the older ones are still applied.
    assert_eq!(
        db.count("SELECT count(*) FROM pg_tables WHERE tablename = 'keepme'"),
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM __diesel_schema_migrations"),
        4
    );
}

#[test]
fn failing_non_transactional_migration_exits_8_and_explains_cleanup() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    // The unique index fails on duplicate data and leaves an INVALID index behind.
    f.add_non_transactional(
        "2026-02-01-000000_unique_names",
        "INSERT INTO accounts (id, name) VALUES ('00000000-0000-0000-0000-000000000002', 'semi;colon');\nCREATE UNIQUE INDEX CONCURRENTLY accounts_name_key ON accounts (name);\n",
        Some("DROP INDEX CONCURRENTLY IF EXISTS accounts_name_key;"),
    );
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        8,
    );
    insta::assert_snapshot!(normalise(&stderr(&out)));
    assert_eq!(
        db.count("SELECT count(*) FROM __diesel_schema_migrations"),
        4
    );
}
