//! `plan` grades each statement's lock by the live size of its table (issue 11, item 2).

use groundwork_testdb::{Fixture, TestDb, migrate_cmd, run_expect};

fn fixture() -> Fixture {
    let f = Fixture::empty();
    f.add(
        "2026-01-10-090000_create_assets",
        "CREATE TABLE assets (id int PRIMARY KEY, name text NOT NULL);\n",
        Some("DROP TABLE assets;\n"),
    );
    f.add(
        "2026-01-11-090000_retype_assets",
        // Allowed, so the prod gate gets past lint to the confirmation this module is about.
        "-- migrate:allow changing-column-type reason: the lock line with the table's size is what is tested\nALTER TABLE assets ALTER COLUMN name TYPE varchar(200);\n",
        Some("ALTER TABLE assets ALTER COLUMN name TYPE text;\n"),
    );
    f
}

fn plan_lock(db: &TestDb, f: &Fixture) -> (String, serde_json::Value) {
    let text = run_expect(
        migrate_cmd(db).args(["--migrations-dir", &f.arg(), "plan"]),
        0,
    );
    let json = run_expect(
        migrate_cmd(db).args(["--migrations-dir", &f.arg(), "--json", "plan"]),
        0,
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    (
        String::from_utf8_lossy(&text.stdout).into_owned(),
        v["pending"][0]["locks"][0].clone(),
    )
}

#[test]
fn the_same_lock_reads_differently_on_an_empty_and_a_seeded_table() {
    let f = fixture();
    let db = TestDb::empty();
    run_expect(
        migrate_cmd(&db).args([
            "--migrations-dir",
            &f.arg(),
            "--env",
            "dev",
            "up",
            "--to",
            "20260110090000",
        ]),
        0,
    );
    let (text, lock) = plan_lock(&db, &f);
    assert!(
        text.contains("lock: ACCESS EXCLUSIVE on assets (0 rows, "),
        "{text}"
    );
    assert_eq!(lock["mode"], "ACCESS EXCLUSIVE");
    assert_eq!(lock["rows"], 0);

    let mut c = db.client();
    c.batch_execute(
        "INSERT INTO assets SELECT g, repeat('x', 100) FROM generate_series(1, 120000) g; ANALYZE assets;",
    )
    .unwrap();
    let (text, lock) = plan_lock(&db, &f);
    assert!(
        text.contains("lock: ACCESS EXCLUSIVE on assets (120.0 k rows, "),
        "{text}"
    );
    assert!(
        text.contains(" MB): ALTER TABLE assets ALTER COLUMN name TYPE"),
        "{text}"
    );
    assert_eq!(lock["rows"], 120000);
    assert!(lock["bytes"].as_i64().unwrap() > 10_000_000, "{lock}");
}

#[test]
fn a_never_analysed_table_is_counted_not_shown_as_minus_one() {
    let f = fixture();
    let db = TestDb::empty();
    run_expect(
        migrate_cmd(&db).args([
            "--migrations-dir",
            &f.arg(),
            "--env",
            "dev",
            "up",
            "--to",
            "20260110090000",
        ]),
        0,
    );
    db.client()
        .batch_execute("INSERT INTO assets SELECT g, 'a' FROM generate_series(1, 10) g")
        .unwrap();
    let (text, lock) = plan_lock(&db, &f);
    assert!(!text.contains("-1"), "{text}");
    assert_eq!(lock["rows"], 10, "{text}");
}

#[test]
fn the_prod_confirmation_shows_locks_with_sizes() {
    let f = fixture();
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
            .arg(tempfile::tempdir().unwrap().path().join("b"))
            .args(["up", "--to", "20260110090000"]),
        0,
    );
    let out = run_expect(
        migrate_cmd(&db)
            .args(["--migrations-dir", &f.arg(), "--env", "prod", "up"])
            .stdin(std::process::Stdio::null()),
        4,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("lock: ACCESS EXCLUSIVE on assets (0 rows, "),
        "{err}"
    );
}
