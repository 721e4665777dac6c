//! `migrate rehearse` on a seeded database: the pending migrations of a folder (the project's
//! migrations plus test ones) applied to a scratch copy, with the locks and rewrites it saw,
//! the thresholds that make findings (exit 11), the down.sql check, and the source database
//! left exactly as it was.

use std::path::Path;
use std::process::{Command, Output};

use groundwork_testdb::{
    Fixture, TestDb, assert_same_snapshot, bin_path, migrate_cmd, output_text, run_expect,
    scratch_dir, workspace_root,
};

const WIDEN: &str = "2026-03-01-090000_widen_asset_cpu_cores";
const WIDEN_V: &str = "20260301090000";
const INDEX: &str = "2026-03-02-090000_index_asset_hostnames";
const INDEX_V: &str = "20260302090000";
const BAD_DOWN_V: &str = "20260303090000";

/// A database migrated and seeded at scale 1 (84 assets), cloned per test.
fn seeded() -> TestDb {
    TestDb::from_template("rehearse_seeded_v1", |url| {
        for (bin, args) in [
            ("migrate", &["--env", "test", "--quiet", "up"][..]),
            ("seed", &["--stage", "all", "--scale", "1", "--quiet"][..]),
        ] {
            let out = Command::new(bin_path(bin))
                .args(args)
                .env("DATABASE_URL", url)
                .env_remove("APP_ENV")
                .current_dir(scratch_dir())
                .output()
                .expect("run the binary");
            assert!(out.status.success(), "{bin}: {}", output_text(&out));
        }
    })
}

/// The project's migrations (all applied on [`seeded`]) plus `extra` pending ones.
fn migrations_with(extra: &[(&str, &str, &str)]) -> Fixture {
    let f = Fixture::empty();
    copy_tree(&workspace_root().join("migrations"), f.path());
    for (dir, up, down) in extra {
        f.add(dir, up, Some(down));
    }
    f
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The two migrations issue 11 names: a type change that rewrites assets, and an index
/// built without CONCURRENTLY.
fn rewrite_and_index() -> Fixture {
    migrations_with(&[
        (
            WIDEN,
            "ALTER TABLE assets ALTER COLUMN cpu_cores TYPE bigint;\n",
            "ALTER TABLE assets ALTER COLUMN cpu_cores TYPE integer;\n",
        ),
        (
            INDEX,
            "CREATE INDEX assets_hostname_rehearsal_idx ON assets (hostname);\n",
            "DROP INDEX assets_hostname_rehearsal_idx;\n",
        ),
    ])
}

fn rehearse(db: &TestDb, f: &Fixture, args: &[&str], code: i32) -> Output {
    run_expect(
        migrate_cmd(db)
            .args([
                "--migrations-dir",
                &f.arg(),
                "rehearse",
                "--from-db",
                db.name(),
            ])
            .args(args),
        code,
    )
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", output_text(out)))
}

/// Whether the scratch database a report names still exists.
fn exists(db: &TestDb, report: &serde_json::Value) -> bool {
    let name = report["scratch"].as_str().unwrap();
    assert!(!name.is_empty());
    !strings(
        db,
        &format!("SELECT datname::text FROM pg_database WHERE datname = '{name}'"),
    )
    .is_empty()
}

/// Kept copies of `db` (`--keep` renames the scratch database after its source).
fn scratch_copies(db: &TestDb) -> Vec<String> {
    strings(
        db,
        &format!(
            "SELECT datname::text FROM pg_database WHERE datname LIKE 'gw\\_rehearse\\_{}\\_%'",
            db.name()
        ),
    )
}

fn strings(db: &TestDb, sql: &str) -> Vec<String> {
    db.client()
        .query(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn statement<'a>(report: &'a serde_json::Value, version: &str) -> &'a serde_json::Value {
    let m = report["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["version"] == version)
        .unwrap_or_else(|| panic!("{version} not in {report:#}"));
    &m["statements"][0]
}

fn lock_on_assets(s: &serde_json::Value) -> &serde_json::Value {
    s["locks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["table"] == "public.assets")
        .unwrap_or_else(|| panic!("no lock on assets in {s:#}"))
}

#[test]
fn a_type_change_is_reported_as_a_rewrite_under_access_exclusive_and_an_index_build_as_share() {
    let db = seeded();
    let assets = db.count("SELECT count(*) FROM assets");
    assert!(assets > 0, "the seed made assets");
    let f = rewrite_and_index();
    let before = db.snapshot();

    let out = rehearse(&db, &f, &["--json"], 0);
    let report = json(&out);

    let widen = statement(&report, WIDEN_V);
    let lock = lock_on_assets(widen);
    assert_eq!(lock["mode"], "ACCESS_EXCLUSIVE", "{widen:#}");
    assert_eq!(lock["blocks_writes"], true);
    assert_eq!(
        lock["rows"], assets,
        "ANALYZE on the copy gives exact rows here"
    );
    assert_eq!(
        widen["rewrites"],
        serde_json::json!([{"table": "public.assets", "rows": assets}]),
        "{widen:#}"
    );

    let index = statement(&report, INDEX_V);
    let lock = lock_on_assets(index);
    assert_eq!(lock["mode"], "SHARE", "{index:#}");
    assert_eq!(lock["blocks_writes"], true);
    assert_eq!(
        index["rewrites"],
        serde_json::json!([]),
        "an index build rewrites nothing"
    );

    assert_eq!(report["watched"], true);
    assert_eq!(
        report["findings"],
        serde_json::json!([]),
        "no thresholds, no findings"
    );
    assert_eq!(report["kept"], false);
    assert!(
        report["source"].as_str().unwrap().contains(db.name()),
        "{report:#}"
    );

    // The source is exactly as it was, its migrations still pending; the copy is gone.
    assert_same_snapshot(&before, &db.snapshot(), "after migrate rehearse");
    assert!(!exists(&db, &report), "the scratch database was dropped");
    assert!(scratch_copies(&db).is_empty(), "{:?}", scratch_copies(&db));

    // The text report says the same, in a table.
    let out = rehearse(&db, &f, &[], 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("public.assets ACCESS EXCLUSIVE"), "{text}");
    assert!(text.contains("public.assets SHARE"), "{text}");
    assert!(
        text.contains(&format!("public.assets ({assets} rows)")),
        "{text}"
    );
    assert!(text.contains("OK: no findings"), "{text}");
}

#[test]
fn thresholds_from_flags_or_the_config_file_fail_the_rehearsal_with_exit_11() {
    let db = seeded();
    let f = rewrite_and_index();
    let before = db.snapshot();

    let out = rehearse(
        &db,
        &f,
        &["--max-lock", "0s", "--max-rewrite-rows", "0"],
        11,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "lock-too-long: {WIDEN_V} statement 1 held ACCESS EXCLUSIVE on public.assets"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "lock-too-long: {INDEX_V} statement 1 held SHARE on public.assets"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "rewrite-too-big: {WIDEN_V} statement 1 rewrote public.assets"
        )),
        "{err}"
    );
    assert!(err.contains("(--max-rewrite-rows 0)"), "{err}");

    // Limits above what the copy shows pass.
    rehearse(
        &db,
        &f,
        &["--max-lock", "1h", "--max-rewrite-rows", "1000000"],
        0,
    );

    // The config file's [rehearse] section, when no flag is given.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("migrate.toml");
    std::fs::write(&config, "[rehearse]\nmax_rewrite_rows = 10\n").unwrap();
    let out = run_expect(
        migrate_cmd(&db)
            .args(["--migrations-dir", &f.arg(), "--config"])
            .arg(&config)
            .args(["--json", "rehearse", "--from-db", db.name()]),
        11,
    );
    let report = json(&out);
    assert_eq!(report["thresholds"]["max_rewrite_rows"], 10);
    assert_eq!(
        report["findings"][0]["kind"], "rewrite-too-big",
        "{report:#}"
    );
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        1,
        "{report:#}"
    );

    assert_same_snapshot(&before, &db.snapshot(), "after three rehearsals");
    assert!(scratch_copies(&db).is_empty());
}

#[test]
fn a_down_sql_that_does_not_undo_its_up_sql_is_a_finding_and_keep_keeps_the_copy() {
    let db = seeded();
    let f = migrations_with(&[(
        "2026-03-03-090000_add_asset_rack",
        "ALTER TABLE assets ADD COLUMN rack text;\nCREATE INDEX assets_rack_idx ON assets (rack);\n",
        "DROP INDEX assets_rack_idx;\n",
    )]);
    let before = db.snapshot();

    let out = rehearse(&db, &f, &["--keep", "--json"], 11);
    let report = json(&out);
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings[0]["kind"], "down-not-undo", "{report:#}");
    assert_eq!(findings[0]["version"], BAD_DOWN_V);
    assert_eq!(
        findings[0]["differences"],
        serde_json::json!(["+ column public.assets.rack"])
    );
    // Applying it again on the copy then fails: the column is still there.
    assert_eq!(findings[1]["kind"], "failed", "{report:#}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("down-not-undo: {BAD_DOWN_V} add_asset_rack")),
        "{err}"
    );

    // --keep: the copy is there under the name the report and the error give.
    let kept = report["scratch"].as_str().unwrap().to_string();
    assert_eq!(report["kept"], true);
    assert!(err.contains(&format!("kept as {kept}")), "{err}");
    assert_eq!(scratch_copies(&db), vec![kept.clone()]);
    assert!(exists(&db, &report));
    let mut admin = db.client();
    admin
        .batch_execute(&format!("DROP DATABASE \"{kept}\" WITH (FORCE)"))
        .unwrap();

    assert_same_snapshot(&before, &db.snapshot(), "after a failed rehearsal");
}

#[test]
fn the_newest_backup_in_the_audit_log_is_the_default_source_and_a_changed_file_is_refused() {
    let db = seeded();
    let backups = tempfile::tempdir().unwrap();
    let dir = backups.path().join("dumps");
    // One pending migration applied with a backup: the backup holds the state before it,
    // so on the copy that migration is pending again.
    let f = migrations_with(&[(
        WIDEN,
        "ALTER TABLE assets ALTER COLUMN cpu_cores TYPE bigint;\n",
        "ALTER TABLE assets ALTER COLUMN cpu_cores TYPE integer;\n",
    )]);
    run_expect(
        migrate_cmd(&db)
            .args([
                "--migrations-dir",
                &f.arg(),
                "--require-backup",
                "--backup-dir",
            ])
            .arg(&dir)
            .args(["--quiet", "up"]),
        0,
    );
    let dump = strings(
        &db,
        "SELECT backup_path FROM groundwork.audit_runs WHERE backup_path IS NOT NULL",
    );
    assert_eq!(dump.len(), 1);
    let before = db.snapshot();

    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--json", "rehearse"]),
        0,
    );
    let report = json(&out);
    assert_eq!(report["source"], format!("backup {}", dump[0]));
    assert_eq!(report["migrations"][0]["version"], WIDEN_V, "{report:#}");
    assert!(!exists(&db, &report));

    // The same file named with --from-dump.
    let out = run_expect(
        migrate_cmd(&db).args([
            "--migrations-dir",
            &f.arg(),
            "--json",
            "rehearse",
            "--from-dump",
            &dump[0],
        ]),
        0,
    );
    assert_eq!(json(&out)["migrations"][0]["version"], WIDEN_V);

    // A backup file that no longer matches its recorded SHA-256 is not restored.
    let mut bytes = std::fs::read(&dump[0]).unwrap();
    bytes.push(0);
    std::fs::write(&dump[0], bytes).unwrap();
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "rehearse"]),
        2,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no longer has the SHA-256"), "{err}");

    assert_same_snapshot(&before, &db.snapshot(), "after rehearsals from the backup");
    assert!(scratch_copies(&db).is_empty());
}

#[test]
fn the_watcher_sees_the_locks_of_a_statement_outside_a_transaction() {
    // Outside a transaction a statement's locks end with it, so only the watcher's samples
    // (every 50 ms) can see them: this one holds SHARE on assets for 300 ms.
    let db = seeded();
    let f = migrations_with(&[]);
    f.add_non_transactional(
        "2026-03-04-090000_hold_assets",
        "DO $$ BEGIN LOCK TABLE assets IN SHARE MODE; PERFORM pg_sleep(0.3); END $$;\n",
        Some("SELECT 1;\n"),
    );
    let out = rehearse(&db, &f, &["--json"], 0);
    let report = json(&out);
    let s = statement(&report, "20260304090000");
    let lock = lock_on_assets(s);
    assert_eq!(lock["mode"], "SHARE", "{s:#}");
    let held = lock["held_ms"].as_u64().unwrap();
    assert!((250..2000).contains(&held), "held {held} ms: {s:#}");
    assert!(report["samples"].as_u64().unwrap() >= 3, "{report:#}");
    assert_eq!(report["migrations"][0]["run_in_transaction"], false);

    // Without the watcher the same run sees no lock at all.
    let out = rehearse(&db, &f, &["--json", "--no-watcher"], 0);
    let report = json(&out);
    assert_eq!(report["watched"], false);
    assert_eq!(
        statement(&report, "20260304090000")["locks"],
        serde_json::json!([])
    );
}
