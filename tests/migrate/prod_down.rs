//! Prod reverts one migration per run: every prod revert form that would take more than one
//! migration is refused, and the one allowed revert shows its down.sql and what it drops.

use groundwork_testdb::{Fixture, TestDb, migrate_cmd, output_text, run_expect, stderr};

use super::backup::{applied, prod_backup_run};
use super::prod::{files_in, prod_db, prod_up};

/// Every prod form that could revert more than one migration.
const WIDE_REVERTS: &[&[&str]] = &[
    &["down", "--all"],
    &["down", "--steps", "2"],
    &["down", "--steps", "99"],
    &["down", "--to", "00000000000000"],
    &["down", "--to", "20260111090000"],
    &["redo", "--steps", "2"],
    &["redo", "--steps", "99"],
];

#[test]
fn every_prod_revert_form_that_takes_more_than_one_migration_is_refused() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    run_expect(prod_backup_run(&db, &f, backups.path()).arg("up"), 0);
    let schema = db.schema_dump();
    let before = db.full_dump();
    let n = files_in(backups.path());
    for form in WIDE_REVERTS {
        let out = run_expect(prod_backup_run(&db, &f, backups.path()).args(*form), 4);
        let err = stderr(&out);
        assert!(
            err.contains(&form.join(" ")) && err.contains("one per run"),
            "{form:?}: {err}"
        );
        // Also through APP_ENV instead of --env.
        let mut cmd = migrate_cmd(&db);
        cmd.env("APP_ENV", "prod")
            .args(["--migrations-dir", &f.arg(), "--require-backup", "--yes"])
            .args(*form);
        run_expect(&mut cmd, 4);
    }
    assert_eq!(schema, db.schema_dump());
    assert_eq!(before, db.full_dump());
    assert_eq!(n, files_in(backups.path()), "no backup taken");

    // Refused before connecting: a database that does not answer gives 4, not 3.
    for form in WIDE_REVERTS {
        let mut cmd = migrate_cmd(&db);
        cmd.env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
            .args(["--migrations-dir", &f.arg(), "--env", "prod", "--yes"])
            .args(*form);
        run_expect(&mut cmd, 4);
    }
}

#[test]
fn prod_down_reverts_exactly_one_migration_showing_its_down_sql_and_what_it_drops() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    run_expect(
        prod_backup_run(&db, &f, backups.path()).args(["up", "--to", "20260111090000"]),
        0,
    );
    db.client()
        .batch_execute(
            "INSERT INTO accounts (id, name) VALUES ('00000000-0000-0000-0000-000000000002', 'b');
             INSERT INTO engagements VALUES
               ('00000000-0000-0000-0000-0000000000e1', '00000000-0000-0000-0000-000000000001'),
               ('00000000-0000-0000-0000-0000000000e2', '00000000-0000-0000-0000-000000000002'),
               ('00000000-0000-0000-0000-0000000000e3', '00000000-0000-0000-0000-000000000002');",
        )
        .unwrap();
    let before = db.full_dump();

    // Without --require-backup: the plan, then a refusal.
    let out = run_expect(prod_up(&db, &f).args(["--yes", "down"]), 4);
    let err = stderr(&out);
    assert!(
        err.contains("Plan (revert in prod)") && err.contains("--require-backup"),
        "{err}"
    );
    assert_eq!(before, db.full_dump());

    let n = files_in(backups.path());
    let out = run_expect(prod_backup_run(&db, &f, backups.path()).arg("down"), 0);
    let err = stderr(&out);
    assert!(err.contains("20260111090000 create_engagements"), "{err}");
    assert!(err.contains("drops table engagements: 3 rows"), "{err}");
    assert!(
        err.contains("drops column accounts.created_at: 2 rows, 2 non-null values"),
        "{err}"
    );
    assert!(
        err.contains("| ALTER TABLE accounts DROP COLUMN created_at;")
            && err.contains("| DROP TABLE engagements;"),
        "{err}"
    );
    assert!(
        err.contains("(down.sql) warning[ban-drop-table] line 2: Dropping a table"),
        "{err}"
    );
    assert_eq!(
        applied(&db),
        vec!["00000000000000".to_string(), "20260110090000".to_string()],
        "exactly one migration reverted"
    );
    assert_eq!(n + 1, files_in(backups.path()), "one backup taken");

    // Without a terminal and without --yes: refused, nothing reverted.
    let out = run_expect(
        prod_up(&db, &f)
            .args(["--require-backup", "--backup-dir"])
            .arg(backups.path())
            .arg("down"),
        4,
    );
    assert!(stderr(&out).contains("--yes"), "{}", output_text(&out));
    assert_eq!(applied(&db).len(), 2);
}

#[test]
fn revert_plans_lint_the_down_sql_not_the_up_sql() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    f.add(
        "2026-01-10-100000_index_accounts",
        "-- migrate:allow require-concurrent-index-creation reason: accounts holds two rows\n\
         CREATE INDEX accounts_name_idx ON accounts (name);\n",
        Some("DROP INDEX accounts_name_idx;\n"),
    );
    run_expect(
        prod_backup_run(&db, &f, backups.path()).args(["up", "--to", "20260110100000"]),
        0,
    );
    for command in ["down", "redo"] {
        let out = run_expect(
            prod_up(&db, &f).args(["--yes", command]),
            4, // no --require-backup: plan only
        );
        let err = stderr(&out);
        assert!(err.contains("20260110100000 index_accounts"), "{err}");
        assert!(
            err.contains("(down.sql) error[require-concurrent-index-deletion] line 1:")
                && err.contains("| DROP INDEX accounts_name_idx;"),
            "{command}: {err}"
        );
        assert!(
            err.contains("also runs: DROP INDEX accounts_name_idx"),
            "{err}"
        );
        // A revert lints no up.sql; redo also reapplies up.sql, labelled as such.
        assert_eq!(
            err.contains(
                "(up.sql) allowed[require-concurrent-index-creation] line 2 (comment): accounts holds two rows"
            ),
            command == "redo",
            "{command}: {err}"
        );
        assert_eq!(
            err.contains("require-concurrent-index-creation"),
            command == "redo",
            "{command}: up.sql finding shown as the revert's: {err}"
        );
    }
}

#[test]
fn accept_checksum_of_an_unknown_version_names_its_own_argument() {
    let f = Fixture::standard();
    let db = TestDb::empty();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
    let out = run_expect(
        migrate_cmd(&db).args([
            "--migrations-dir",
            &f.arg(),
            "accept-checksum",
            "20991231000000",
        ]),
        2,
    );
    let err = stderr(&out);
    assert!(
        err.contains("unknown version `20991231000000` for `accept-checksum VERSION`")
            && !err.contains("--to"),
        "{err}"
    );
}
