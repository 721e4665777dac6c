//! A `pg_dump`/`pg_restore` shim placed first on `PATH` records the argv and the `PG*`
//! environment of every call during `migrate --env prod --require-backup --yes up`, for every
//! connection-string form: the password is never in argv, the connection travels only through
//! the environment (`PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`, `PGPASSWORD` or a passfile); a
//! failing verification removes the dump (exit 7) and an old `pg_dump` is refused (exit 7).

use std::os::unix::fs::PermissionsExt;

use groundwork_testdb::{run_with_limit, which};

use super::support::*;

/// How the shim behaves besides recording.
#[derive(Clone, Copy, PartialEq)]
enum ShimMode {
    /// Record, then run the real binary.
    PassThrough,
    /// `pg_restore` records and fails (a dump that does not verify).
    RestoreFails,
    /// `pg_dump --version` claims 9.6 (older than the server).
    OldPgDump,
}

struct Shim {
    dir: tempfile::TempDir,
}

impl Shim {
    fn new(mode: ShimMode) -> Shim {
        let dir = tempfile::tempdir().expect("temp dir");
        for tool in ["pg_dump", "pg_restore"] {
            let real = which(tool).unwrap_or_else(|| panic!("{tool} is not on PATH"));
            let extra = match (mode, tool) {
                (ShimMode::RestoreFails, "pg_restore") => {
                    "echo 'pg_restore: error: input file appears to be corrupt' >&2\nexit 1\n"
                }
                (ShimMode::OldPgDump, "pg_dump") => {
                    "case \"$1\" in --version|-V) echo 'pg_dump (PostgreSQL) 9.6.24'; exit 0;; esac\n"
                }
                _ => "",
            };
            let script = format!(
                "#!/bin/sh\n\
                 {{\n\
                 printf 'CALL %s\\n' '{tool}'\n\
                 for a in \"$@\"; do printf 'ARG %s\\n' \"$a\"; done\n\
                 env | grep '^PG' | sed 's/^/ENV /'\n\
                 }} >> '{log}'\n\
                 {extra}\
                 exec '{real}' \"$@\"\n",
                log = dir.path().join("calls.log").display(),
                real = real.display(),
            );
            let path = dir.path().join(tool);
            std::fs::write(&path, script).expect("write shim");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .expect("chmod shim");
        }
        Shim { dir }
    }

    /// `PATH` with the shim first.
    fn path_env(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// Every recorded call: (tool, argv, PG* environment lines).
    fn calls(&self) -> Vec<(String, Vec<String>, Vec<String>)> {
        let log = std::fs::read_to_string(self.dir.path().join("calls.log")).unwrap_or_default();
        let mut calls: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
        for line in log.lines() {
            if let Some(tool) = line.strip_prefix("CALL ") {
                calls.push((tool.to_owned(), Vec::new(), Vec::new()));
            } else if let Some(a) = line.strip_prefix("ARG ") {
                if let Some(c) = calls.last_mut() {
                    c.1.push(a.to_owned());
                }
            } else if let Some(e) = line.strip_prefix("ENV ") {
                if let Some(c) = calls.last_mut() {
                    c.2.push(e.to_owned());
                }
            } else if let Some(c) = calls.last_mut() {
                // A continuation of a multi-line argument.
                c.1.push(line.to_owned());
            }
        }
        calls
    }
}

/// Runs a prod `up` with `DATABASE_URL = url` through the shim and checks every recorded call.
fn check_connection_form(form: &str, url_template: &str, password: &str) {
    let db = prod_db(1);
    let url = url_template.replace("{db}", db.name());
    let shim = Shim::new(ShimMode::PassThrough);
    let backups = tempfile::tempdir().unwrap();
    let res = run_with_limit(
        prod_up(&db, &backups.path().join("b"))
            .env("DATABASE_URL", &url)
            .env("PATH", shim.path_env()),
        LIMIT,
    );
    let mut problems = Vec::new();
    if res.code != Some(0) {
        problems.push(format!("prod up exited {:?}", res.code));
    }
    if text(&res).contains("hunter2") {
        problems.push("the password was printed".to_owned());
    }
    let calls = shim.calls();
    for tool in ["pg_dump", "pg_restore"] {
        if !calls.iter().any(|c| c.0 == tool) {
            problems.push(format!("{tool} was never called"));
        }
    }
    let encoded = url_template
        .split(['@', '?', ' '])
        .find(|p| p.contains("hunter2"))
        .unwrap_or("hunter2")
        .to_owned();
    for (tool, argv, env) in &calls {
        for a in argv {
            let lower = a.to_lowercase();
            if a.contains("hunter2") || a.contains(password) || a.contains(&encoded) {
                problems.push(format!("{tool}: the password is in argv: {a:?}"));
            }
            if lower.contains("postgres://")
                || lower.contains("postgresql://")
                || lower.contains("host=")
                || lower.contains("dbname=")
                || lower.contains("password=")
            {
                problems.push(format!("{tool}: a connection string is in argv: {a:?}"));
            }
            if a == "--dbname"
                || a.starts_with("--dbname=")
                || a == "-d"
                || a == "-h"
                || a == "--host"
            {
                problems.push(format!(
                    "{tool}: connection flag {a:?} in argv (use PG* environment)"
                ));
            }
        }
        if tool == "pg_dump" && !argv.iter().any(|a| a == "--version" || a == "-V") {
            for var in ["PGHOST=", "PGPORT=", "PGUSER=", "PGDATABASE="] {
                if !env.iter().any(|e| e.starts_with(var)) {
                    problems.push(format!("pg_dump: {var} missing from its environment"));
                }
            }
            if !env
                .iter()
                .any(|e| e.starts_with(&format!("PGDATABASE={}", db.name())))
            {
                problems.push(format!("pg_dump: PGDATABASE is not {}", db.name()));
            }
            let pw_ok = env.iter().any(|e| *e == format!("PGPASSWORD={password}"))
                || env.iter().any(|e| e.starts_with("PGPASSFILE="));
            if !pw_ok {
                problems.push(format!(
                    "pg_dump: the password does not travel by PGPASSWORD/PGPASSFILE (env: {env:?})"
                ));
            }
        }
        if tool == "pg_dump" && !env.iter().any(|e| e.starts_with("PGCONNECT_TIMEOUT=")) {
            problems.push("pg_dump: no PGCONNECT_TIMEOUT in its environment".to_owned());
        }
    }
    assert!(
        problems.is_empty(),
        "connection form {form} ({} recorded calls):\n  - {}\ncalls: {calls:#?}\n{}",
        calls.len(),
        problems.join("\n  - "),
        res.describe()
    );
}

#[test]
fn shim_url_with_password() {
    check_connection_form(
        "URL with user:password",
        "postgres://postgres:hunter2-url@127.0.0.1:5432/{db}",
        "hunter2-url",
    );
}

#[test]
fn shim_url_with_query_password() {
    check_connection_form(
        "URL with ?password=",
        "postgres://postgres@127.0.0.1:5432/{db}?password=hunter2-query&sslmode=disable",
        "hunter2-query",
    );
}

#[test]
fn shim_url_percent_encoded_password() {
    check_connection_form(
        "URL with a percent-encoded password",
        "postgresql://postgres:hunter2%2Fp%23c%40t%20x@127.0.0.1:5432/{db}",
        "hunter2/p#c@t x",
    );
}

#[test]
fn shim_keyvalue_quoted_password() {
    check_connection_form(
        "key=value with a quoted password",
        "host=127.0.0.1 port=5432 user=postgres password='hunter2 q\\'kv' dbname={db}",
        "hunter2 q'kv",
    );
}

#[test]
fn shim_keyvalue_spaces_around_equals() {
    check_connection_form(
        "key = value with spaces around =",
        "host = 127.0.0.1 port = 5432 user = postgres password = hunter2-sp dbname = {db}",
        "hunter2-sp",
    );
}

#[test]
fn a_dump_that_fails_verification_is_removed_and_the_run_exits_7() {
    let db = prod_db(1);
    let before = db.snapshot();
    let shim = Shim::new(ShimMode::RestoreFails);
    let backups = tempfile::tempdir().unwrap();
    let res = run_with_limit(
        prod_up(&db, backups.path()).env("PATH", shim.path_env()),
        LIMIT,
    );
    assert_eq!(res.code, Some(7), "{}", res.describe());
    assert!(
        files(backups.path()).is_empty(),
        "the unverified dump must be removed: {:?}",
        files(backups.path())
    );
    assert_unchanged(&before, &db, "failed verification");
}

#[test]
fn an_old_pg_dump_is_refused_with_exit_7_before_anything_is_applied() {
    let db = prod_db(1);
    let before = db.snapshot();
    let shim = Shim::new(ShimMode::OldPgDump);
    let backups = tempfile::tempdir().unwrap();
    let res = run_with_limit(
        prod_up(&db, backups.path()).env("PATH", shim.path_env()),
        LIMIT,
    );
    assert_eq!(res.code, Some(7), "{}", res.describe());
    assert!(
        res.stderr.contains("9.6"),
        "the message names the version:\n{}",
        res.describe()
    );
    assert_unchanged(&before, &db, "old pg_dump");
}
