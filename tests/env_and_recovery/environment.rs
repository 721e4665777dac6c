//! The environment rule shared by `migrate` and `seed`: read-only commands never write; an
//! unstamped database with content is unknown; a lost stamp is judged by the audit log.

use groundwork_testdb::{Fixture, TestDb, migrate_cmd, output_text, run_expect, seed_cmd, stderr};

use super::support::migrate;

/// diesel_cli's own table (migrate-bin/src/db.rs DIESEL_TABLE_DDL).
const DIESEL_TABLE_DDL: &str = "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (
       version VARCHAR(50) PRIMARY KEY NOT NULL,
       run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);";

/// A database as diesel_cli leaves it after `diesel migration run` of the standard fixture:
/// the tables, diesel's table with every version, and no `groundwork` schema.
fn migrated_by_diesel_cli(f: &Fixture) -> TestDb {
    let db = TestDb::empty();
    let mut c = db.client();
    for entry in [
        "00000000000000_diesel_initial_setup",
        "2026-01-10-090000_create_accounts",
        "2026-01-11-090000_create_engagements",
        "2026-01-12-090000_index_engagements",
    ] {
        let sql = std::fs::read_to_string(f.path().join(entry).join("up.sql")).unwrap();
        c.batch_execute(&sql).unwrap();
    }
    c.batch_execute(DIESEL_TABLE_DDL).unwrap();
    for v in Fixture::STANDARD_VERSIONS {
        c.execute(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ($1)",
            &[&v],
        )
        .unwrap();
    }
    db
}

fn seed(db: &TestDb, args: &[&str]) -> std::process::Output {
    let out = seed_cmd(db).args(args).output().unwrap();
    assert!(!stderr(&out).contains("panicked"), "{}", output_text(&out));
    out
}

/// Runs every read-only command of both binaries and asserts that the database (schema and
/// data, the `groundwork` schema included) is byte-identical afterwards.
fn assert_read_only_commands_write_nothing(db: &TestDb, f: &Fixture) {
    let before = db.full_dump();
    for args in [
        &["status"][..],
        &["--json", "status"],
        &["plan"],
        &["--json", "plan"],
        &["verify"],
        &["--json", "verify"],
        &["history"],
        &["--env", "prod", "status"],
        &["--env", "dev", "verify"],
    ] {
        let out = migrate_cmd(db)
            .args(["--migrations-dir", &f.arg()])
            .args(args)
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 5)),
            "migrate {args:?}: {}",
            output_text(&out)
        );
        assert_eq!(
            db.full_dump(),
            before,
            "migrate {args:?} wrote to the database"
        );
    }
    for args in [&["--list"][..], &["verify"], &["--env", "prod", "verify"]] {
        // `seed verify` may well find problems (or no tables) here: only writes matter.
        let out = seed(db, args);
        assert!(
            out.status.code().is_some(),
            "seed {args:?}: {}",
            output_text(&out)
        );
        assert_eq!(
            db.full_dump(),
            before,
            "seed {args:?} wrote to the database"
        );
    }
}

#[test]
fn read_only_commands_never_write_on_any_kind_of_database() {
    let f = Fixture::standard();
    // Fresh.
    assert_read_only_commands_write_nothing(&TestDb::empty(), &f);
    // Migrated by diesel_cli: verify reports them unrecorded instead of adopting them.
    let diesel = migrated_by_diesel_cli(&f);
    assert_read_only_commands_write_nothing(&diesel, &f);
    let text = migrate(&diesel, &f, &["verify"], 0);
    assert!(
        text.contains("UNRECORDED 20260110090000") && text.contains("recorded by the next `up`"),
        "{text}"
    );
    assert_eq!(
        diesel.count("SELECT count(*) FROM pg_namespace WHERE nspname = 'groundwork'"),
        0
    );
    // Migrated and stamped by migrate.
    let stamped = TestDb::empty();
    migrate(&stamped, &f, &["--env", "test", "up"], 0);
    assert_read_only_commands_write_nothing(&stamped, &f);
}

#[test]
fn an_unknown_database_is_refused_until_stamped_with_an_explicit_env() {
    let f = Fixture::standard();
    let db = migrated_by_diesel_cli(&f);
    let before = db.full_dump();
    // The sequence: verify, then `seed reset --hard`, must not wipe it.
    migrate(&db, &f, &["verify"], 0);
    let out = seed(&db, &["reset", "--hard"]);
    assert_eq!(out.status.code(), Some(4), "{}", output_text(&out));
    assert!(
        stderr(&out).contains("environment is unknown")
            && stderr(&out).contains("migrate --env ENV up"),
        "{}",
        output_text(&out)
    );
    for args in [
        &["reset"][..],
        &["--stage", "all"],
        &["--env", "dev", "--stage", "0"],
    ] {
        let out = seed(&db, args);
        assert_eq!(
            out.status.code(),
            Some(4),
            "seed {args:?}: {}",
            output_text(&out)
        );
    }
    // Neither the default nor APP_ENV stamps it; destructive commands refuse even --env.
    let text = migrate(&db, &f, &["up"], 4);
    assert!(
        text.contains("environment is unknown") && text.contains("--env"),
        "{text}"
    );
    let out = run_expect(
        migrate_cmd(&db)
            .env("APP_ENV", "dev")
            .args(["--migrations-dir", &f.arg(), "up"]),
        4,
    );
    assert!(
        stderr(&out).contains("APP_ENV=dev does not count"),
        "{}",
        stderr(&out)
    );
    let text = migrate(&db, &f, &["--env", "dev", "down"], 4);
    assert!(text.contains("migrate --env ENV up"), "{text}");
    migrate(&db, &f, &["--env", "dev", "redo"], 4);
    assert_eq!(db.full_dump(), before, "a refused run must write nothing");

    // An explicit --env stamps it (and records the checksums) even with nothing pending.
    migrate(&db, &f, &["--env", "staging", "up"], 0);
    assert_eq!(
        db.rows_as_text("SELECT env FROM groundwork.environment"),
        ["(staging)"]
    );
    assert_eq!(
        db.count("SELECT count(*) FROM groundwork.migration_checksums"),
        4
    );
    // From now on every run follows the stamp; seed's demo stages are refused in staging.
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--json", "status"]),
        0,
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["environment"], "staging");
    let out = seed(&db, &["reset"]);
    assert_eq!(out.status.code(), Some(4), "{}", output_text(&out));
}

#[test]
fn without_env_a_run_follows_the_stamp_and_gets_its_guards() {
    let f = Fixture::standard();
    let db = TestDb::empty();
    // A fresh database is stamped by the default.
    migrate(&db, &f, &["up", "--to", "20260110090000"], 0);
    assert_eq!(
        db.rows_as_text("SELECT env FROM groundwork.environment"),
        ["(dev)"]
    );
    db.client()
        .batch_execute("UPDATE groundwork.environment SET env = 'prod'")
        .unwrap();
    let before = db.full_dump();
    // No --env: the run is prod, so prod's guards apply (not dev's absence of them).
    let text = migrate(&db, &f, &["up"], 4);
    assert!(text.contains("--require-backup"), "{text}");
    let text = migrate(&db, &f, &["setup"], 4);
    assert!(text.contains("stamped prod"), "{text}");
    // A named environment must match the stamp.
    let text = migrate(&db, &f, &["--env", "dev", "up"], 4);
    assert!(text.contains("stamped as environment `prod`"), "{text}");
    let out = seed(&db, &["--stage", "all"]);
    assert_eq!(out.status.code(), Some(4), "{}", output_text(&out));
    assert_eq!(db.full_dump(), before);
}

#[test]
fn a_lost_stamp_is_judged_by_the_strictest_environment_of_the_audit_log() {
    let f = Fixture::standard();
    let db = TestDb::empty();
    migrate(
        &db,
        &f,
        &["--env", "test", "up", "--to", "20260110090000"],
        0,
    );
    migrate(
        &db,
        &f,
        &["--env", "test", "up", "--to", "20260111090000"],
        0,
    );
    // Someone deleted the stamp; one earlier run was a prod run.
    db.client()
        .batch_execute(
            "DELETE FROM groundwork.environment; \
             UPDATE groundwork.audit_runs SET env = 'prod' WHERE id = (SELECT min(id) FROM groundwork.audit_runs)",
        )
        .unwrap();
    let before = db.full_dump();
    for args in [&["up"][..], &["--env", "test", "up"]] {
        let text = migrate(&db, &f, args, 4);
        assert!(
            text.contains("audit log")
                && text.contains("runs in test, prod")
                && text.contains("`prod`")
                && text.contains("--env prod"),
            "{text}"
        );
    }
    let out = run_expect(
        migrate_cmd(&db)
            .env("APP_ENV", "prod")
            .args(["--migrations-dir", &f.arg(), "up"]),
        4,
    );
    assert!(stderr(&out).contains("audit log"), "{}", stderr(&out));
    migrate(&db, &f, &["--env", "prod", "down"], 4);
    let out = seed(&db, &["reset"]);
    assert_eq!(out.status.code(), Some(4), "{}", output_text(&out));
    assert_eq!(db.full_dump(), before);
    // Read-only commands still answer, and say what the rule found.
    let text = migrate(&db, &f, &["status"], 0);
    assert!(text.contains("stamp missing"), "{text}");
}
