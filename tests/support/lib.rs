//! The end-to-end test harness: a real PostgreSQL, one fresh database per
//! test, and the real `migrate` / `seed` binaries.
//!
//! * The server comes from `TEST_DATABASE_URL` (default
//!   `postgres://postgres@127.0.0.1:5432/postgres`). When nothing answers
//!   there, the variable is unset and PostgreSQL's binaries are installed,
//!   a throwaway cluster is started in the temp folder, so `cargo test`
//!   passes on a fresh machine.
//! * Each test gets its own database, cloned (`CREATE DATABASE … TEMPLATE`)
//!   from a template built once per set of migrations, so tests run in
//!   parallel and cloning costs milliseconds instead of a migration run.
//! * A database is dropped when its [`TestDb`] is dropped, unless the test
//!   panicked: then it is kept for debugging and the next run sweeps it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a panic is the report

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Prefix of every per-test database; the pid after it lets a later run
/// find the leftovers of dead processes.
const TEST_DB_PREFIX: &str = "gw_t_";
/// Prefix of template databases; the suffix is a hash of what built them.
const TEMPLATE_PREFIX: &str = "gw_tpl_";
/// Advisory-lock key that serialises template builds across test processes
/// (ASCII "gwtpl").
const TEMPLATE_LOCK_KEY: i64 = 0x67_7774_706c;
/// Port of the throwaway cluster started when no server answers.
const FALLBACK_PORT: u16 = 55_432;

/// The workspace root (where `migrations/` lives).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of a workspace binary built by `cargo test` (`target/<profile>/NAME`).
///
/// `cargo test` builds `migrate` and `seed` because their crates have
/// integration tests; the test executable lives in `target/<profile>/deps`.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "binary {} is missing: run the tests with `cargo test` from the workspace root \
         (it builds the binaries first)",
        path.display()
    );
    path
}

/// Admin URL of the test server (a maintenance database), starting a
/// throwaway cluster when needed. Computed once per process.
pub fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let explicit = std::env::var("TEST_DATABASE_URL").ok();
        let url = explicit
            .clone()
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        if connect(&url).is_ok() {
            return url;
        }
        if let Some(explicit) = explicit {
            panic!(
                "TEST_DATABASE_URL={} does not answer; start that server or unset the \
                 variable to use a local one",
                redact(&explicit)
            );
        }
        start_throwaway_cluster()
    })
}

/// `url` with its database name replaced.
pub fn url_for_db(base: &str, db: &str) -> String {
    let (head, tail) = match base.find('?') {
        Some(i) => base.split_at(i),
        None => (base, ""),
    };
    let slash = head.rfind('/').expect("a URL with a path");
    format!("{}/{db}{tail}", &head[..slash])
}

/// Hides the password of a URL for messages (the binaries' own rules).
pub use groundwork_migrate::redact;

fn connect(url: &str) -> Result<postgres::Client, postgres::Error> {
    let mut config: postgres::Config = url.parse()?;
    config.connect_timeout(Duration::from_secs(3));
    config.connect(postgres::NoTls)
}

fn admin() -> postgres::Client {
    connect(server_url()).expect("connect to the test server")
}

/// A database that belongs to one test.
pub struct TestDb {
    name: String,
    url: String,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TestDb {
    /// A fresh, empty database (no migrations, no bookkeeping).
    pub fn empty() -> TestDb {
        Self::create(None)
    }

    /// A database migrated with the embedded migrations by the real
    /// `migrate` binary, environment stamp `test`.
    pub fn migrated() -> TestDb {
        let template = template("migrated", |url| {
            let out = Command::new(bin_path("migrate"))
                .args(["--env", "test", "up"])
                .env("DATABASE_URL", url)
                .env_remove("APP_ENV")
                .current_dir(scratch_dir())
                .output()
                .expect("run migrate");
            assert!(
                out.status.success(),
                "building the migrated template failed:\n{}",
                output_text(&out)
            );
        });
        Self::create(Some(&template))
    }

    /// A clone of a template built once per process group by `build`, keyed
    /// by `key` and by the content of `migrations/` and the binaries.
    pub fn from_template(key: &str, build: impl FnOnce(&str)) -> TestDb {
        let template = template(key, build);
        Self::create(Some(&template))
    }

    fn create(template: Option<&str>) -> TestDb {
        sweep_leftovers();
        let name = format!(
            "{TEST_DB_PREFIX}{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            short_random()
        );
        let sql = match template {
            Some(t) => format!("CREATE DATABASE \"{name}\" TEMPLATE \"{t}\""),
            None => format!("CREATE DATABASE \"{name}\""),
        };
        admin()
            .batch_execute(&sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let url = url_for_db(server_url(), &name);
        TestDb { name, url }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connection URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A fresh synchronous client, for assertions.
    pub fn client(&self) -> postgres::Client {
        connect(&self.url).expect("connect to the test database")
    }

    /// `pg_dump --schema-only`, normalised (no comments, no random
    /// `\restrict` keys) so two dumps can be compared.
    pub fn schema_dump(&self) -> String {
        pg_dump(&self.url, &["--schema-only"])
    }

    /// Schema and data, normalised; for "the database is unchanged" checks.
    pub fn full_dump(&self) -> String {
        pg_dump(&self.url, &[])
    }

    /// Rows of a query rendered as text lines (`row::text`), in the order
    /// the query gives; handy for comparing data across databases.
    pub fn rows_as_text(&self, query: &str) -> Vec<String> {
        let sql = format!("SELECT t::text FROM ({query}) AS t");
        self.client()
            .query(&sql, &[])
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect()
    }

    /// First column of the first row of a scalar query, as i64.
    pub fn count(&self, query: &str) -> i64 {
        self.client()
            .query_one(query, &[])
            .unwrap_or_else(|e| panic!("{query}: {e}"))
            .get::<_, i64>(0)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "keeping database {} for debugging (the next test run drops it)",
                self.name
            );
            return;
        }
        drop_database(&self.name);
    }
}

fn drop_database(name: &str) {
    if let Ok(mut c) = connect(server_url()) {
        let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
    }
}

/// Drops the databases of test processes that no longer run (once per
/// process).
fn sweep_leftovers() {
    static SWEPT: OnceLock<()> = OnceLock::new();
    SWEPT.get_or_init(|| {
        let mut c = admin();
        let rows = c
            .query(
                "SELECT datname FROM pg_database WHERE datname LIKE $1",
                &[&format!("{TEST_DB_PREFIX}%")],
            )
            .expect("list test databases");
        for row in rows {
            let name: String = row.get(0);
            let pid = name[TEST_DB_PREFIX.len()..]
                .split('_')
                .next()
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = pid
                && !Path::new(&format!("/proc/{pid}")).exists()
            {
                drop_database(&name);
            }
        }
    });
}

/// Builds (once, across processes) a template database and returns its name.
fn template(key: &str, build: impl FnOnce(&str)) -> String {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let name = format!("{TEMPLATE_PREFIX}{key}_{}", inputs_hash());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if built.contains(&name) {
        return name;
    }
    let mut lock_conn = admin();
    lock_conn
        .execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK_KEY])
        .expect("template lock");
    let exists = lock_conn
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .expect("look up template")
        .is_some();
    if !exists {
        let building = format!("{name}_building");
        // Two round trips: a multi-statement string runs as one implicit
        // transaction, which DROP/CREATE DATABASE refuse.
        lock_conn
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"
            ))
            .expect("drop leftover template database");
        lock_conn
            .batch_execute(&format!("CREATE DATABASE \"{building}\""))
            .expect("create template database");
        build(&url_for_db(server_url(), &building));
        // Renaming only after a successful build means a crashed build never
        // leaves a half-made template behind under the real name.
        // The builder's sessions may take a moment to end after its
        // process exits; RENAME needs the database to be unused.
        let finish = format!(
            "ALTER DATABASE \"{building}\" RENAME TO \"{name}\"; \
             ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false"
        );
        let started = Instant::now();
        while let Err(e) = lock_conn.batch_execute(&finish) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "finish template database: {e}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = lock_conn.execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK_KEY]);
    built.push(name.clone());
    name
}

/// Hash of everything a template depends on: the migrations and the
/// binaries that build it.
fn inputs_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let mut h = Sha256::new();
        let mut files = Vec::new();
        collect_files(&workspace_root().join("migrations"), &mut files);
        files.sort();
        for f in files {
            h.update(f.to_string_lossy().as_bytes());
            h.update(fs::read(&f).unwrap_or_default());
        }
        for bin in ["migrate", "seed"] {
            let exe = std::env::current_exe().expect("current exe");
            let path = exe
                .parent()
                .and_then(Path::parent)
                .map(|p| p.join(bin))
                .unwrap_or_default();
            if let Ok(meta) = fs::metadata(&path) {
                h.update(format!("{bin}:{}:{:?}", meta.len(), meta.modified().ok()).as_bytes());
            }
        }
        hex::encode(&h.finalize()[..6])
    })
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn short_random() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

/// An empty folder to run binaries in, so no developer `.env` leaks into a
/// test.
pub fn scratch_dir() -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path()
        .to_path_buf()
}

/// A `Command` for a workspace binary aimed at `db`: `DATABASE_URL` set,
/// `APP_ENV`/`RUST_LOG` cleared, run in an empty folder.
pub fn bin_cmd(name: &str, db: &TestDb) -> Command {
    let mut cmd = Command::new(bin_path(name));
    cmd.env("DATABASE_URL", db.url())
        .env_remove("APP_ENV")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .current_dir(scratch_dir());
    cmd
}

/// The real `migrate` binary aimed at `db`.
pub fn migrate_cmd(db: &TestDb) -> Command {
    bin_cmd("migrate", db)
}

/// The real `seed` binary aimed at `db`.
pub fn seed_cmd(db: &TestDb) -> Command {
    bin_cmd("seed", db)
}

/// Stdout and stderr of a finished command, for assertion messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd` and asserts its exit code, returning the output.
pub fn run_expect(cmd: &mut Command, code: i32) -> Output {
    let out = cmd.output().expect("spawn binary");
    assert_eq!(
        out.status.code(),
        Some(code),
        "unexpected exit code for {cmd:?}\n{}",
        output_text(&out)
    );
    out
}

/// Normalised `pg_dump` of `url` with extra `args`.
pub fn pg_dump(url: &str, args: &[&str]) -> String {
    let out = Command::new("pg_dump")
        .args(["--no-owner", "--no-privileges"])
        .args(args)
        .arg("--dbname")
        .arg(url)
        .output()
        .expect("run pg_dump (is PostgreSQL's client installed?)");
    assert!(
        out.status.success(),
        "pg_dump failed:\n{}",
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        // pg_dump 15.14+ writes a random key into \restrict lines.
        .filter(|l| {
            !l.starts_with("--") && !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict")
        })
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Starts (or reuses) a throwaway cluster under the temp folder and
/// returns its admin URL. Runs `initdb`/`pg_ctl` as `postgres` when the
/// tests run as root, because PostgreSQL refuses to run as root.
fn start_throwaway_cluster() -> String {
    let url = format!("postgres://postgres@127.0.0.1:{FALLBACK_PORT}/postgres");
    if connect(&url).is_ok() {
        return url;
    }
    let bin_dir = find_pg_bin_dir().unwrap_or_else(|| {
        panic!(
            "no PostgreSQL answers at 127.0.0.1:5432 and no PostgreSQL server binaries \
             were found under /usr/lib/postgresql; start a server or set TEST_DATABASE_URL"
        )
    });
    let base = std::env::temp_dir().join("groundwork-test-cluster");
    fs::create_dir_all(&base).expect("create cluster folder");
    // One process initialises; others wait for the lock file to go away.
    let lock = base.join("init.lock");
    let started = Instant::now();
    loop {
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(mut f) => {
                let _ = writeln!(f, "{}", std::process::id());
                break;
            }
            Err(_) if started.elapsed() < Duration::from_secs(120) => {
                std::thread::sleep(Duration::from_millis(200));
                if connect(&url).is_ok() {
                    return url;
                }
            }
            Err(_) => {
                let _ = fs::remove_file(&lock);
            }
        }
    }
    let data = base.join("data");
    let as_root = std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0"))
            .unwrap_or(false);
    let run = |program: &Path, args: &[&str]| {
        let mut cmd = if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        let out = cmd.args(args).output().expect("run PostgreSQL tool");
        assert!(
            out.status.success(),
            "{} failed:\n{}",
            program.display(),
            output_text(&out)
        );
    };
    if as_root {
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&base)
            .status();
    }
    let data_s = data.to_string_lossy().into_owned();
    if !data.join("PG_VERSION").exists() {
        run(
            &bin_dir.join("initdb"),
            &["-D", &data_s, "-U", "postgres", "--auth=trust", "--no-sync"],
        );
    }
    let opts = format!(
        "-p {FALLBACK_PORT} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
        base.to_string_lossy()
    );
    let log = base.join("server.log").to_string_lossy().into_owned();
    run(
        &bin_dir.join("pg_ctl"),
        &["-D", &data_s, "-o", &opts, "-l", &log, "-w", "start"],
    );
    let _ = fs::remove_file(&lock);
    url
}

fn find_pg_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

// ---------------------------------------------------------------------------
// Database snapshots: "the database is byte-identical" checks.
// ---------------------------------------------------------------------------

/// What a database looks like: its whole schema (every schema, `pg_dump
/// --schema-only`, normalised) and a content hash of every table of every
/// non-system schema, listed from the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbSnapshot {
    /// Normalised `pg_dump --schema-only` of the whole database.
    pub schema: String,
    /// `schema.table` → `rows:<n> md5:<hash of the ordered rows as JSON text>`.
    pub tables: std::collections::BTreeMap<String, String>,
}

/// Every ordinary and partitioned table outside the system schemas, as
/// `(schema, table)`, from `pg_class` (never a copied list).
pub fn user_tables(url: &str) -> Vec<(String, String)> {
    let mut c = connect(url).unwrap_or_else(|e| panic!("connect {}: {e}", redact(url)));
    c.query(
        "SELECT n.nspname::text, c.relname::text FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') \
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
         ORDER BY 1, 2",
        &[],
    )
    .expect("list tables")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// Content hash of every user table. `ignore` lists what legitimately
/// differs between two runs: `("schema.table", &[])` leaves a table out,
/// `("schema.table", &["col", …])` hashes it without those columns.
pub fn content_hashes(
    url: &str,
    ignore: &[(&str, &[&str])],
) -> std::collections::BTreeMap<String, String> {
    let mut c = connect(url).unwrap_or_else(|e| panic!("connect {}: {e}", redact(url)));
    let mut out = std::collections::BTreeMap::new();
    for (schema, table) in user_tables(url) {
        let key = format!("{schema}.{table}");
        let drop_cols: &[&str] = match ignore.iter().find(|(t, _)| *t == key) {
            Some((_, [])) => continue,
            Some((_, cols)) => cols,
            None => &[],
        };
        let minus = if drop_cols.is_empty() {
            String::new()
        } else {
            let list = drop_cols
                .iter()
                .map(|c| format!("'{c}'"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(" - ARRAY[{list}]::text[]")
        };
        let sql = format!(
            "SELECT count(*), coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), '') FROM \
             (SELECT (to_jsonb(t){minus})::text AS r FROM \"{schema}\".\"{table}\" t) s"
        );
        let row = c
            .query_one(&sql, &[])
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let n: i64 = row.get(0);
        let h: String = row.get(1);
        out.insert(key, format!("rows:{n} md5:{h}"));
    }
    out
}

/// Snapshot of the whole database at `url` (schema dump + every table's content).
pub fn db_snapshot(url: &str) -> DbSnapshot {
    DbSnapshot {
        schema: pg_dump(url, &["--schema-only"]),
        tables: content_hashes(url, &[]),
    }
}

impl TestDb {
    /// [`db_snapshot`] of this database.
    pub fn snapshot(&self) -> DbSnapshot {
        db_snapshot(&self.url)
    }
}

/// What differs between two snapshots, one line per difference (empty when
/// identical): tables added, removed or changed, and the first lines of the
/// schema dump that differ.
pub fn snapshot_diff(before: &DbSnapshot, after: &DbSnapshot) -> Vec<String> {
    let mut diffs = Vec::new();
    for (t, h) in &before.tables {
        match after.tables.get(t) {
            None => diffs.push(format!("table {t} disappeared (was {h})")),
            Some(h2) if h2 != h => diffs.push(format!("table {t} content changed: {h} -> {h2}")),
            Some(_) => {}
        }
    }
    for (t, h) in &after.tables {
        if !before.tables.contains_key(t) {
            diffs.push(format!("table {t} appeared ({h})"));
        }
    }
    if before.schema != after.schema {
        let a: Vec<&str> = before.schema.lines().collect();
        let b: Vec<&str> = after.schema.lines().collect();
        let removed: Vec<&&str> = a.iter().filter(|l| !b.contains(l)).take(8).collect();
        let added: Vec<&&str> = b.iter().filter(|l| !a.contains(l)).take(8).collect();
        let mut schemas: Vec<String> = removed
            .iter()
            .chain(added.iter())
            .filter_map(|l| schema_of_line(l))
            .collect();
        schemas.sort();
        schemas.dedup();
        diffs.push(format!(
            "schema dump differs (schemas involved: {schemas:?}); removed lines: {removed:?}; \
             added lines: {added:?}"
        ));
    }
    diffs
}

fn schema_of_line(line: &str) -> Option<String> {
    let re = regex::Regex::new(r#"\b("?[A-Za-z_][A-Za-z0-9_]*"?)\.[A-Za-z_"]"#).ok()?;
    re.captures(line).map(|c| c[1].trim_matches('"').to_owned())
}

/// Asserts that two snapshots are identical, naming every table and schema
/// that differs.
pub fn assert_same_snapshot(before: &DbSnapshot, after: &DbSnapshot, context: &str) {
    let diffs = snapshot_diff(before, after);
    assert!(
        diffs.is_empty(),
        "{context}: the database changed:\n  {}",
        diffs.join("\n  ")
    );
}

// ---------------------------------------------------------------------------
// Messages: normalised for snapshots.
// ---------------------------------------------------------------------------

/// Masks what changes from run to run in a binary's message, so snapshots
/// are stable: test database names, temp paths, durations, pids,
/// timestamps, hex checksums and the port of a throwaway listener.
pub fn normalise(text: &str) -> String {
    static RULES: OnceLock<Vec<(regex::Regex, &'static str)>> = OnceLock::new();
    let rules =
        RULES.get_or_init(|| {
            [
            (r"gw_(t|tpl)_[0-9A-Za-z_]+", "<db>"),
            (r"/tmp/\.tmp[0-9A-Za-z]+", "<tmp>"),
            (r"/tmp/[0-9A-Za-z._-]*\.tmp[0-9A-Za-z]+", "<tmp>"),
            (
                r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?( ?(Z|UTC|[+-]\d{2}(:?\d{2})?))?",
                "<timestamp>",
            ),
            (r"\b\d{8}T\d{6}(\.\d+)?Z?\b", "<timestamp>"),
            (r"\b[0-9a-fA-F]{16,}\b", "<hex>"),
            (r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<uuid>"),
            (r"\b\d+(\.\d+)?\s?(ms|µs|us|ns)\b", "<duration>"),
            (r"\b\d+\.\d+\s?s\b", "<duration>"),
            (r"(?i)\b(pid|process id|process)[ =:]+\d+", "$1 <pid>"),
            (r"127\.0\.0\.1:(\d{5})\b", "127.0.0.1:<port>"),
            (r"port (\d{5})\b", "port <port>"),
        ]
        .into_iter()
        .map(|(re, to)| (regex::Regex::new(re).expect("normaliser regex"), to))
        .collect()
        });
    let mut s = text.replace("\r\n", "\n");
    for (re, to) in rules {
        s = re.replace_all(&s, *to).into_owned();
    }
    // Only five-digit (ephemeral) ports are masked: 5432 and 1 stay readable.
    s.trim_end().to_owned()
}

// ---------------------------------------------------------------------------
// Running binaries that may hang.
// ---------------------------------------------------------------------------

/// A finished (or killed) run.
#[derive(Debug)]
pub struct RunResult {
    /// Exit code; `None` when killed by a signal (also after a timeout).
    pub code: Option<i32>,
    /// Whether the run had to be killed because it exceeded its time limit.
    pub timed_out: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
}

impl RunResult {
    /// Stdout and stderr with the exit code, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "exit: {:?}{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code,
            if self.timed_out {
                format!(" (killed after {:?}: it hung)", self.elapsed)
            } else {
                String::new()
            },
            self.stdout,
            self.stderr
        )
    }
}

/// Runs `cmd` (stdin closed) and kills it after `limit`, so a hanging binary
/// fails a test instead of blocking the suite.
pub fn run_with_limit(cmd: &mut Command, limit: Duration) -> RunResult {
    use std::io::Read as _;
    use std::process::Stdio;
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut out_pipe = child.stdout.take().expect("stdout pipe");
    let mut err_pipe = child.stderr.take().expect("stderr pipe");
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out_pipe.read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err_pipe.read_to_end(&mut b);
        b
    });
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for child") {
            break st;
        }
        if started.elapsed() > limit {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait for killed child");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    RunResult {
        code: status.code(),
        timed_out,
        stdout: String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned(),
        elapsed,
    }
}

/// A TCP server on 127.0.0.1 that accepts every connection and never says a
/// word (a hung or black-holed database). Lives until the process ends.
pub fn silent_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind silent server");
    let port = listener.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn); // kept open, never answered
        }
    });
    port
}

/// The full path of `program` found on the current `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// A small deterministic random generator (splitmix64): a fixed seed gives
/// the same sequence on every machine and every version, which a crate's
/// generator does not promise across releases.
pub struct SeededRng(u64);

impl SeededRng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SeededRng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform value in `0.0..1.0`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_for_db_replaces_only_the_database() {
        assert_eq!(
            url_for_db("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
    }

    #[test]
    fn normalise_masks_what_varies() {
        let n = normalise(
            "database \"gw_t_123_4_abcd1234\" at /tmp/.tmpAbC123/x took 12 ms, pid 4242, \
             2026-11-28 07:40:01.123+00, checksum 0123456789abcdef0123, 127.0.0.1:41234",
        );
        assert_eq!(
            n,
            "database \"<db>\" at <tmp>/x took <duration>, pid <pid>, <timestamp>, \
             checksum <hex>, 127.0.0.1:<port>"
        );
    }

    #[test]
    fn redact_hides_password() {
        assert_eq!(
            redact("postgres://u:secret@h/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h:5432/db");
    }
}
