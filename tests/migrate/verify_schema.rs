//! `migrate verify --schema`: hand-made changes to a migrated database (the hotfixes ops
//! fear) are reported as DDL against the schema the applied migrations make, with exit 5;
//! a database as the migrations left it passes; a prod `up` refuses drift unless allowed
//! with an audited reason.

use groundwork_testdb::{Fixture, TestDb, migrate_cmd, normalise, output_text, run_expect, stderr};

use super::prod::{prod_db, prod_up};

fn verify_schema(db: &TestDb) -> std::process::Command {
    let mut cmd = migrate_cmd(db);
    cmd.args(["verify", "--schema"]);
    cmd
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A database migrated with the project's migrations, then changed by hand the four ways
/// a hotfix usually goes.
fn hotfixed() -> TestDb {
    let db = TestDb::migrated();
    db.client()
        .batch_execute(
            "ALTER TABLE assets ADD COLUMN note text;
             CREATE INDEX assets_hostname_lower_idx ON assets (lower(hostname));
             ALTER TYPE asset_type ADD VALUE 'mainframe' AFTER 'server';
             CREATE FUNCTION assets_touch() RETURNS trigger LANGUAGE plpgsql
               AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
             CREATE TRIGGER assets_touch BEFORE UPDATE ON assets
               FOR EACH ROW EXECUTE FUNCTION assets_touch();",
        )
        .unwrap();
    db
}

#[test]
fn a_database_as_the_migrations_left_it_has_no_schema_drift() {
    let db = TestDb::migrated();
    let before = db.full_dump();
    let out = run_expect(&mut verify_schema(&db), 0);
    let text = stdout(&out);
    assert!(
        text.contains("OK: the live schema is the one the")
            && text.contains("applied migration(s) up to"),
        "{}",
        output_text(&out)
    );
    assert_eq!(before, db.full_dump(), "verify --schema only reads");
}

#[test]
fn hotfix_column_index_enum_label_and_trigger_are_each_reported_as_ddl() {
    let db = hotfixed();
    let before = db.full_dump();
    let out = run_expect(&mut verify_schema(&db), 5);
    let text = stdout(&out);
    for expected in [
        "+ column public.assets.note\n    ALTER TABLE public.assets ADD COLUMN note text;",
        "+ index public.assets_hostname_lower_idx\n    CREATE INDEX assets_hostname_lower_idx ON public.assets USING btree (lower(hostname));",
        "~ enum public.asset_type",
        "ALTER TYPE public.asset_type ADD VALUE 'mainframe' AFTER 'server';",
        "+ trigger public.assets.assets_touch\n    CREATE TRIGGER assets_touch BEFORE UPDATE ON public.assets",
        "+ function public.assets_touch()\n    CREATE OR REPLACE FUNCTION public.assets_touch()",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    insta::assert_snapshot!("hotfixes_text", normalise(&text));
    insta::assert_snapshot!("hotfixes_error", normalise(&stderr(&out)));
    assert_eq!(before, db.full_dump(), "verify --schema only reads");
}

#[test]
fn the_json_report_lists_each_difference_with_its_ddl() {
    let db = hotfixed();
    let out = run_expect(migrate_cmd(&db).args(["--json", "verify", "--schema"]), 5);
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["clean"], false);
    assert_eq!(v["standing"]["env"], "test");
    assert!(v["applied_up_to"].is_string(), "{v}");
    assert!(v["migrations_applied"].as_u64().unwrap() > 0, "{v}");
    assert!(v["duration_ms"].is_u64(), "{v}");
    let diffs = v["differences"].as_array().unwrap();
    let kinds: Vec<(String, String, String)> = diffs
        .iter()
        .map(|d| {
            (
                d["change"].as_str().unwrap().to_string(),
                d["kind"].as_str().unwrap().to_string(),
                d["object"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let has =
        |c: &str, k: &str, o: &str| kinds.iter().any(|x| x == &(c.into(), k.into(), o.into()));
    assert!(has("extra", "column", "public.assets.note"), "{kinds:?}");
    assert!(
        has("extra", "index", "public.assets_hostname_lower_idx"),
        "{kinds:?}"
    );
    assert!(has("different", "enum", "public.asset_type"), "{kinds:?}");
    assert!(
        has("extra", "trigger", "public.assets.assets_touch"),
        "{kinds:?}"
    );
    assert!(
        has("extra", "function", "public.assets_touch()"),
        "{kinds:?}"
    );
    assert_eq!(diffs.len(), 5, "{v}");
    for d in diffs {
        for key in [
            "change", "kind", "object", "detail", "ddl", "expected", "actual",
        ] {
            assert!(d.get(key).is_some(), "{key} missing in {d}");
        }
        assert!(!d["ddl"].as_str().unwrap().is_empty(), "{d}");
    }
}

#[test]
fn a_missing_column_a_changed_default_and_a_dropped_constraint_are_reported() {
    let f = Fixture::standard();
    let db = TestDb::empty();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--env", "test", "up"]),
        0,
    );
    db.client()
        .batch_execute(
            "ALTER TABLE accounts ALTER COLUMN created_at DROP DEFAULT;
             ALTER TABLE engagements DROP CONSTRAINT engagements_account_id_fkey;
             DROP INDEX engagements_account_idx;
             ALTER TABLE accounts DROP COLUMN name;",
        )
        .unwrap();
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "verify", "--schema"]),
        5,
    );
    let text = stdout(&out);
    for expected in [
        "~ column public.accounts.created_at",
        "ALTER TABLE public.accounts ALTER COLUMN created_at DROP DEFAULT;",
        "- column public.accounts.name\n    ALTER TABLE public.accounts DROP COLUMN name;",
        "- constraint public.engagements.engagements_account_id_fkey: foreign key\n    ALTER TABLE public.engagements DROP CONSTRAINT engagements_account_id_fkey;",
        "- index public.engagements_account_idx\n    DROP INDEX public.engagements_account_idx;",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn an_invalid_index_left_by_a_failed_concurrent_build_is_reported_as_invalid() {
    let f = Fixture::standard();
    let db = TestDb::empty();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--env", "test", "up"]),
        0,
    );
    let mut c = db.client();
    c.batch_execute(
        "INSERT INTO accounts (id, name) VALUES
           ('00000000-0000-0000-0000-000000000002', 'twin'),
           ('00000000-0000-0000-0000-000000000003', 'twin')",
    )
    .unwrap();
    // A unique build over duplicates fails and, built CONCURRENTLY, leaves the index INVALID.
    assert!(
        c.batch_execute("CREATE UNIQUE INDEX CONCURRENTLY accounts_name_key ON accounts (name)")
            .is_err()
    );
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "verify", "--schema"]),
        5,
    );
    let text = stdout(&out);
    assert!(
        text.contains(
            "+ index public.accounts_name_key: INVALID (a CREATE INDEX CONCURRENTLY failed or was interrupted)\n    CREATE UNIQUE INDEX accounts_name_key ON public.accounts USING btree (name);"
        ),
        "{text}"
    );
}

#[test]
fn prod_up_refuses_schema_drift_and_changes_nothing() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    db.client()
        .batch_execute("ALTER TABLE accounts ADD COLUMN note text")
        .unwrap();
    let before = db.full_dump();
    let out = run_expect(
        prod_up(&db, &f)
            .args(["--require-backup", "--yes", "--backup-dir"])
            .arg(backups.path())
            .arg("up"),
        5,
    );
    let err = stderr(&out);
    assert!(
        err.contains(
            "+ column public.accounts.note\n    ALTER TABLE public.accounts ADD COLUMN note text;"
        ),
        "{err}"
    );
    insta::assert_snapshot!(
        "prod_up_refused",
        normalise(err.lines().last().unwrap_or_default())
    );
    assert_eq!(before, db.full_dump(), "nothing applied, nothing audited");
    assert_eq!(
        super::prod::files_in(backups.path()),
        1,
        "no backup taken beyond the first run's"
    );
}

#[test]
fn prod_up_with_allow_schema_drift_applies_and_audits_the_reason() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    db.client()
        .batch_execute("ALTER TABLE accounts ADD COLUMN note text")
        .unwrap();
    let reason = "INC-4711: hotfix column stays until migration 2026-02";
    let out = run_expect(
        prod_up(&db, &f)
            .args(["--require-backup", "--yes", "--backup-dir"])
            .arg(backups.path())
            .args(["up", "--allow-schema-drift", reason]),
        0,
    );
    assert!(
        stderr(&out).contains("warning: applying despite 1 schema difference(s)"),
        "{}",
        output_text(&out)
    );
    let audited = db.rows_as_text(
        "SELECT r.command, m.version, m.detail FROM groundwork.audit_migrations m \
         JOIN groundwork.audit_runs r ON r.id = m.run_id WHERE m.action = 'allow_schema_drift'",
    );
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert!(audited[0].contains(reason), "{audited:?}");
    assert!(
        audited[0].contains("+ column public.accounts.note"),
        "{audited:?}"
    );
    assert!(audited[0].contains("20260111090000"), "{audited:?}");
    assert_eq!(
        db.count("SELECT count(*) FROM __diesel_schema_migrations"),
        4,
        "the pending migrations were applied"
    );
}

#[test]
fn prod_up_on_a_database_without_drift_applies() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    run_expect(
        prod_up(&db, &f)
            .args(["--require-backup", "--yes", "--backup-dir"])
            .arg(backups.path())
            .arg("up"),
        0,
    );
    assert_eq!(
        db.count("SELECT count(*) FROM __diesel_schema_migrations"),
        4
    );
}
