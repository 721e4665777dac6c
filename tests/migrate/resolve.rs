//! `migrate resolve VERSION --applied | --rolled-back` (issue 11, item 5): refused when the
//! database contradicts the claim, recorded and audited when it agrees.

use groundwork_testdb::{Fixture, TestDb, migrate_cmd, normalise, output_text, run_expect, stderr};

/// A staging database where a non-transactional unique index build failed on duplicate
/// keys, leaving an INVALID index.
fn failed_index_build() -> (Fixture, TestDb) {
    let f = Fixture::empty();
    f.add(
        "2026-01-10-090000_create_t",
        "CREATE TABLE t (id int PRIMARY KEY, k int);\nINSERT INTO t VALUES (1, 1), (2, 1);\n",
        Some("DROP TABLE t;\n"),
    );
    f.add_non_transactional(
        "2026-01-11-090000_unique_k",
        "ALTER TABLE t ADD COLUMN IF NOT EXISTS note text;\nCREATE UNIQUE INDEX CONCURRENTLY t_k_key ON t (k);\n",
        Some("DROP INDEX CONCURRENTLY IF EXISTS t_k_key;\nALTER TABLE t DROP COLUMN note;\n"),
    );
    let db = TestDb::empty();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--env", "staging", "up"]),
        8,
    );
    (f, db)
}

fn resolve(db: &TestDb, f: &Fixture, claim: &str) -> std::process::Output {
    migrate_cmd(db)
        .args([
            "--migrations-dir",
            &f.arg(),
            "resolve",
            "20260111090000",
            claim,
        ])
        .output()
        .expect("spawn migrate")
}

fn sql(db: &TestDb, statement: &str) {
    db.client().batch_execute(statement).expect(statement);
}

#[test]
fn applied_is_refused_while_its_index_is_invalid_and_accepted_once_rebuilt() {
    let (f, db) = failed_index_build();
    let before = db.full_dump();
    let out = resolve(&db, &f, "--applied");
    assert_eq!(out.status.code(), Some(4), "{}", output_text(&out));
    let err = stderr(&out);
    assert!(err.contains("INVALID") && err.contains("t_k_key"), "{err}");
    assert_eq!(before, db.full_dump(), "a refused resolve changes nothing");
    insta::assert_snapshot!("resolve_applied_invalid_index", normalise(&err));

    // The person fixes the data and builds the index by hand.
    sql(&db, "DROP INDEX t_k_key");
    sql(&db, "DELETE FROM t WHERE id = 2");
    sql(&db, "CREATE UNIQUE INDEX CONCURRENTLY t_k_key ON t (k)");
    let out = resolve(&db, &f, "--applied");
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(
        stderr(&out).contains("checked: index public.t_k_key exists and is valid"),
        "{}",
        output_text(&out)
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM groundwork.audit_migrations m JOIN groundwork.audit_runs r ON r.id = m.run_id \
             WHERE r.command = 'resolve' AND m.action = 'resolve' AND m.outcome = 'succeeded' \
             AND m.detail LIKE 'marked applied by hand%index public.t_k_key exists and is valid%'"
        ),
        1
    );
    // Now applied, with its checksum: verify is clean, status shows it, up has nothing to do.
    let v = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "verify"]),
        0,
    );
    assert!(
        !String::from_utf8_lossy(&v.stdout).contains("PARTIAL"),
        "{}",
        output_text(&v)
    );
    let up = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
    assert!(
        String::from_utf8_lossy(&up.stdout).contains("Nothing to apply"),
        "{}",
        output_text(&up)
    );
}

#[test]
fn rolled_back_is_refused_while_its_objects_exist_and_accepted_once_removed() {
    let (f, db) = failed_index_build();
    let before = db.full_dump();
    let out = resolve(&db, &f, "--rolled-back");
    assert_eq!(out.status.code(), Some(4), "{}", output_text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("t_k_key") && err.contains("still exists"),
        "{err}"
    );
    assert!(err.contains("column t.note still exists"), "{err}");
    assert_eq!(before, db.full_dump());

    sql(&db, "DROP INDEX t_k_key");
    sql(&db, "ALTER TABLE t DROP COLUMN note");
    let out = resolve(&db, &f, "--rolled-back");
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    // The failure is ended: verify no longer reports it; the migration is pending again.
    let v = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "verify"]),
        0,
    );
    assert!(
        !String::from_utf8_lossy(&v.stdout).contains("PARTIAL"),
        "{}",
        output_text(&v)
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM __diesel_schema_migrations WHERE version = '20260111090000'"
        ),
        0
    );
    assert_eq!(
        db.count("SELECT count(*) FROM groundwork.audit_migrations WHERE action = 'resolve' AND detail LIKE 'marked rolled back%'"),
        1
    );
}

#[test]
fn resolve_in_prod_needs_confirmation() {
    let (f, db) = failed_index_build();
    sql(&db, "UPDATE groundwork.environment SET env = 'prod'");
    sql(&db, "DROP INDEX t_k_key");
    sql(&db, "ALTER TABLE t DROP COLUMN note");
    let before = db.full_dump();
    let out = migrate_cmd(&db)
        .args([
            "--migrations-dir",
            &f.arg(),
            "--env",
            "prod",
            "resolve",
            "20260111090000",
            "--rolled-back",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(4), "{}", output_text(&out));
    assert!(stderr(&out).contains("--yes"), "{}", output_text(&out));
    assert_eq!(before, db.full_dump());
    run_expect(
        migrate_cmd(&db).args([
            "--migrations-dir",
            &f.arg(),
            "--env",
            "prod",
            "--yes",
            "resolve",
            "20260111090000",
            "--rolled-back",
        ]),
        0,
    );
}

#[test]
fn a_transactional_or_applied_migration_has_nothing_to_resolve() {
    let (f, db) = failed_index_build();
    let out = run_expect(
        migrate_cmd(&db).args([
            "--migrations-dir",
            &f.arg(),
            "resolve",
            "20260110090000",
            "--applied",
        ]),
        4,
    );
    assert!(
        stderr(&out).contains("already recorded as applied"),
        "{}",
        output_text(&out)
    );
}
