//! `migrate lint`: a snapshot per own rule and for a squawk rule, the JSON shape, severities
//! from the config, `--deny warnings`, allow comments (silencing, audited by `up`, refused
//! without a reason), the pending scope, the staging/prod gate of `up`, and the project's own
//! migrations under the checked-in config.

use std::process::{Command, Output};

use groundwork_testdb::{
    Fixture, TestDb, bin_path, migrate_cmd, normalise, output_text, run_expect, scratch_dir,
    stderr, workspace_root,
};

use super::backup::prod_backup_run;
use super::prod::{files_in, prod_db};

/// `migrate --migrations-dir F ARGS` without a database (no DATABASE_URL), in an empty folder
/// (so the config is the one built into the binary unless ARGS name one).
fn offline(f: &Fixture, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin_path("migrate"));
    cmd.env_remove("DATABASE_URL")
        .env_remove("APP_ENV")
        .env_remove("MIGRATE_CONFIG")
        .env_remove("RUST_LOG")
        .current_dir(scratch_dir())
        .args(["--migrations-dir", &f.arg()])
        .args(args);
    cmd
}

/// Exit code, stdout and stderr, with the fixture's path and the usual noise masked.
fn shown(out: &Output, f: &Fixture) -> String {
    let text = format!(
        "exit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code().map_or("signal".into(), |c| c.to_string()),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    normalise(&text.replace(&f.arg(), "<migrations>"))
}

fn rules_reported(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("error[") || l.starts_with("warning["))
        .filter_map(|l| l.split(['[', ']']).nth(1).map(str::to_string))
        .collect()
}

/// One migration per own rule that looks at SQL (tenant-distribution and down-not-undo are
/// checked on a database, by their commands).
fn own_rule_fixture() -> Fixture {
    let f = Fixture::empty();
    f.add(
        "2026-03-01-000001_transaction_control",
        "BEGIN;\nCREATE TABLE t1 (id bigint PRIMARY KEY);\nCOMMIT;\n",
        None,
    );
    f.add(
        "2026-03-01-000002_concurrently_in_transaction",
        "-- metadata.toml is missing, so this runs in a transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t1_id_idx ON t1 (id);\n",
        None,
    );
    f.add_non_transactional(
        "2026-03-01-000003_concurrently_not_rerunnable",
        "CREATE INDEX CONCURRENTLY t1_id_idx ON t1 (id);\n",
        None,
    );
    f.add(
        "2026-03-01-000004_allow_without_reason",
        "-- migrate:allow ban-drop-column\nALTER TABLE t1 DROP COLUMN legacy;\n",
        None,
    );
    f.add(
        "2026-03-01-000005_invalid_allow",
        "-- migrate:allow ban-drop-tabel reason: nothing reads t2\nDROP TABLE t2;\n-- squawk-ignore ban-drop-table\nDROP TABLE t3;\n",
        None,
    );
    f
}

#[test]
fn every_own_rule_has_a_text_snapshot() {
    let f = own_rule_fixture();
    let cases = [
        (
            "20260301000001",
            "transaction_control_in_transaction",
            &[
                "transaction-control-in-transaction",
                "transaction-control-in-transaction",
            ][..],
        ),
        (
            "20260301000002",
            "concurrently_in_transaction",
            &["concurrently-in-transaction"][..],
        ),
        (
            "20260301000003",
            "concurrently_not_rerunnable",
            &["concurrently-not-rerunnable"][..],
        ),
        (
            "20260301000004",
            "allow_without_reason",
            &["allow-without-reason", "ban-drop-column"][..],
        ),
        (
            "20260301000005",
            "invalid_allow",
            &["invalid-allow", "ban-drop-table", "invalid-allow"][..],
        ),
    ];
    for (version, name, expected) in cases {
        let out = offline(&f, &["lint", version]).output().unwrap();
        assert_eq!(rules_reported(&out), expected, "{}", output_text(&out));
        // The warning-only case passes; every other has an error.
        let code = if name == "concurrently_not_rerunnable" {
            0
        } else {
            10
        };
        assert_eq!(out.status.code(), Some(code), "{}", output_text(&out));
        insta::assert_snapshot!(format!("own_rule_{name}"), shown(&out, &f));
    }
    // `up` refuses the transaction-control migration when loading it (exit 2); `lint`
    // reports it among the other findings instead.
    let db = TestDb::empty();
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        2,
    );
    assert!(stderr(&out).contains("transaction-control statement"));
}

#[test]
fn a_squawk_finding_names_file_line_statement_rule_and_fix() {
    let f = Fixture::empty();
    f.add(
        "2026-03-02-000000_index_accounts",
        "-- Look accounts up by name.\nCREATE INDEX accounts_name_idx\n    ON accounts (name);\n",
        None,
    );
    let out = offline(&f, &["lint", "--all"]).output().unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", output_text(&out));
    insta::assert_snapshot!("squawk_require_concurrent_index_creation", shown(&out, &f));
}

#[test]
fn json_output_has_findings_allows_and_totals() {
    let f = Fixture::empty();
    f.add(
        "2026-03-03-000000_reshape_accounts",
        "ALTER TABLE accounts ALTER COLUMN name TYPE varchar(200);\n\
         -- migrate:allow ban-drop-column reason: nothing reads legacy_code since release 41\n\
         ALTER TABLE accounts DROP COLUMN legacy_code;\n",
        None,
    );
    let out = offline(&f, &["--json", "lint", "20260303000000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", output_text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failed"], true);
    assert_eq!(report["errors"], 1);
    assert_eq!(report["allowed"], 1);
    let pretty = serde_json::to_string_pretty(&report).unwrap();
    insta::assert_snapshot!(
        "json_report",
        normalise(&pretty.replace(&f.arg(), "<migrations>"))
    );
}

#[test]
fn deny_warnings_turns_warnings_into_exit_10() {
    let f = Fixture::empty();
    f.add(
        "2026-03-04-000000_drop_legacy",
        "ALTER TABLE accounts DROP COLUMN legacy_code;\n",
        None,
    );
    let out = offline(&f, &["lint", "--all"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_eq!(rules_reported(&out), ["ban-drop-column"]);
    let out = offline(&f, &["lint", "--all", "--deny", "warnings"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", output_text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("0 error(s) and 1 warning(s) (--deny warnings) in 20260304000000 drop_legacy"),
        "{err}"
    );
}

#[test]
fn config_severities_turn_rules_off_and_into_errors() {
    let f = Fixture::empty();
    f.add(
        "2026-03-05-000000_index_accounts",
        "CREATE INDEX accounts_name_idx ON accounts (name);\n",
        None,
    );
    f.add(
        "2026-03-05-000001_drop_legacy",
        "ALTER TABLE accounts DROP COLUMN legacy_code;\n",
        None,
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strict.toml");
    std::fs::write(
        &config,
        "[lint.rules]\nrequire-concurrent-index-creation = \"off\"\nban-drop-column = \"error\"\n",
    )
    .unwrap();
    let config = config.display().to_string();

    // Defaults: the index is an error, the drop a warning.
    let out = offline(&f, &["lint", "20260305000000"]).output().unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", output_text(&out));
    let out = offline(&f, &["lint", "20260305000001"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));

    // The config flips both.
    let out = offline(&f, &["--config", &config, "lint", "20260305000000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(rules_reported(&out).is_empty(), "{}", output_text(&out));
    let out = offline(&f, &["--config", &config, "lint", "20260305000001"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", output_text(&out));
    assert_eq!(rules_reported(&out), ["ban-drop-column"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("error[ban-drop-column]"));

    // Also through MIGRATE_CONFIG, and --rules shows what changed.
    let out = offline(&f, &["lint", "--rules"])
        .env("MIGRATE_CONFIG", &config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("ban-drop-column ")
            && l.contains("error")
            && l.ends_with("(default warning)")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("require-lock-timeout ") && l.contains(" off ")),
        "{text}"
    );
}

#[test]
fn pending_scope_asks_the_database_and_changes_nothing() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up", "--to", "20260111090000"]),
        0,
    );
    let before = db.snapshot();
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "lint"]),
        0,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("migration 20260112090000 index_engagements")
            && text.contains("Linted 1 pending migration(s)"),
        "{text}"
    );
    assert!(!text.contains("20260111090000"), "{text}");
    groundwork_testdb::assert_same_snapshot(&before, &db.snapshot(), "lint is read-only");
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "lint"]),
        0,
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Nothing to lint: no pending migrations."),
        "{}",
        output_text(&out)
    );
}

/// The standard fixture plus an index build on the existing `accounts` table.
fn with_index_on_accounts(f: &Fixture, allow: Option<&str>) {
    let allow = allow
        .map(|a| format!("-- migrate:allow require-concurrent-index-creation{a}\n"))
        .unwrap_or_default();
    f.add(
        "2026-01-13-090000_index_account_names",
        &format!("{allow}CREATE INDEX accounts_name_idx ON accounts (name);\n"),
        Some("DROP INDEX accounts_name_idx;\n"),
    );
}

#[test]
fn an_allow_with_a_reason_silences_its_statement_and_up_audits_it() {
    let db = TestDb::empty();
    let f = Fixture::standard();
    with_index_on_accounts(&f, Some(" reason: accounts holds a handful of rows here"));
    let out = offline(&f, &["lint", "20260113090000"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("allowed[require-concurrent-index-creation]")
            && text.contains("up.sql:2 (comment): accounts holds a handful of rows here"),
        "{text}"
    );

    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
    let rows: Vec<String> = db
        .client()
        .query(
            "SELECT version || ' ' || detail FROM groundwork.audit_migrations WHERE action = 'allow'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        rows,
        [
            "20260113090000 require-concurrent-index-creation allowed at up.sql line 2 (comment): accounts holds a handful of rows here"
        ]
    );
    let out = run_expect(
        migrate_cmd(&db).args([
            "--migrations-dir",
            &f.arg(),
            "--json",
            "history",
            "--limit",
            "1",
        ]),
        0,
    );
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let migrations = history.to_string();
    // Written before the run applies anything, so it leads the run's list.
    assert!(
        migrations.contains("\"migrations\":\"allow 20260113090000 index_account_names (require-concurrent-index-creation allowed at up.sql line 2 (comment): accounts holds a handful of rows here); apply 00000000000000")
            && migrations.contains("apply 20260113090000 index_account_names (succeeded"),
        "{history}"
    );
}

#[test]
fn prod_up_stops_on_a_lint_error_before_the_backup_and_changes_nothing() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    // Bring prod up to date first: what remains pending is only the new migration.
    run_expect(prod_backup_run(&db, &f, backups.path()).arg("up"), 0);
    let n = files_in(backups.path());
    let before = db.full_dump();

    for allow in [None, Some("")] {
        // No allow, and an allow without a reason: both stop the run.
        with_index_on_accounts(&f, allow);
        let out = run_expect(prod_backup_run(&db, &f, backups.path()).arg("up"), 10);
        let err = stderr(&out);
        assert!(
            err.contains("error[require-concurrent-index-creation]")
                && err.contains("refused in prod: lint failed: ")
                && err.contains("Nothing was applied and no backup was taken"),
            "{err}"
        );
        assert_eq!(
            allow.is_some(),
            err.contains("error[allow-without-reason]"),
            "{err}"
        );
        assert!(!err.contains("Backup written"), "{err}");
        assert_eq!(before, db.full_dump(), "nothing changed");
        assert_eq!(n, files_in(backups.path()), "no backup taken");
    }

    // With a reason it goes through, backed up, and the allow is in the audit log.
    with_index_on_accounts(
        &f,
        Some(" reason: accounts is small until the March import"),
    );
    let out = run_expect(prod_backup_run(&db, &f, backups.path()).arg("up"), 0);
    let err = stderr(&out);
    assert!(
        err.contains("allowed[require-concurrent-index-creation] line 2 (comment): accounts is small until the March import"),
        "the prod plan shows the allow: {err}"
    );
    assert_eq!(n + 1, files_in(backups.path()));
    assert_eq!(
        db.count(
            "SELECT count(*) FROM groundwork.audit_migrations m JOIN groundwork.audit_runs r ON r.id = m.run_id \
             WHERE m.action = 'allow' AND r.env = 'prod' AND r.backup_path IS NOT NULL AND m.detail LIKE '%March import'"
        ),
        1
    );
}

#[test]
fn staging_up_stops_on_a_lint_error_too() {
    let f = Fixture::standard();
    let db = TestDb::empty();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--env", "staging", "up"]),
        0,
    );
    with_index_on_accounts(&f, None);
    let before = db.full_dump();
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--env", "staging", "up"]),
        10,
    );
    assert!(stderr(&out).contains("refused in staging: lint failed"));
    assert_eq!(before, db.full_dump());
    // dev applies anyway: the findings are for `lint` and `plan` to show.
    let dev = TestDb::empty();
    run_expect(
        migrate_cmd(&dev).args(["--migrations-dir", &f.arg(), "up"]),
        0,
    );
}

#[test]
fn the_projects_migrations_pass_with_the_checked_in_config() {
    let config = workspace_root().join("migrate.toml").display().to_string();
    let project = |args: &[&str]| {
        // With a server, so the tenant-distribution rule is checked too.
        let mut cmd = Command::new(bin_path("migrate"));
        cmd.env("DATABASE_URL", groundwork_testdb::server_url())
            .env_remove("MIGRATE_CONFIG")
            .current_dir(scratch_dir())
            .args(args);
        cmd.output().unwrap()
    };
    for args in [
        &["--config", &config, "lint", "--all", "--deny", "warnings"][..],
        // The same file, built into the binary.
        &["lint", "--all", "--deny", "warnings"][..],
    ] {
        let out = project(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            output_text(&out)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("0 error(s), 0 warning(s), 22 allowed."),
            "{args:?}: {text}"
        );
        assert!(
            text.contains("tenant-distribution: the schema after")
                && text.contains("checked: 0 finding(s)"),
            "the tenant-distribution rule must have run: {text}"
        );
    }
    // Without the accepted findings the applied migrations would fail: the config matters.
    let empty = tempfile::NamedTempFile::new().unwrap();
    let out = project(&[
        "--config",
        &empty.path().display().to_string(),
        "lint",
        "--all",
    ]);
    assert_eq!(out.status.code(), Some(10), "{}", output_text(&out));
}
