//! [`TestDb`]: one database per test, cloned from a template, dropped afterwards.

use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::dump::{DbSnapshot, db_snapshot, pg_dump};
use crate::recipes::{forget_seeded, migrated_template, seeded_template};
use crate::server::{admin, connect, server_url, url_for_db};
use crate::template::{Recipe, TEMPLATE_PREFIX, inputs_hash, template};

/// Prefix of every per-test database; the pid after it lets a later run
/// find the leftovers of dead processes.
const TEST_DB_PREFIX: &str = "gw_t_";

/// A database that belongs to one test.
pub struct TestDb {
    name: String,
    url: String,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TestDb {
    /// A fresh, empty database (no migrations, no bookkeeping).
    pub fn empty() -> TestDb {
        off_runtime(|| Self::create(None))
    }

    /// A database with every embedded migration applied (environment stamp `test`), cloned
    /// from a template the migration engine built once for this set of migrations.
    pub fn migrated() -> TestDb {
        off_runtime(|| Self::create(Some(&migrated_template())))
    }

    /// A database holding the demo dataset that `seed --stage all --scale <scale>` writes
    /// (default `--rng-seed` and `--as-of`), cloned from seed's snapshot of it (built on
    /// first use). Its API key is unusable: a test that must authenticate makes its own.
    pub fn seeded(scale: u32) -> TestDb {
        off_runtime(|| {
            match Self::try_create(Some(&seeded_template(scale))) {
                Err(e) if e.missing_template => {
                    // `seed snapshot prune|drop` (another process) removed the snapshot since
                    // this process looked it up: build it again.
                    forget_seeded(scale);
                    Self::create(Some(&seeded_template(scale)))
                }
                other => other.unwrap_or_else(|e| panic!("{}", e.message)),
            }
        })
    }

    /// A clone of a template built once (across test processes) by `build`, keyed by `key`
    /// and by the content of `migrations/` and the workspace binaries.
    pub fn from_template(key: &str, build: impl FnOnce(&str) + Send) -> TestDb {
        let name = format!("{TEMPLATE_PREFIX}{key}_{}", inputs_hash());
        off_runtime(|| {
            let template = template(Recipe { name, base: None }, build);
            Self::create(Some(&template))
        })
    }

    fn create(template: Option<&str>) -> TestDb {
        Self::try_create(template).unwrap_or_else(|e| panic!("{}", e.message))
    }

    fn try_create(template: Option<&str>) -> Result<TestDb, CloneError> {
        sweep_leftovers();
        let name = match template {
            Some(t) => {
                let spare = spares::take(t);
                spares::refill(t);
                match spare {
                    Some(name) => name,
                    None => clone_of(Some(t))?,
                }
            }
            None => clone_of(None)?,
        };
        let url = url_for_db(server_url(), &name);
        Ok(TestDb { name, url })
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

impl TestDb {
    /// Adds one more tenant to this (seeded) database with seed's factory — what `seed add
    /// tenant SLUG --assets N --graph GRAPH` does: the seed stages run for that tenant only,
    /// so its rows are deterministic and carry its own `client_account_id`. `graph` is one of
    /// `standard`, `chain`, `star`, `tree`, `random`, `none`. Panics with seed's message when
    /// seed refuses (e.g. an unseeded database or a seeded tenant's slug).
    pub fn add_tenant(&self, slug: &str, assets: u32, graph: &str) -> &Self {
        let args: Vec<String> = [
            "seed",
            "--quiet",
            "--database-url",
            self.url(),
            "add",
            "tenant",
            slug,
            "--graph",
            graph,
            "--assets",
            &assets.to_string(),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        // The seed library runs its own runtime: never on a test's.
        let code = std::thread::scope(|s| {
            s.spawn(|| groundwork_seed::run(args))
                .join()
                .unwrap_or_else(|_| panic!("seed add tenant {slug} panicked"))
        });
        assert_eq!(
            code,
            std::process::ExitCode::SUCCESS,
            "seed add tenant {slug} failed on {} (its message is above)",
            self.name
        );
        self
    }

    /// [`db_snapshot`] of this database.
    pub fn snapshot(&self) -> DbSnapshot {
        db_snapshot(self.url())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "groundwork-testdb: the test panicked; keeping its database {} for debugging \
                 (connect with: psql '{}'; the next test run drops it)",
                self.name,
                crate::redact(&self.url)
            );
            return;
        }
        off_runtime(|| drop_database(&self.name));
    }
}

/// Runs `f` on a thread of its own: the kit's sync `postgres` client (and the engines that
/// build templates) start their own tokio runtime, which panics inside a caller's
/// `#[tokio::test]`. A panic in `f` continues in the caller.
fn off_runtime<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| {
        s.spawn(f)
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Why a test database could not be created.
struct CloneError {
    /// The template does not exist (SQLSTATE 3D000).
    missing_template: bool,
    message: String,
}

/// Creates a new test database (a clone of `template`, or empty) and returns its name.
fn clone_of(template: Option<&str>) -> Result<String, CloneError> {
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
    let mut admin = connect(server_url()).map_err(|e| CloneError {
        missing_template: false,
        message: format!("connect to the test server: {e}"),
    })?;
    admin.batch_execute(&sql).map_err(|e| CloneError {
        missing_template: e.code() == Some(&postgres::error::SqlState::UNDEFINED_DATABASE),
        message: format!("{sql}: {e}"),
    })?;
    Ok(name)
}

/// One clone per template made ahead, on a background thread, while the test that took the
/// previous one runs: the next test of the process gets its database without waiting for
/// `CREATE DATABASE`. `GROUNDWORK_TESTDB_SPARES=0` turns it off. A spare left when the process
/// exits is dropped by the next run's sweep (its pid is gone).
mod spares {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Mutex;

    #[derive(Default)]
    struct Pool {
        ready: BTreeMap<String, String>,
        making: BTreeSet<String>,
    }

    static POOL: Mutex<Pool> = Mutex::new(Pool {
        ready: BTreeMap::new(),
        making: BTreeSet::new(),
    });

    fn enabled() -> bool {
        std::env::var("GROUNDWORK_TESTDB_SPARES").map_or(true, |v| v != "0")
    }

    fn pool() -> std::sync::MutexGuard<'static, Pool> {
        POOL.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The ready spare of `template`, if any.
    pub(super) fn take(template: &str) -> Option<String> {
        pool().ready.remove(template)
    }

    /// Starts making a spare of `template` unless one is ready or being made.
    pub(super) fn refill(template: &str) {
        if !enabled() {
            return;
        }
        {
            let mut p = pool();
            if p.ready.contains_key(template) || !p.making.insert(template.to_owned()) {
                return;
            }
        }
        let template = template.to_owned();
        std::thread::spawn(move || {
            // A failure here only costs the next test the wait; it makes its own clone and
            // reports any error itself.
            let made = super::clone_of(Some(&template)).ok();
            let mut p = pool();
            p.making.remove(&template);
            if let Some(name) = made {
                p.ready.insert(template, name);
            }
        });
    }
}

pub(crate) fn drop_database(name: &str) {
    if let Ok(mut c) = connect(server_url()) {
        let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
    }
}

/// Drops the databases of test processes that no longer run (once per
/// process).
pub(crate) fn sweep_leftovers() {
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

fn short_random() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}
