//! Backups as protected as the database: folder and file modes, unique names, symlink games,
//! failing and outdated client tools (shims first on PATH), connection settings only in the
//! children's environment.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use groundwork_testdb::{Fixture, TestDb, migrate_cmd, output_text, run_expect, stderr};

use super::prod::{files_in, prod_db, prod_up};

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn dumps_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "dump"));
    v.sort();
    v
}

/// The applied versions, oldest first.
pub(super) fn applied(db: &TestDb) -> Vec<String> {
    db.client()
        .query(
            "SELECT version::text FROM __diesel_schema_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Where the real client program lives (the shims exec it).
fn real(program: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .unwrap();
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !path.is_empty(),
        "{program} must be installed for this test"
    );
    path
}

/// A folder of executable shell scripts, to put first on PATH.
struct Shims {
    dir: tempfile::TempDir,
}

impl Shims {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn add(&self, name: &str, body: &str) -> &Self {
        let path = self.dir.path().join(name);
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    /// A shim that records its argv (one argument a line) and environment, then runs the
    /// real program.
    fn recording(&self, name: &str) -> &Self {
        let log = self.dir.path().join(format!("{name}.log"));
        self.add(
            name,
            &format!(
                "{{ echo '--- argv'; for a in \"$0\" \"$@\"; do printf '%s\\n' \"$a\"; done; \
                 echo '--- env'; env; }} >> '{}'\nexec '{}' \"$@\"",
                log.display(),
                real(name)
            ),
        )
    }

    fn log(&self, name: &str) -> String {
        fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    fn path_var(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }
}

/// `migrate --env prod --require-backup --yes --backup-dir DIR …` on the standard fixture.
pub(super) fn prod_backup_run(db: &TestDb, f: &Fixture, backups: &Path) -> Command {
    let mut cmd = prod_up(db, f);
    cmd.args(["--require-backup", "--yes", "--backup-dir"])
        .arg(backups);
    cmd
}

#[test]
fn prod_up_creates_a_private_folder_and_a_private_dump_whatever_the_umask() {
    let f = Fixture::standard();
    let parent = tempfile::tempdir().unwrap();
    let first = parent.path().join("first");
    let db = prod_db(&f, &first);
    let backups = parent.path().join("nested/backups");
    // A umask that would leave an unwritable folder and a read-only dump if we relied on it.
    let mut cmd = Command::new("sh");
    let migrate = prod_backup_run(&db, &f, &backups);
    cmd.arg("-c")
        .arg("umask 0277; exec \"$0\" \"$@\"")
        .arg(migrate.get_program())
        .args(migrate.get_args())
        .env("DATABASE_URL", db.url())
        .env_remove("APP_ENV")
        .current_dir(groundwork_testdb::scratch_dir());
    let out = run_expect(cmd.arg("up"), 0);
    assert_eq!(mode(&backups), 0o700, "{}", output_text(&out));
    let dumps = dumps_in(&backups);
    assert_eq!(dumps.len(), 1, "{dumps:?}");
    assert_eq!(mode(&dumps[0]), 0o600);
    assert!(fs::symlink_metadata(&dumps[0]).unwrap().is_file());
    assert_eq!(fs::read_dir(&backups).unwrap().count(), 1, "no probe left");
    // The first folder (created by prod_db without the umask) is private too.
    assert_eq!(mode(&first), 0o700);
    assert_eq!(mode(&dumps_in(&first)[0]), 0o600);

    // The audit log holds the canonical path, the size and the SHA-256 of that file.
    let mut client = db.client();
    let row = client
        .query_one(
            "SELECT backup_path, backup_size_bytes, backup_sha256 FROM groundwork.audit_runs \
             WHERE backup_path IS NOT NULL ORDER BY id DESC LIMIT 1",
            &[],
        )
        .unwrap();
    let path: String = row.get(0);
    assert_eq!(Path::new(&path), fs::canonicalize(&dumps[0]).unwrap());
    let bytes = fs::read(&path).unwrap();
    assert_eq!(row.get::<_, i64>(1), bytes.len() as i64);
    use sha2::Digest;
    assert_eq!(
        row.get::<_, String>(2),
        hex::encode(sha2::Sha256::digest(&bytes))
    );
}

#[test]
fn two_prod_runs_write_two_distinct_dumps() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    run_expect(
        prod_backup_run(&db, &f, backups.path()).args(["up", "--to", "20260111090000"]),
        0,
    );
    run_expect(prod_backup_run(&db, &f, backups.path()).arg("up"), 0);
    let dumps = dumps_in(backups.path());
    assert_eq!(dumps.len(), 3, "{dumps:?}");
    let recorded = db.rows_as_text(
        "SELECT DISTINCT backup_path, backup_sha256 FROM groundwork.audit_runs WHERE backup_path IS NOT NULL",
    );
    assert_eq!(recorded.len(), 3, "three runs, three files: {recorded:?}");
}

#[test]
fn shared_or_symlinked_backup_folders_are_refused_unless_private() {
    let f = Fixture::standard();
    let setup = tempfile::tempdir().unwrap();
    let db = prod_db(&f, setup.path());
    let before = db.full_dump();
    let area = tempfile::tempdir().unwrap();

    // A group-writable folder.
    let shared = area.path().join("shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o770)).unwrap();
    let out = run_expect(prod_backup_run(&db, &f, &shared).arg("up"), 7);
    let err = stderr(&out);
    assert!(
        err.contains(&shared.display().to_string())
            && err.contains("writable by group or others")
            && err.contains("chmod 700")
            && err.contains("Nothing was applied"),
        "{err}"
    );
    assert_eq!(files_in(&shared), 0);

    // A symbolic link to a world-writable folder.
    let world = area.path().join("world");
    fs::create_dir(&world).unwrap();
    fs::set_permissions(&world, fs::Permissions::from_mode(0o777)).unwrap();
    let link = area.path().join("link");
    symlink(&world, &link).unwrap();
    let out = run_expect(prod_backup_run(&db, &f, &link).arg("up"), 7);
    let err = stderr(&out);
    assert!(
        err.contains(&link.display().to_string()) && err.contains("symbolic link to"),
        "{err}"
    );
    assert_eq!(files_in(&world), 0);

    // A symbolic link to a dangling target, and a regular file.
    let dangling = area.path().join("dangling");
    symlink(area.path().join("nowhere"), &dangling).unwrap();
    run_expect(prod_backup_run(&db, &f, &dangling).arg("up"), 7);
    assert!(!area.path().join("nowhere").exists());
    let file = area.path().join("file");
    fs::write(&file, "x").unwrap();
    let out = run_expect(prod_backup_run(&db, &f, &file).arg("up"), 7);
    assert!(stderr(&out).contains("is not a folder"), "{}", stderr(&out));
    assert_eq!(before, db.full_dump(), "nothing applied");

    // A symbolic link to a private folder of ours is used, and the real path recorded.
    let private = area.path().join("private");
    fs::create_dir(&private).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    let good_link = area.path().join("good-link");
    symlink(&private, &good_link).unwrap();
    run_expect(prod_backup_run(&db, &f, &good_link).arg("up"), 0);
    let dumps = dumps_in(&private);
    assert_eq!(dumps.len(), 1);
    let path: String = db
        .client()
        .query_one(
            "SELECT backup_path FROM groundwork.audit_runs WHERE backup_path IS NOT NULL ORDER BY id DESC LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(Path::new(&path), fs::canonicalize(&dumps[0]).unwrap());
}

#[test]
fn planted_symlinks_in_the_folder_are_never_followed() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    let victim_dir = tempfile::tempdir().unwrap();
    let victim = victim_dir.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    // Links at the names the old code would have used in the next seconds, and at its
    // write probe for a range of pids.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut planted = Vec::new();
    for s in 0..5 {
        let stamp = Command::new("date")
            .args(["-u", "-d", &format!("@{}", now + s), "+%Y%m%dT%H%M%SZ"])
            .output()
            .unwrap();
        let stamp = String::from_utf8_lossy(&stamp.stdout).trim().to_string();
        planted.push(format!("{}-{stamp}-before-20260111090000.dump", db.name()));
    }
    planted.extend((0..50).map(|i| format!(".migrate-write-test-{}", 30000 + i)));
    for name in &planted {
        symlink(&victim, backups.path().join(name)).unwrap();
    }
    run_expect(prod_backup_run(&db, &f, backups.path()).arg("up"), 0);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    for name in &planted {
        assert!(
            fs::symlink_metadata(backups.path().join(name))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
    let real_dumps: Vec<PathBuf> = dumps_in(backups.path())
        .into_iter()
        .filter(|p| fs::symlink_metadata(p).unwrap().is_file())
        .collect();
    assert_eq!(real_dumps.len(), 2, "{real_dumps:?}");
    for d in &real_dumps {
        assert_eq!(mode(d), 0o600);
    }
}

#[test]
fn failing_pg_restore_removes_the_dump_and_applies_nothing() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    let before = db.full_dump();
    let dumps_before = dumps_in(backups.path());
    let shims = Shims::new();
    shims.add(
        "pg_restore",
        "echo 'pg_restore: error: simulated corruption' >&2\nexit 1",
    );
    let out = run_expect(
        prod_backup_run(&db, &f, backups.path())
            .env("PATH", shims.path_var())
            .arg("up"),
        7,
    );
    let err = stderr(&out);
    assert!(
        err.contains("did not verify")
            && err.contains("simulated corruption")
            && err.contains("removed")
            && err.contains("Nothing was applied"),
        "{err}"
    );
    assert_eq!(
        dumps_before,
        dumps_in(backups.path()),
        "the bad dump is gone"
    );
    assert_eq!(before, db.full_dump());
}

#[test]
fn failing_pg_dump_leaves_no_partial_dump_and_applies_nothing() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    let before = db.full_dump();
    let dumps_before = dumps_in(backups.path());
    let shims = Shims::new();
    shims.add(
        "pg_dump",
        &format!(
            "if [ \"$1\" = --version ]; then exec '{}' --version; fi\n\
             printf 'PGDMP partial'\necho 'pg_dump: error: simulated failure' >&2\nexit 1",
            real("pg_dump")
        ),
    );
    let out = run_expect(
        prod_backup_run(&db, &f, backups.path())
            .env("PATH", shims.path_var())
            .arg("up"),
        7,
    );
    let err = stderr(&out);
    assert!(
        err.contains("pg_dump exited") && err.contains("simulated failure"),
        "{err}"
    );
    assert_eq!(dumps_before, dumps_in(backups.path()));
    assert_eq!(before, db.full_dump());
}

#[test]
fn pg_dump_older_than_the_server_is_refused_before_anything_is_applied() {
    let f = Fixture::standard();
    let backups = tempfile::tempdir().unwrap();
    let db = prod_db(&f, backups.path());
    let before = db.full_dump();
    let n = files_in(backups.path());
    let shims = Shims::new();
    shims.add(
        "pg_dump",
        &format!(
            "if [ \"$1\" = --version ]; then echo 'pg_dump (PostgreSQL) 9.6.24'; exit 0; fi\nexec '{}' \"$@\"",
            real("pg_dump")
        ),
    );
    let out = run_expect(
        prod_backup_run(&db, &f, backups.path())
            .env("PATH", shims.path_var())
            .arg("up"),
        7,
    );
    let err = stderr(&out);
    let server = db.count("SELECT (current_setting('server_version_num')::int / 10000)::bigint");
    assert!(
        err.contains("version 9.6")
            && err.contains(&format!("PostgreSQL {server}"))
            && err.contains(&format!("postgresql-client-{server}"))
            && err.contains("Nothing was applied"),
        "{err}"
    );
    assert_eq!(n, files_in(backups.path()));
    assert_eq!(before, db.full_dump());
}

#[test]
fn the_password_reaches_pg_dump_and_pg_restore_only_through_their_environment() {
    let f = Fixture::standard();
    let probe = TestDb::empty();
    let cfg: postgres::Config = probe.url().parse().unwrap();
    let host = match &cfg.get_hosts()[0] {
        postgres::config::Host::Tcp(h) => h.clone(),
        postgres::config::Host::Unix(p) => p.display().to_string(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    let user = cfg.get_user().unwrap_or("postgres").to_string();
    // Trust authentication accepts any password, so each form can carry a distinct one.
    let url_of = |form: &str, db: &str| match form {
        "url" => format!("postgres://{user}:Url-Secret-1@{host}:{port}/{db}"),
        "query" => format!("postgres://{user}@{host}:{port}/{db}?password=Query-Secret-2"),
        "percent-encoded" => format!("postgres://{user}:p%40ss%2Fw%23rd-3@{host}:{port}/{db}"),
        _ => format!("host={host} port={port} user={user} password='kv secret#4' dbname={db}"),
    };
    let forms = [
        ("url", "Url-Secret-1"),
        ("query", "Query-Secret-2"),
        ("percent-encoded", "p@ss/w#rd-3"),
        ("key=value", "kv secret#4"),
    ];
    for (form, password) in forms {
        let db = TestDb::empty();
        let backups = tempfile::tempdir().unwrap();
        let shims = Shims::new();
        shims.recording("pg_dump").recording("pg_restore");
        let out = run_expect(
            migrate_cmd(&db)
                .env("DATABASE_URL", url_of(form, db.name()))
                .env("PATH", shims.path_var())
                // A caller's stray libpq settings must not redirect the children.
                .env("PGHOST", "/nonexistent")
                .env("PGDATABASE", "wrong_database")
                .env("PGPASSWORD", "stray-password")
                .args([
                    "--migrations-dir",
                    &f.arg(),
                    "--env",
                    "test",
                    "--require-backup",
                ])
                .arg("--backup-dir")
                .arg(backups.path())
                .arg("up"),
            0,
        );
        assert_eq!(applied(&db).len(), 4, "{form}: {}", output_text(&out));
        let encoded: String = password
            .replace('%', "%25")
            .replace('@', "%40")
            .replace('/', "%2F")
            .replace('#', "%23");
        for program in ["pg_dump", "pg_restore"] {
            let log = shims.log(program);
            assert!(log.contains("--- argv"), "{form}: {program} did not run");
            for call in log.split("--- argv").skip(1) {
                let (argv, env) = call.split_once("--- env").unwrap();
                assert!(
                    !argv.contains(password) && !argv.contains(&encoded),
                    "{form}: the password is on {program}'s command line:\n{argv}"
                );
                assert!(
                    !argv.contains("--dbname") && !argv.contains(&host),
                    "{form}: connection settings on {program}'s command line:\n{argv}"
                );
                assert!(
                    env.lines().any(|l| l == format!("PGPASSWORD={password}")),
                    "{form}: {program} did not get the password in PGPASSWORD"
                );
                assert!(
                    env.lines()
                        .any(|l| l == format!("PGDATABASE={}", db.name())),
                    "{form}: {program} got a stray PGDATABASE"
                );
                assert!(!env.contains("stray-password") && !env.contains("/nonexistent"));
            }
        }
        let text = output_text(&out);
        assert!(!text.contains(password), "{form}: printed:\n{text}");
    }
}
