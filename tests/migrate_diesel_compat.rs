//! diesel_cli and `migrate` agree on the same database, in both directions.
//! Needs `diesel` (diesel_cli) on PATH; CI installs it.

use std::process::Command;

use groundwork_e2e::{TestDb, migrate_cmd, output_text, run_expect};

use crate::migrate_fixtures::Fixture;

/// diesel_cli runs a migration's SQL in one simple query, so it cannot run a
/// multi-statement CONCURRENTLY migration; this fixture keeps each migration diesel-friendly.
fn diesel_friendly() -> Fixture {
    Fixture::standard()
}

fn diesel(db: &TestDb, f: &Fixture, args: &[&str]) -> String {
    let out = Command::new("diesel")
        .args(["migration"])
        .args(args)
        .args(["--migration-dir", &f.arg()])
        .env("DATABASE_URL", db.url())
        .current_dir(f.path())
        .output()
        .expect("run diesel (install diesel_cli 2.3 and put it on PATH)");
    assert!(
        out.status.success(),
        "diesel failed:\n{}",
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn diesel_lists_migrations_applied_by_migrate() {
    let db = TestDb::empty();
    let f = diesel_friendly();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
    let list = diesel(&db, &f, &["list"]);
    for dir in [
        "00000000000000_diesel_initial_setup",
        "2026-01-10-090000_create_accounts",
        "2026-01-11-090000_create_engagements",
        "2026-01-12-090000_index_engagements",
    ] {
        assert!(
            list.contains(&format!("[X] {dir}")),
            "{dir} not applied per diesel:\n{list}"
        );
    }
    // And diesel can revert what migrate applied.
    diesel(&db, &f, &["revert"]);
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--json", "status"]),
        0,
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["applied_count"], 3);
}

#[test]
fn migrate_status_shows_migrations_applied_by_diesel_and_adopts_them() {
    let db = TestDb::empty();
    let f = diesel_friendly();
    diesel(&db, &f, &["run"]);
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--json", "status"]),
        0,
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["applied_count"], 4, "{status}");
    assert_eq!(status["pending_count"], 0);

    // The database has no stamp yet but holds tables: only an explicit --env may stamp it.
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        4,
    );
    // The next `up` with --env adopts them (records checksums) without re-running or complaining.
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--env", "dev", "up"]),
        0,
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Nothing to apply"),
        "{}",
        output_text(&out)
    );
    assert_eq!(
        db.count("SELECT count(*) FROM groundwork.migration_checksums"),
        4
    );

    // And migrate can revert and reapply them, ending at the same schema as diesel's run.
    let diesel_schema = db.schema_dump();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "down", "--all"]),
        0,
    );
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
    assert_eq!(diesel_schema, db.schema_dump());
}

fn diesel_on_project(db: &TestDb, args: &[&str]) -> String {
    let root = groundwork_e2e::workspace_root();
    let out = Command::new("diesel")
        .args(["migration"])
        .args(args)
        .arg("--migration-dir")
        .arg(root.join("migrations"))
        .env("DATABASE_URL", db.url())
        .current_dir(groundwork_e2e::scratch_dir())
        .output()
        .expect("run diesel (install diesel_cli 2.3 and put it on PATH)");
    assert!(
        out.status.success(),
        "diesel failed:\n{}",
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn project_migrations_agree_between_migrate_and_diesel_both_ways() {
    // migrate (embedded) → diesel sees every project migration applied.
    let db = TestDb::empty();
    run_expect(migrate_cmd(&db).arg("up"), 0);
    let list = diesel_on_project(&db, &["list"]);
    assert!(
        !list.contains("[ ]"),
        "diesel sees pending migrations:\n{list}"
    );
    let applied = list.matches("[X]").count();
    assert!(applied >= 1, "{list}");

    // diesel → migrate status shows the same, and up adopts them without drift.
    let other = TestDb::empty();
    diesel_on_project(&other, &["run"]);
    let out = run_expect(migrate_cmd(&other).args(["--json", "status"]), 0);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["applied_count"], applied, "{status}");
    assert_eq!(status["pending_count"], 0);
    run_expect(migrate_cmd(&other).arg("verify"), 0);
    run_expect(migrate_cmd(&other).args(["--env", "dev", "up"]), 0);
    assert_eq!(
        db.schema_dump().replace(db.name(), "X"),
        other.schema_dump().replace(other.name(), "X")
    );
}
