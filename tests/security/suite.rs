//! Security suite (issue 9, item 9):
//!
//! * a `pg_dump`/`pg_restore` shim placed first on `PATH` records the argv and the `PG*`
//!   environment of every call during `migrate --env prod --require-backup --yes up`, for every
//!   connection-string form: the password is never in argv, the connection travels only through
//!   the environment (`PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`, `PGPASSWORD` or a passfile);
//!   a failing verification removes the dump (exit 7) and an old `pg_dump` is refused (exit 7);
//! * backup modes (folder 0700, dump 0600, unique names, audit path/size/SHA-256) and symlink
//!   games (symlinked `--backup-dir`, symlinks planted at the names a dump or the write probe
//!   could take, group- or world-writable folder);
//! * every prod revert form is refused with exit 4 and the database unchanged;
//! * read-only commands leave the database byte-identical (also a diesel_cli database and an
//!   unstamped one with tables);
//! * the stamp rules: an unknown database is refused by destructive commands, an explicit
//!   `--env dev` stamps it, an audit log that shows prod wins over a missing stamp.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use groundwork_testdb::{
    DbSnapshot, TestDb, bin_cmd, migrate_cmd, output_text, run_with_limit, seed_cmd, snapshot_diff,
    which,
};
use sha2::{Digest, Sha256};

const LIMIT: Duration = Duration::from_secs(90);

/// A prod database (applied by a prod run, audit log included) with the given number of the
/// embedded migrations still pending (1 or 2).
fn prod_db(pending: usize) -> TestDb {
    let to = match pending {
        1 => "20260202090000",
        2 => "20260126090000",
        n => panic!("no template for {n} pending migrations"),
    };
    TestDb::from_template(&format!("security_prod_pending_{pending}"), |url| {
        let backups = tempfile::tempdir().expect("temp dir");
        let out = Command::new(groundwork_testdb::bin_path("migrate"))
            .args(["--env", "prod", "--require-backup", "--yes", "--backup-dir"])
            .arg(backups.path())
            .args(["up", "--to", to])
            .env("DATABASE_URL", url)
            .env_remove("APP_ENV")
            .current_dir(groundwork_testdb::scratch_dir())
            .output()
            .expect("run migrate");
        assert!(out.status.success(), "{}", output_text(&out));
    })
}

/// A database migrated as diesel_cli leaves it: the tables and `__diesel_schema_migrations`
/// (created with diesel's own DDL, which `migrate` uses byte for byte), no `groundwork` schema.
fn diesel_db() -> TestDb {
    let db = TestDb::migrated();
    db.client()
        .batch_execute("DROP SCHEMA groundwork CASCADE")
        .expect("drop groundwork");
    db
}

/// A database with tables and bookkeeping whose stamp row was deleted (audit log says `test`).
fn unstamped_db() -> TestDb {
    let db = TestDb::migrated();
    db.client()
        .batch_execute("DELETE FROM groundwork.environment")
        .expect("delete stamp");
    db
}

fn stamp(db: &TestDb) -> Option<String> {
    let mut c = db.client();
    let exists: bool = c
        .query_one(
            "SELECT to_regclass('groundwork.environment') IS NOT NULL",
            &[],
        )
        .expect("look up the stamp table")
        .get(0);
    if !exists {
        return None;
    }
    c.query_opt("SELECT env FROM groundwork.environment", &[])
        .expect("read the stamp")
        .map(|r| r.get(0))
}

fn prod_up(db: &TestDb, backups: &Path) -> Command {
    let mut cmd = migrate_cmd(db);
    cmd.args(["--env", "prod", "--require-backup", "--yes", "--backup-dir"])
        .arg(backups)
        .arg("up");
    cmd
}

fn text(r: &groundwork_testdb::RunResult) -> String {
    format!("{}{}", r.stdout, r.stderr)
}

// ---------------------------------------------------------------------------
// The pg_dump / pg_restore shim.
// ---------------------------------------------------------------------------

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

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn assert_unchanged(before: &DbSnapshot, db: &TestDb, ctx: &str) {
    let diff = snapshot_diff(before, &db.snapshot());
    assert!(
        diff.is_empty(),
        "{ctx}: the database changed:\n  {}",
        diff.join("\n  ")
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

// ---------------------------------------------------------------------------
// Backup files.
// ---------------------------------------------------------------------------

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

fn sha256_file(p: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(p).unwrap()))
}

#[test]
fn backups_are_private_unique_and_audited() {
    let db = prod_db(2);
    let base = tempfile::tempdir().unwrap();
    let backups = base.path().join("new").join("backups");
    for to in [Some("20260202090000"), None] {
        let mut cmd = prod_up(&db, &backups);
        if let Some(to) = to {
            cmd.args(["--to", to]);
        }
        let res = run_with_limit(&mut cmd, LIMIT);
        assert_eq!(res.code, Some(0), "{}", res.describe());
    }
    assert_eq!(
        format!("{:o}", mode(&backups)),
        "700",
        "the backup folder is created 0700"
    );
    let dumps = files(&backups);
    assert_eq!(dumps.len(), 2, "two runs, two distinct dumps: {dumps:?}");
    for d in &dumps {
        let meta = std::fs::symlink_metadata(d).unwrap();
        assert!(
            meta.file_type().is_file(),
            "{} is a regular file",
            d.display()
        );
        assert_eq!(
            format!("{:o}", mode(d)),
            "600",
            "{} has mode 0600",
            d.display()
        );
    }
    let audited: Vec<(String, i64, String)> = db
        .client()
        .query(
            "SELECT backup_path, backup_size_bytes, backup_sha256 FROM groundwork.audit_runs \
             WHERE backup_path IS NOT NULL ORDER BY id DESC LIMIT 2",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(audited.len(), 2, "{audited:?}");
    assert_ne!(audited[0].0, audited[1].0, "each run has its own dump path");
    for (path, size, sha) in &audited {
        let p = Path::new(path);
        assert!(p.is_absolute(), "audited path {path} is absolute");
        assert!(
            dumps.iter().any(|d| d == p),
            "audited path {path} is one of {dumps:?}"
        );
        assert_eq!(
            std::fs::metadata(p).unwrap().len() as i64,
            *size,
            "{path} size"
        );
        assert_eq!(&sha256_file(p), sha, "{path} SHA-256");
    }
}

/// The rule: a symlinked `--backup-dir` is refused unless it resolves to a folder
/// owned by the running user with no write bit for others; then the dump lands in the real
/// folder and the audit log records the resolved path.
#[test]
fn a_symlinked_backup_dir_is_used_only_when_it_resolves_to_a_private_folder() {
    // A link to a shared folder: refused, nothing written through it, database unchanged.
    let db = prod_db(1);
    let before = db.snapshot();
    let base = tempfile::tempdir().unwrap();
    let shared = base.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o770)).unwrap();
    let link = base.path().join("link-to-shared");
    std::os::unix::fs::symlink(&shared, &link).unwrap();
    let res = run_with_limit(&mut prod_up(&db, &link), LIMIT);
    assert_eq!(res.code, Some(7), "{}", res.describe());
    assert!(
        res.stderr.contains(&link.display().to_string()),
        "{}",
        res.describe()
    );
    assert!(
        files(&shared).is_empty(),
        "nothing written through the link: {:?}",
        files(&shared)
    );
    assert_unchanged(&before, &db, "symlinked --backup-dir to a shared folder");

    // A link to a private folder of the running user: used, audited by its real path.
    let db = prod_db(1);
    let real = base.path().join("private");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = base.path().join("link-to-private");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let res = run_with_limit(&mut prod_up(&db, &link), LIMIT);
    assert_eq!(res.code, Some(0), "{}", res.describe());
    let dumps = files(&real);
    assert_eq!(dumps.len(), 1, "one dump in the real folder: {dumps:?}");
    let audited: String = db
        .client()
        .query_one(
            "SELECT backup_path FROM groundwork.audit_runs WHERE backup_path IS NOT NULL \
             ORDER BY id DESC LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    let real = real.canonicalize().unwrap();
    assert!(
        Path::new(&audited).starts_with(&real),
        "the audit log records the resolved path {audited}, under {}",
        real.display()
    );
}

#[test]
fn group_or_world_writable_backup_dirs_are_refused_with_exit_7() {
    for m in [0o770, 0o777, 0o722] {
        let db = prod_db(1);
        let before = db.snapshot();
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("shared");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(m)).unwrap();
        let res = run_with_limit(&mut prod_up(&db, &dir), LIMIT);
        assert_eq!(res.code, Some(7), "mode {m:o}:\n{}", res.describe());
        assert!(
            files(&dir).is_empty(),
            "mode {m:o}: nothing written: {:?}",
            files(&dir)
        );
        assert_unchanged(&before, &db, &format!("--backup-dir with mode {m:o}"));
    }
}

#[test]
fn symlinks_planted_at_dump_and_probe_names_are_never_followed() {
    let db = prod_db(1);
    let base = tempfile::tempdir().unwrap();
    let victim = base.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    let backups = base.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    std::fs::set_permissions(&backups, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut planted = Vec::new();
    // The dump names of the old scheme (<db>-<UTC second>-before-<version>.dump) for the next
    // 30 seconds, and the write probe of the next 400 process ids.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for s in -2..30 {
        let name = format!(
            "{}-{}-before-20260209090000.dump",
            db.name(),
            utc_stamp(now + s)
        );
        planted.push(backups.join(name));
    }
    let last_pid: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    for pid in last_pid + 1..last_pid + 400 {
        planted.push(backups.join(format!(".migrate-write-test-{pid}")));
    }
    for p in &planted {
        std::os::unix::fs::symlink(&victim, p).unwrap();
    }
    let res = run_with_limit(&mut prod_up(&db, &backups), LIMIT);
    assert!(
        std::fs::read(&victim).unwrap() == b"precious\n",
        "a planted symlink was followed: the victim file was overwritten\n{}",
        res.describe()
    );
    assert_eq!(res.code, Some(0), "{}", res.describe());
    for p in &planted {
        assert!(
            std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()),
            "planted link {} was replaced or removed",
            p.display()
        );
    }
    let dumps: Vec<PathBuf> = files(&backups)
        .into_iter()
        .filter(|p| !planted.contains(p))
        .collect();
    assert_eq!(
        dumps.len(),
        1,
        "one new dump beside the planted links: {dumps:?}"
    );
    assert!(
        std::fs::symlink_metadata(&dumps[0])
            .unwrap()
            .file_type()
            .is_file()
    );
    assert_eq!(
        format!("{:o}", mode(&dumps[0])),
        "600",
        "the dump has mode 0600"
    );
}

/// `YYYYMMDDTHHMMSSZ` of a Unix time (civil-from-days, no date crate needed).
fn utc_stamp(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

// ---------------------------------------------------------------------------
// Prod reverts.
// ---------------------------------------------------------------------------

#[test]
fn every_prod_revert_form_that_reverts_more_than_one_migration_is_refused() {
    let forms: &[&[&str]] = &[
        &["down", "--all"],
        &["down", "--steps", "2"],
        &["down", "--steps", "99"],
        &["down", "--to", "20260110090000"],
        &["down", "--to", "00000000000000"],
        &["redo", "--steps", "2"],
        &["redo", "--steps", "99"],
    ];
    let mut failures = Vec::new();
    for form in forms {
        for via_app_env in [false, true] {
            let db = prod_db(1);
            let before = db.snapshot();
            let backups = tempfile::tempdir().unwrap();
            let mut cmd = migrate_cmd(&db);
            if via_app_env {
                cmd.env("APP_ENV", "prod");
            } else {
                cmd.args(["--env", "prod"]);
            }
            cmd.args(["--require-backup", "--yes", "--backup-dir"])
                .arg(backups.path())
                .args(*form);
            let res = run_with_limit(&mut cmd, LIMIT);
            let how = if via_app_env {
                "APP_ENV=prod"
            } else {
                "--env prod"
            };
            if res.code != Some(4) {
                failures.push(format!("{how} {form:?}: exit {:?}, expected 4", res.code));
            }
            let diff = snapshot_diff(&before, &db.snapshot());
            if !diff.is_empty() {
                failures.push(format!(
                    "{how} {form:?}: database changed: {}",
                    diff.join("; ")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "prod revert guard:\n  {}",
        failures.join("\n  ")
    );
}

// ---------------------------------------------------------------------------
// Read-only commands.
// ---------------------------------------------------------------------------

fn read_only_commands_leave(setup: &str, db: &TestDb) {
    let commands: &[(&str, &[&str])] = &[
        ("migrate", &["status"]),
        ("migrate", &["--json", "status"]),
        ("migrate", &["plan"]),
        ("migrate", &["verify"]),
        ("migrate", &["history"]),
        ("seed", &["--list"]),
        ("seed", &["verify"]),
    ];
    let mut failures = Vec::new();
    for (bin, args) in commands {
        let before = db.snapshot();
        let res = run_with_limit(bin_cmd(bin, db).args(*args), LIMIT);
        if text(&res).contains("panicked") || res.timed_out {
            failures.push(format!(
                "{bin} {args:?}: panicked or hung\n{}",
                res.describe()
            ));
        }
        let diff = snapshot_diff(&before, &db.snapshot());
        if !diff.is_empty() {
            failures.push(format!(
                "{bin} {args:?} (exit {:?}) wrote to the database:\n    {}",
                res.code,
                diff.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "read-only commands on {setup}:\n{}",
        failures.join("\n")
    );
}

#[test]
fn read_only_commands_leave_a_migrated_database_byte_identical() {
    read_only_commands_leave("a migrated test database", &TestDb::migrated());
}

#[test]
fn read_only_commands_leave_a_diesel_cli_database_byte_identical() {
    read_only_commands_leave("a database migrated by diesel_cli", &diesel_db());
}

#[test]
fn read_only_commands_leave_an_unstamped_database_byte_identical() {
    read_only_commands_leave("an unstamped database with tables", &unstamped_db());
}

#[test]
fn read_only_commands_leave_a_prod_database_byte_identical() {
    read_only_commands_leave("a prod database with a pending migration", &prod_db(1));
}

#[test]
fn read_only_commands_leave_an_empty_database_byte_identical() {
    read_only_commands_leave("an empty database", &TestDb::empty());
}

// ---------------------------------------------------------------------------
// Stamp rules.
// ---------------------------------------------------------------------------

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
