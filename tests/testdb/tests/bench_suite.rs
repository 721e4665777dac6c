//! The 50-test suite `bench/testkit.sh` times (ignored in normal runs). Each test gets a
//! seeded database in the shape `KIT_BENCH_MODE` names, reads and writes a little, and appends
//! how long getting the database and dropping it took (ms) to `KIT_BENCH_OUT`:
//!
//! * `clone` — `TestDb::seeded(1)`: a clone of the seeded template (the kit).
//! * `harness` — what the harness offered before the kit: `TestDb::migrated()`, then the
//!   `seed` binary writes the dataset (`seed --stage all`).
//! * `schema` — schema per test: the seeded `public` schema captured once with `pg_dump`
//!   and replayed into a fresh schema of one shared database, reached through `search_path`.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use groundwork_testdb::{TestDb, run_expect, seed_cmd, server_url, url_for_db};

/// A database (or schema) handed to one benchmark test.
enum Handle {
    Db(TestDb),
    Schema { name: String, url: String },
}

impl Handle {
    fn url(&self) -> &str {
        match self {
            Handle::Db(db) => db.url(),
            Handle::Schema { url, .. } => url,
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Handle::Schema { name, .. } = self {
            let mut c = postgres::Client::connect(&shared().1, postgres::NoTls).unwrap();
            c.batch_execute(&format!("DROP SCHEMA \"{name}\" CASCADE"))
                .unwrap();
        }
    }
}

/// The shared database of the `schema` shape (one per process, cloned from the seeded
/// template) and the captured dump of its `public` schema.
fn shared() -> &'static (TestDb, String, String) {
    static SHARED: OnceLock<(TestDb, String, String)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let db = TestDb::seeded(1);
        let dump = Command::new("pg_dump")
            .args([
                "--no-owner",
                "--no-privileges",
                "--schema=public",
                "--dbname",
            ])
            .arg(db.url())
            .output()
            .unwrap();
        assert!(dump.status.success());
        let dump = String::from_utf8(dump.stdout).unwrap();
        let url = db.url().to_owned();
        (db, url, dump)
    })
}

fn schema_per_test() -> Handle {
    let (_, url, dump) = shared();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let ddl = dump
        .lines()
        // pg_dump 15.14+ writes \restrict lines psql < 15.14 does not know.
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        // The fresh schema replaces `public`, which exists already.
        .filter(|l| !l.contains("SCHEMA public"))
        .map(|l| l.replace("public.", &format!("{name}.")))
        .collect::<Vec<_>>()
        .join("\n");
    let mut psql = Command::new("psql")
        .args(["-q", "-X", "-v", "ON_ERROR_STOP=1", "-d", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = psql.stdin.take().unwrap();
    writeln!(stdin, "CREATE SCHEMA \"{name}\";\n{ddl}").unwrap();
    drop(stdin);
    assert!(psql.wait().unwrap().success(), "replay into schema {name}");
    let test_url = format!(
        "{}?options=-c%20search_path%3D{name}",
        url_for_db(server_url(), shared().0.name())
    );
    Handle::Schema {
        name,
        url: test_url,
    }
}

fn get() -> Handle {
    match std::env::var("KIT_BENCH_MODE").as_deref() {
        Ok("harness") => {
            let db = TestDb::migrated();
            run_expect(seed_cmd(&db).args(["--stage", "all", "--quiet"]), 0);
            Handle::Db(db)
        }
        Ok("schema") => schema_per_test(),
        _ => Handle::Db(TestDb::seeded(1)),
    }
}

fn one_test() {
    let started = Instant::now();
    let h = get();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut c = postgres::Client::connect(h.url(), postgres::NoTls).unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM assets", &[])
        .unwrap()
        .get(0);
    assert!(n > 0, "the database must hold the demo assets");
    c.batch_execute(
        "UPDATE assets SET hostname = hostname || '-x' WHERE ctid = (SELECT min(ctid) FROM assets)",
    )
    .unwrap();
    drop(c);
    let started = Instant::now();
    drop(h);
    let drop_ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(out) = std::env::var("KIT_BENCH_OUT") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out)
            .unwrap();
        // One write per line: the tests run in parallel threads, and `writeln!` may split a
        // line into several writes that interleave with another thread's.
        f.write_all(format!("{ms:.1} {drop_ms:.1}\n").as_bytes())
            .unwrap();
    }
}

macro_rules! bench_tests {
    ($($name:ident)*) => {$(
        #[test]
        #[ignore = "run by bench/testkit.sh"]
        fn $name() {
            one_test();
        }
    )*};
}

bench_tests! {
    t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19 t20
    t21 t22 t23 t24 t25 t26 t27 t28 t29 t30 t31 t32 t33 t34 t35 t36 t37 t38 t39 t40
    t41 t42 t43 t44 t45 t46 t47 t48 t49 t50
}
