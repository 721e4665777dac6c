//! The stamp rules: an unknown database is refused by destructive commands, an explicit
//! `--env dev` stamps it, an audit log that shows prod wins over a missing stamp.

use std::process::Command;

use groundwork_testdb::{TestDb, migrate_cmd, run_with_limit, seed_cmd, snapshot_diff};

use super::support::*;

fn refused_unchanged(db: &TestDb, cmd: &mut Command, what: &str, failures: &mut Vec<String>) {
    let before = db.snapshot();
    let res = run_with_limit(cmd, LIMIT);
    if res.code != Some(4) {
        failures.push(format!(
            "{what}: exit {:?}, expected 4\n{}",
            res.code,
            res.describe()
        ));
    }
    let diff = snapshot_diff(&before, &db.snapshot());
    if !diff.is_empty() {
        failures.push(format!("{what}: database changed: {}", diff.join("; ")));
    }
}

#[test]
fn an_unknown_database_is_refused_by_destructive_commands() {
    let mut failures = Vec::new();
    for make in [diesel_db as fn() -> TestDb, unstamped_db] {
        let db = make();
        refused_unchanged(
            &db,
            seed_cmd(&db).args(["--stage", "all"]),
            "seed --stage all",
            &mut failures,
        );
        refused_unchanged(
            &db,
            seed_cmd(&db).args(["reset"]),
            "seed reset",
            &mut failures,
        );
        refused_unchanged(
            &db,
            seed_cmd(&db).args(["reset", "--hard"]),
            "seed reset --hard",
            &mut failures,
        );
        refused_unchanged(
            &db,
            migrate_cmd(&db).args(["down"]),
            "migrate down",
            &mut failures,
        );
        refused_unchanged(
            &db,
            seed_cmd(&db).env("APP_ENV", "dev").args(["--stage", "all"]),
            "APP_ENV=dev seed --stage all (not explicit on the command line)",
            &mut failures,
        );
        if let Some(env) = stamp(&db) {
            failures.push(format!("the unknown database was stamped {env}"));
        }
    }
    assert!(
        failures.is_empty(),
        "unknown database:\n{}",
        failures.join("\n")
    );
}

#[test]
fn an_explicit_env_dev_stamps_an_unknown_database() {
    let db = diesel_db();
    let res = run_with_limit(migrate_cmd(&db).args(["--env", "dev", "up"]), LIMIT);
    assert_eq!(res.code, Some(0), "{}", res.describe());
    assert_eq!(
        stamp(&db).as_deref(),
        Some("dev"),
        "migrate --env dev up stamps the unknown database dev"
    );
    let res = run_with_limit(seed_cmd(&db).args(["--stage", "0,1", "--quiet"]), LIMIT);
    assert_eq!(
        res.code,
        Some(0),
        "seed adopts the dev stamp\n{}",
        res.describe()
    );

    // Stamp deleted, audit log says `test`: seeding (destructive) refuses the unstamped
    // database even with the matching `--env test`; `migrate --env test up` (the audit log's
    // own environment, so no conflict) restamps it, and seeding then works.
    let db = unstamped_db();
    let mut failures = Vec::new();
    refused_unchanged(
        &db,
        seed_cmd(&db).args(["--env", "test", "--stage", "0", "--quiet"]),
        "seed --env test --stage 0 on a database whose stamp was deleted",
        &mut failures,
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let res = run_with_limit(migrate_cmd(&db).args(["--env", "test", "up"]), LIMIT);
    assert_eq!(res.code, Some(0), "{}", res.describe());
    assert_eq!(
        stamp(&db).as_deref(),
        Some("test"),
        "migrate --env test up restamps the database whose stamp was deleted"
    );
    let res = run_with_limit(seed_cmd(&db).args(["--stage", "0", "--quiet"]), LIMIT);
    assert_eq!(res.code, Some(0), "{}", res.describe());
}

#[test]
fn an_audit_log_showing_prod_wins_over_a_missing_stamp() {
    let db = prod_db(1);
    db.client()
        .batch_execute("DELETE FROM groundwork.environment")
        .unwrap();
    let mut failures = Vec::new();
    let backups = tempfile::tempdir().unwrap();
    refused_unchanged(
        &db,
        seed_cmd(&db).args(["--stage", "all"]),
        "seed --stage all",
        &mut failures,
    );
    refused_unchanged(
        &db,
        seed_cmd(&db).args(["--env", "dev", "--stage", "all"]),
        "seed --env dev --stage all",
        &mut failures,
    );
    refused_unchanged(
        &db,
        seed_cmd(&db).args(["--env", "dev", "reset"]),
        "seed --env dev reset",
        &mut failures,
    );
    refused_unchanged(
        &db,
        migrate_cmd(&db).args(["--env", "dev", "up"]),
        "migrate --env dev up",
        &mut failures,
    );
    refused_unchanged(
        &db,
        migrate_cmd(&db).args(["--env", "dev", "down"]),
        "migrate --env dev down",
        &mut failures,
    );
    refused_unchanged(
        &db,
        migrate_cmd(&db)
            .args([
                "--env",
                "staging",
                "--require-backup",
                "--yes",
                "--backup-dir",
            ])
            .arg(backups.path())
            .arg("up"),
        "migrate --env staging up",
        &mut failures,
    );
    if let Some(env) = stamp(&db) {
        failures.push(format!("the database was re-stamped {env}"));
    }
    assert!(
        failures.is_empty(),
        "audit log says prod:\n{}",
        failures.join("\n")
    );
}
