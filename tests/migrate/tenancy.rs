//! `migrate lint`'s `tenant-distribution` rule on real migrations: each deliberately bad
//! layout fails it with its message and fix (snapshots), the project's schema passes, and
//! without a server the check says it did not run.

use std::process::Command;

use groundwork_testdb::{Fixture, TestDb, bin_path, migrate_cmd, run_expect, scratch_dir};

/// A tenant root, a global table and one well-formed tenant table.
fn base() -> Fixture {
    let f = Fixture::empty();
    f.add(
        "2026-01-01-000000_create_tenants",
        "CREATE TABLE client_accounts (id uuid PRIMARY KEY, slug text NOT NULL UNIQUE);\n\
         CREATE TABLE users (id uuid PRIMARY KEY, email text NOT NULL UNIQUE);\n\
         CREATE TABLE engagements (\n\
             client_account_id uuid NOT NULL REFERENCES client_accounts (id),\n\
             id uuid NOT NULL,\n\
             name text NOT NULL,\n\
             PRIMARY KEY (client_account_id, id)\n\
         );\n",
        Some("DROP TABLE engagements, users, client_accounts;\n"),
    );
    f
}

/// Runs `migrate lint --all` on `f`, expecting `code`; returns stdout.
fn lint(db: &TestDb, f: &Fixture, code: i32) -> String {
    let out = run_expect(
        migrate_cmd(db).args(["--migrations-dir", &f.arg(), "lint", "--all"]),
        code,
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The rule's section of the text report (from its summary line to the report's totals).
fn section(stdout: &str) -> String {
    let from = stdout
        .find("tenant-distribution:")
        .unwrap_or_else(|| panic!("no tenant-distribution section in:\n{stdout}"));
    let rest = &stdout[from..];
    let to = rest.find("\nLinted ").unwrap_or(rest.len());
    rest[..to].trim_end().to_string()
}

#[test]
fn the_well_formed_base_passes() {
    let db = TestDb::empty();
    let out = lint(&db, &base(), 0);
    assert_eq!(
        section(&out),
        "tenant-distribution: the schema after 20260101000000 checked: 0 finding(s)."
    );
}

#[test]
fn a_tenant_table_whose_primary_key_is_id_alone_fails() {
    let db = TestDb::empty();
    let f = base();
    f.add(
        "2026-01-02-000000_create_tags",
        "CREATE TABLE tags (\n\
             id uuid PRIMARY KEY,\n\
             client_account_id uuid NOT NULL REFERENCES client_accounts (id),\n\
             name text NOT NULL,\n\
             UNIQUE (client_account_id, name)\n\
         );\n",
        Some("DROP TABLE tags;\n"),
    );
    insta::assert_snapshot!(section(&lint(&db, &f, 10)));
}

#[test]
fn a_foreign_key_between_tenant_tables_without_the_tenant_column_fails() {
    let db = TestDb::empty();
    let f = base();
    f.add(
        "2026-01-02-000000_create_assets",
        "ALTER TABLE engagements ADD CONSTRAINT engagements_id_key UNIQUE (id);\n\
         CREATE TABLE assets (\n\
             client_account_id uuid NOT NULL REFERENCES client_accounts (id),\n\
             id uuid NOT NULL,\n\
             engagement_id uuid NOT NULL REFERENCES engagements (id),\n\
             PRIMARY KEY (client_account_id, id)\n\
         );\n",
        Some("DROP TABLE assets;\nALTER TABLE engagements DROP CONSTRAINT engagements_id_key;\n"),
    );
    insta::assert_snapshot!(section(&lint(&db, &f, 10)));
}

#[test]
fn a_table_that_references_tenant_data_without_the_column_fails() {
    let db = TestDb::empty();
    let f = base();
    f.add(
        "2026-01-02-000000_create_account_notes",
        "CREATE TABLE account_notes (\n\
             id uuid PRIMARY KEY,\n\
             account_id uuid NOT NULL REFERENCES client_accounts (id),\n\
             body text NOT NULL\n\
         );\n",
        Some("DROP TABLE account_notes;\n"),
    );
    insta::assert_snapshot!(section(&lint(&db, &f, 10)));
}

#[test]
fn the_projects_schema_passes_and_says_so_in_json() {
    let db = TestDb::empty();
    let out = run_expect(migrate_cmd(&db).args(["--json", "lint", "--all"]), 0);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let newest = domain::embedded_migration_files()
        .last()
        .map(|m| m.version)
        .unwrap();
    let tenant = &report["tenant_distribution"];
    assert_eq!(tenant["through"], newest, "{report}");
    assert_eq!(tenant["severity"], "error", "{report}");
    assert_eq!(tenant["findings"], serde_json::json!([]), "{report}");
    assert!(tenant.get("skipped").is_none(), "{report}");
}

#[test]
fn without_a_database_the_check_is_reported_as_not_run() {
    let f = base();
    let lint = |deny: bool, code: i32| {
        let mut cmd = Command::new(bin_path("migrate"));
        cmd.env_remove("DATABASE_URL")
            .env_remove("MIGRATE_SCRATCH_URL")
            .env_remove("APP_ENV")
            .current_dir(scratch_dir())
            .args(["--migrations-dir", &f.arg(), "lint", "--all"]);
        if deny {
            cmd.args(["--deny", "warnings"]);
        }
        String::from_utf8_lossy(&run_expect(&mut cmd, code).stdout).into_owned()
    };
    let out = lint(false, 0);
    assert!(
        out.contains("note[tenant-distribution] not checked: it applies the migrations to a scratch database, and no database URL was given"),
        "{out}"
    );
    // Offline lint (--all, VERSION) checks the SQL only: the skipped schema check is a note,
    // not a finding, so it neither counts nor fails --deny warnings (CI lints with a server).
    assert!(out.contains("0 error(s), 0 warning(s)"), "{out}");
    let denied = lint(true, 0);
    assert!(
        denied.contains("note[tenant-distribution] not checked"),
        "{denied}"
    );
}
