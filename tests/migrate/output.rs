//! What `migrate` prints: a long list in a message is summarised in text and complete in
//! `--json` and the audit log; `--quiet` leaves only errors and the confirmation prompt.

use std::process::{Command, Stdio};

use groundwork_testdb::{Fixture, TestDb, migrate_cmd, output_text, run_expect};

use super::prod::{files_in, prod_db, prod_up};

/// How many migrations succeed before the failing one.
const MANY: usize = 50;

/// `MANY` migrations creating a table each, then one whose SQL fails.
fn many_then_failing() -> Fixture {
    let f = Fixture::empty();
    for i in 1..=MANY {
        f.add(
            &format!("20260101{i:06}_table_{i:03}"),
            &format!("CREATE TABLE table_{i:03} (id int);\n"),
            Some(&format!("DROP TABLE table_{i:03};\n")),
        );
    }
    f.add(
        "20260102000000_broken",
        "SELECT * FROM no_such_table;\n",
        None,
    );
    f
}

fn done(i: usize) -> String {
    format!("20260101{i:06} table_{i:03}")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_failure_after_many_migrations_summarises_them_in_text_and_lists_them_all_in_json() {
    let f = many_then_failing();

    let db = TestDb::empty();
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--quiet", "up"]),
        8,
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "Applied before the failure in this run (kept): {MANY} migrations, newest {}, oldest {} \
             (the full list: `migrate --json history`).",
            done(MANY),
            done(1)
        )),
        "{}",
        output_text(&out)
    );
    assert!(!err.contains(&done(25)), "{err}");
    // The audit log keeps every one.
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--json", "history"]),
        0,
    );
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let logged = history["runs"][0]["migrations"]
        .as_str()
        .unwrap_or_default();
    for i in 1..=MANY {
        assert!(logged.contains(&done(i)), "{i} missing from {logged}");
    }
    // In text, that run's migrations are summarised too.
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "history"]),
        0,
    );
    let table = stdout(&out);
    assert!(
        table.contains(&format!("{} migrations, first", MANY + 1)),
        "{table}"
    );
    assert!(!table.contains(&done(25)), "{table}");

    let db = TestDb::empty();
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--json", "up"]),
        8,
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}\n{}", output_text(&out)));
    let failed = &json["failed"];
    assert_eq!(failed["direction"], "up");
    assert_eq!(failed["version"], "20260102000000");
    assert_eq!(failed["name"], "broken");
    assert_eq!(failed["transactional"], true);
    let listed: Vec<&str> = failed["done"]
        .as_array()
        .unwrap_or_else(|| panic!("{json}"))
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let expected: Vec<String> = (1..=MANY).map(done).collect();
    assert_eq!(listed, expected);
}

#[test]
fn a_short_list_is_written_out_in_full() {
    let f = Fixture::empty();
    f.add("20260101000001_one", "CREATE TABLE one (id int);\n", None);
    f.add(
        "20260101000002_broken",
        "SELECT * FROM no_such_table;\n",
        None,
    );
    let db = TestDb::empty();
    let out = run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "up"]),
        8,
    );
    let err = stderr(&out);
    assert!(
        err.contains("Applied before the failure in this run (kept): 20260101000001 one."),
        "{err}"
    );
}

#[test]
fn quiet_prints_nothing_but_errors() {
    let f = Fixture::standard();
    let db = TestDb::empty();
    let dir = f.arg();
    let quiet = |args: &[&str], code: i32| {
        let out = run_expect(
            migrate_cmd(&db)
                .args(["--migrations-dir", &dir, "--quiet"])
                .args(args),
            code,
        );
        (stdout(&out), stderr(&out))
    };
    for args in [
        &["up"][..],
        &["status"],
        &["plan"],
        &["verify"],
        &["history"],
        &["down"],
        &["redo"],
        &["up"],
        &["accept-checksum", "20260110090000"],
    ] {
        assert_eq!(quiet(args, 0), (String::new(), String::new()), "{args:?}");
    }
    // --json is asked for explicitly: --quiet does not drop it.
    let (json, _) = quiet(&["--json", "status"], 0);
    assert!(json.contains("\"applied_count\":4"), "{json}");
    // Drift: only the error.
    std::fs::write(
        f.path().join("2026-01-10-090000_create_accounts/up.sql"),
        "CREATE TABLE accounts (id uuid PRIMARY KEY);\n",
    )
    .unwrap();
    let (out, err) = quiet(&["verify"], 5);
    assert_eq!(out, "");
    assert!(
        err.starts_with("error: ") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn quiet_in_prod_drops_the_plan_and_backup_line_unless_a_prompt_asks() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    let before = files_in(backups.path());

    // On a terminal the plan belongs to the question: it is shown.
    let cmd = format!(
        "{} --migrations-dir {} --env prod --require-backup --backup-dir {} --quiet up",
        groundwork_testdb::bin_path("migrate").display(),
        f.arg(),
        backups.path().display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("DATABASE_URL", db.url())
        .env_remove("APP_ENV")
        .current_dir(groundwork_testdb::scratch_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script(1) from util-linux");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "no").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(text.contains("Plan (apply in prod)"), "{text}");
    assert!(text.contains("Type 'yes' to continue"), "{text}");

    // With --yes nobody is asked: nothing but errors.
    let out = run_expect(
        prod_up(&db, &f)
            .args(["--require-backup", "--yes", "--quiet", "--backup-dir"])
            .arg(backups.path())
            .arg("up"),
        0,
    );
    assert_eq!((stdout(&out), stderr(&out)), (String::new(), String::new()));
    assert_eq!(files_in(backups.path()), before + 1, "the backup was taken");
}
