//! diesel_cli and `migrate` agree on the same database, in both directions.
//!
//! The diesel side is diesel's own bookkeeping code, run in-process: the
//! `diesel_migrations::MigrationHarness` that `diesel migration run/revert/list`
//! drives, over `FileBasedMigrations` (how diesel_cli reads a folder), on an
//! `AsyncConnectionWrapper<AsyncPgConnection>` so no libpq and no `diesel`
//! binary is needed. `print-schema` checks stay in `.ci/run`.

use std::path::Path;

use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use groundwork_testdb::{Fixture, TestDb, migrate_cmd, output_text, run_expect};

type DieselConn = AsyncConnectionWrapper<AsyncPgConnection>;

/// diesel runs a migration's SQL in one simple query, so it cannot run a
/// multi-statement CONCURRENTLY migration; this fixture keeps each migration diesel-friendly.
fn diesel_friendly() -> Fixture {
    Fixture::standard()
}

/// A diesel connection to `db`, as diesel_cli opens one.
fn diesel_conn(db: &TestDb) -> DieselConn {
    // Fully qualified: diesel_async::AsyncConnection has an `establish` too.
    <DieselConn as diesel::Connection>::establish(db.url())
        .unwrap_or_else(|e| panic!("diesel cannot connect to {}: {e}", db.name()))
}

/// The folder as diesel_cli reads it (`--migration-dir`).
fn diesel_folder(dir: &Path) -> FileBasedMigrations {
    FileBasedMigrations::from_path(dir)
        .unwrap_or_else(|e| panic!("diesel cannot read {}: {e}", dir.display()))
}

/// Versions diesel considers applied (`diesel migration list`'s `[X]`).
fn diesel_applied(db: &TestDb) -> Vec<String> {
    let mut conn = diesel_conn(db);
    let mut versions: Vec<String> = conn
        .applied_migrations()
        .unwrap_or_else(|e| panic!("diesel applied_migrations: {e}"))
        .iter()
        .map(ToString::to_string)
        .collect();
    versions.sort();
    versions
}

/// Versions diesel considers pending in `dir` (`diesel migration list`'s `[ ]`).
fn diesel_pending(db: &TestDb, dir: &Path) -> Vec<String> {
    let mut conn = diesel_conn(db);
    conn.pending_migrations(diesel_folder(dir))
        .unwrap_or_else(|e| panic!("diesel pending_migrations: {e}"))
        .iter()
        .map(|m| m.name().version().to_string())
        .collect()
}

/// `diesel migration run`.
fn diesel_run(db: &TestDb, dir: &Path) -> Vec<String> {
    let mut conn = diesel_conn(db);
    conn.run_pending_migrations(diesel_folder(dir))
        .unwrap_or_else(|e| panic!("diesel run_pending_migrations: {e}"))
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// `diesel migration revert`: the last applied migration.
fn diesel_revert(db: &TestDb, dir: &Path) -> String {
    let mut conn = diesel_conn(db);
    conn.revert_last_migration(diesel_folder(dir))
        .unwrap_or_else(|e| panic!("diesel revert_last_migration: {e}"))
        .to_string()
}

fn status(db: &TestDb, dir: &str) -> serde_json::Value {
    let out = run_expect(
        migrate_cmd(db).args(["--migrations-dir", dir, "--json", "status"]),
        0,
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn diesel_lists_migrations_applied_by_migrate() {
    let db = TestDb::empty();
    let f = diesel_friendly();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
    assert_eq!(diesel_applied(&db), Fixture::STANDARD_VERSIONS);
    assert!(
        diesel_pending(&db, f.path()).is_empty(),
        "diesel sees pending migrations after migrate up"
    );

    // And diesel can revert what migrate applied.
    assert_eq!(diesel_revert(&db, f.path()), "20260112090000");
    let status = status(&db, &f.arg());
    assert_eq!(status["applied_count"], 3, "{status}");
    assert_eq!(status["pending_count"], 1, "{status}");

    // migrate reapplies what diesel reverted, and diesel sees it again.
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
    assert_eq!(diesel_applied(&db), Fixture::STANDARD_VERSIONS);
}

#[test]
fn migrate_status_shows_migrations_applied_by_diesel_and_adopts_them() {
    let db = TestDb::empty();
    let f = diesel_friendly();
    let mut ran = diesel_run(&db, f.path());
    ran.sort();
    assert_eq!(ran, Fixture::STANDARD_VERSIONS);
    let status = status(&db, &f.arg());
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
    assert!(
        diesel_applied(&db).is_empty(),
        "diesel still sees migrations applied after migrate down --all"
    );
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
    assert_eq!(diesel_schema, db.schema_dump());
}

#[test]
fn migrate_reverts_what_diesel_applied_and_diesel_reverts_after_migrate() {
    let db = TestDb::empty();
    let f = diesel_friendly();
    diesel_run(&db, f.path());

    // A database diesel migrated has no stamp: it is unknown until named, and a revert
    // refuses an unknown database. Stamping it adopts diesel's migrations, applies nothing.
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--env", "dev", "up"]),
        0,
    );
    // migrate down after diesel run: diesel sees the last one pending.
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "down"]),
        0,
    );
    assert_eq!(diesel_applied(&db), &Fixture::STANDARD_VERSIONS[..3]);
    assert_eq!(diesel_pending(&db, f.path()), ["20260112090000"]);

    // diesel revert after migrate: migrate sees two pending and reapplies them.
    assert_eq!(diesel_revert(&db, f.path()), "20260111090000");
    let status = status(&db, &f.arg());
    assert_eq!(status["applied_count"], 2, "{status}");
    assert_eq!(status["pending_count"], 2, "{status}");
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "verify"]),
        0,
    );
    assert_eq!(diesel_applied(&db), Fixture::STANDARD_VERSIONS);
}

#[test]
fn project_migrations_agree_between_migrate_and_diesel_both_ways() {
    let project = groundwork_testdb::workspace_root().join("migrations");

    // migrate (embedded) → diesel sees every project migration applied.
    let db = TestDb::empty();
    run_expect(migrate_cmd(&db).arg("up"), 0);
    let pending = diesel_pending(&db, &project);
    assert!(
        pending.is_empty(),
        "diesel sees pending migrations: {pending:?}"
    );
    let applied = diesel_applied(&db).len();
    assert!(applied >= 1, "diesel sees no applied migration");

    // diesel → migrate status shows the same, and up adopts them without drift.
    let other = TestDb::empty();
    assert_eq!(diesel_run(&other, &project).len(), applied);
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
