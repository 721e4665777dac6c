//! Fault suite (issue 9, item 9): `migrate up` (the embedded migrations, and a fixture whose
//! slow non-transactional migration runs `CREATE INDEX CONCURRENTLY` on a big table) and
//! `seed --stage all --scale 20` are killed with SIGKILL at seeded random moments, spread over the
//! measured duration of a clean run, at least 20 kills each. After every kill a rerun must
//! converge to exactly the state of a clean run:
//!
//! * `pg_dump --schema-only` of the whole database equal (an INVALID index left by a killed
//!   `CREATE INDEX CONCURRENTLY` shows up here, as do leftover `groundwork.stg_*` staging tables);
//! * the content hash of every table equal, except bookkeeping that legitimately differs between
//!   a clean run and a killed-then-rerun one (see [`MIGRATE_BOOKKEEPING`] and
//!   [`SEED_BOOKKEEPING`]);
//! * `migrate verify` exits 0, `seed verify --scale 20` exits 0;
//! * for seed, a usable test agent key: a key printed by one of the runs (the killed ones
//!   included: the key must be printed as soon as stage 01 commits) verifies against the stored
//!   hash with `domain::api_key`, and `--rotate-key` then prints one that verifies too.
//!
//! The moments come from a fixed seed (`GW_FAULT_SEED` overrides it to reproduce or explore);
//! every failure message names the seed and the moment.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use groundwork_testdb::{
    Fixture, SeededRng, TestDb, content_hashes, migrate_cmd, output_text, pg_dump, seed_cmd,
};

/// "ground" in ASCII: the default seed of the kill moments.
const DEFAULT_SEED: u64 = 0x6772_6f75_6e64;
/// Kills per series.
const KILLS: usize = 20;
const SCALE: &str = "20";

/// Bookkeeping left out of the `migrate` comparison, and why:
/// * `groundwork.audit_runs`, `groundwork.audit_migrations`: every run (the killed ones too,
///   as `running`/`interrupted`/`failed`) is recorded with its times, so a killed-then-rerun
///   database has more rows than a clean one, by design;
/// * `migration_checksums.applied_at`/`duration_ms`, `__diesel_schema_migrations.run_on`,
///   `environment.stamped_at`: wall-clock times of the run. The versions, names, checksums and
///   the stamp itself are compared.
const MIGRATE_BOOKKEEPING: &[(&str, &[&str])] = &[
    ("groundwork.audit_runs", &[]),
    ("groundwork.audit_migrations", &[]),
    (
        "groundwork.migration_checksums",
        &["applied_at", "duration_ms"],
    ),
    ("public.__diesel_schema_migrations", &["run_on"]),
    ("groundwork.environment", &["stamped_at"]),
];

/// [`MIGRATE_BOOKKEEPING`] plus, for `seed`:
/// * `groundwork.seed_ledger`: one row per stage run with its duration and times; a killed
///   stage's rerun adds rows a clean run does not have;
/// * `api_keys.key_hash`/`key_prefix`: the key is random per creation (its usability is checked
///   separately).
const SEED_BOOKKEEPING: &[(&str, &[&str])] = &[
    ("groundwork.audit_runs", &[]),
    ("groundwork.audit_migrations", &[]),
    (
        "groundwork.migration_checksums",
        &["applied_at", "duration_ms"],
    ),
    ("public.__diesel_schema_migrations", &["run_on"]),
    ("groundwork.environment", &["stamped_at"]),
    ("groundwork.seed_ledger", &[]),
    ("public.api_keys", &["key_hash", "key_prefix"]),
];

fn fault_seed() -> u64 {
    std::env::var("GW_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

/// What a database must look like after convergence.
#[derive(PartialEq, Eq, Debug)]
struct State {
    schema: String,
    content: std::collections::BTreeMap<String, String>,
}

fn state(db: &TestDb, ignore: &[(&str, &[&str])]) -> State {
    State {
        schema: pg_dump(db.url(), &["--schema-only"]),
        content: content_hashes(db.url(), ignore),
    }
}

fn state_diff(clean: &State, got: &State) -> Vec<String> {
    let mut out = Vec::new();
    for (t, h) in &clean.content {
        match got.content.get(t) {
            None => out.push(format!("table {t} missing")),
            Some(g) if g != h => out.push(format!("table {t}: {g}, clean run: {h}")),
            _ => {}
        }
    }
    for t in got.content.keys() {
        if !clean.content.contains_key(t) {
            out.push(format!(
                "table {t} exists, not in a clean run (a leftover?)"
            ));
        }
    }
    if clean.schema != got.schema {
        let a: Vec<&str> = clean.schema.lines().collect();
        let b: Vec<&str> = got.schema.lines().collect();
        let extra: Vec<&&str> = b.iter().filter(|l| !a.contains(l)).take(6).collect();
        let missing: Vec<&&str> = a.iter().filter(|l| !b.contains(l)).take(6).collect();
        out.push(format!(
            "schema differs: extra lines {extra:?}, missing lines {missing:?}"
        ));
    }
    out
}

/// Starts `cmd`, waits `after`, and SIGKILLs it if it is still running. Returns whether it was
/// killed (false: it finished first), its exit code if it finished, and its stdout.
fn kill_after(cmd: &mut Command, after: Duration) -> (bool, Option<i32>, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn binary");
    let mut pipe = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = pipe.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + after;
    let mut finished = None;
    while Instant::now() < deadline {
        if let Some(st) = child.try_wait().expect("try_wait") {
            finished = Some(st);
            break;
        }
        std::thread::sleep(Duration::from_millis(5).min(after));
    }
    let (killed, code) = match finished {
        Some(st) => (false, st.code()),
        None => {
            let _ = child.kill(); // SIGKILL
            let st = child.wait().expect("wait");
            (st.code().is_none(), st.code())
        }
    };
    (killed, code, reader.join().unwrap_or_default())
}

fn timed(cmd: &mut Command, what: &str) -> Duration {
    let started = Instant::now();
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "clean run of {what} failed:\n{}",
        output_text(&out)
    );
    started.elapsed()
}

/// `migrate --env test [--migrations-dir DIR] up` on `db`.
fn migrate_up(db: &TestDb, dir: Option<&str>) -> Command {
    let mut cmd = migrate_cmd(db);
    cmd.args(["--env", "test"]);
    if let Some(d) = dir {
        cmd.args(["--migrations-dir", d]);
    }
    cmd.args(["--quiet", "up"]);
    cmd
}

/// Kills `migrate up` on fresh databases made by `fresh` and checks each rerun converges.
fn migrate_kill_series(name: &str, fresh: &dyn Fn() -> TestDb, dir: Option<&str>) {
    let seed = fault_seed();
    let clean_db = fresh();
    let clean_time = timed(&mut migrate_up(&clean_db, dir), name);
    let clean = state(&clean_db, MIGRATE_BOOKKEEPING);
    drop(clean_db);
    let mut rng = SeededRng::new(seed);
    let mut kills = 0;
    let mut attempts = 0;
    let mut failures = Vec::new();
    while kills < KILLS {
        attempts += 1;
        assert!(
            attempts <= KILLS * 3,
            "{name}: only {kills} of {attempts} runs were still running at their kill moment \
             (clean run {clean_time:?}); seed {seed}"
        );
        let at = clean_time.mul_f64(rng.next_f64() * 0.95);
        let db = fresh();
        let (killed, code, _) = kill_after(&mut migrate_up(&db, dir), at);
        if !killed {
            assert_eq!(code, Some(0), "{name}: a run that was not killed failed");
            continue;
        }
        kills += 1;
        let ctx = format!("{name}, kill {kills} at {at:?} (seed {seed})");
        let rerun = migrate_up(&db, dir).output().expect("rerun");
        if !rerun.status.success() {
            failures.push(format!(
                "{ctx}: the rerun of `up` failed\n{}",
                output_text(&rerun)
            ));
            continue;
        }
        let diff = state_diff(&clean, &state(&db, MIGRATE_BOOKKEEPING));
        if !diff.is_empty() {
            failures.push(format!(
                "{ctx}: did not converge:\n    {}",
                diff.join("\n    ")
            ));
        }
        let mut verify = migrate_cmd(&db);
        verify.args(["--env", "test"]);
        if let Some(d) = dir {
            verify.args(["--migrations-dir", d]);
        }
        let v = verify.arg("verify").output().expect("verify");
        if v.status.code() != Some(0) {
            failures.push(format!(
                "{ctx}: `migrate verify` after the rerun\n{}",
                output_text(&v)
            ));
        }
    }
    eprintln!(
        "{name}: {kills} kills in {attempts} runs (clean run {clean_time:?}), {} did not converge",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {kills} killed runs did not converge after a rerun:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn migrate_up_of_the_embedded_migrations_killed_at_random_moments_converges() {
    migrate_kill_series("embedded migrations", &TestDb::empty, None);
}

/// The standard fixture, a big table and a non-transactional migration that sleeps, builds an
/// index CONCURRENTLY on the big table (the slow part a kill lands in) and sleeps again.
fn slow_fixture() -> Fixture {
    let f = Fixture::standard();
    f.add(
        "2026-01-13-090000_fill_big_table",
        "CREATE TABLE big (id int PRIMARY KEY, v text NOT NULL);\n\
         INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 200000) g;\n",
        Some("DROP TABLE big;\n"),
    );
    f.add_non_transactional(
        "2026-01-14-090000_index_big_table",
        "SELECT pg_sleep(0.2);\n\
         CREATE INDEX CONCURRENTLY big_v_idx ON big (v);\n\
         SELECT pg_sleep(0.1);\n",
        Some("DROP INDEX CONCURRENTLY IF EXISTS big_v_idx;\n"),
    );
    f
}

#[test]
fn migrate_up_killed_during_a_slow_create_index_concurrently_converges() {
    let f = slow_fixture();
    let dir = f.arg();
    // Everything before the slow migration comes from a template, so each kill lands in (or
    // around) the CONCURRENTLY migration instead of in the table fill.
    let fresh = || {
        TestDb::from_template("faults_big_table_v1", |url| {
            let out = Command::new(groundwork_testdb::bin_path("migrate"))
                .args(["--env", "test", "--migrations-dir", &dir, "--quiet", "up"])
                .args(["--to", "20260113090000"])
                .env("DATABASE_URL", url)
                .env_remove("APP_ENV")
                .current_dir(groundwork_testdb::scratch_dir())
                .output()
                .expect("run migrate");
            assert!(out.status.success(), "{}", output_text(&out));
        })
    };
    migrate_kill_series("slow CREATE INDEX CONCURRENTLY", &fresh, Some(&dir));
}

fn seed_run(db: &TestDb) -> Command {
    let mut cmd = seed_cmd(db);
    cmd.args(["--stage", "all", "--scale", SCALE, "--quiet"]);
    cmd
}

fn printed_keys(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("TEST_AGENT_KEY="))
        .map(str::to_owned)
        .collect()
}

/// Checks a converged seeded database; `printed` are the keys every run on it printed.
fn check_seed_converged(
    db: &TestDb,
    clean: &State,
    printed: &[String],
    ctx: &str,
    failures: &mut Vec<String>,
) {
    let diff = state_diff(clean, &state(db, SEED_BOOKKEEPING));
    if !diff.is_empty() {
        failures.push(format!(
            "{ctx}: did not converge:\n    {}",
            diff.join("\n    ")
        ));
    }
    let v = seed_cmd(db)
        .args(["verify", "--scale", SCALE, "--quiet"])
        .output()
        .expect("seed verify");
    if v.status.code() != Some(0) {
        failures.push(format!(
            "{ctx}: `seed verify --scale 20`\n{}",
            output_text(&v)
        ));
    }
    let v = migrate_cmd(db)
        .args(["--env", "test", "verify"])
        .output()
        .expect("migrate verify");
    if v.status.code() != Some(0) {
        failures.push(format!("{ctx}: `migrate verify`\n{}", output_text(&v)));
    }
    let stored: Vec<(String, String)> = db
        .client()
        .query("SELECT key_prefix, key_hash FROM api_keys", &[])
        .expect("read api_keys")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let usable = printed.iter().any(|k| {
        stored.iter().any(|(prefix, hash)| {
            domain::api_key::parse_prefix(k) == Some(prefix.as_str())
                && domain::api_key::verify(k, hash)
        })
    });
    if !usable {
        failures.push(format!(
            "{ctx}: the test agent key is lost: none of the {} key(s) printed by the runs \
             (killed ones included) verifies against the stored hash (a key must be printed as \
             soon as stage 01 commits)",
            printed.len()
        ));
    }
}

#[test]
fn seed_scale_20_killed_at_random_moments_converges_with_a_usable_key() {
    let seed = fault_seed() ^ 0x5eed;
    let clean_db = TestDb::migrated();
    let clean_time = timed(&mut seed_run(&clean_db), "seed --stage all --scale 20");
    let clean = state(&clean_db, SEED_BOOKKEEPING);
    drop(clean_db);

    let mut rng = SeededRng::new(seed);
    let mut failures = Vec::new();
    let mut kills = 0;
    let mut attempts = 0;
    let mut rounds = 0;
    // A round: a fresh database, runs killed at random moments one after the other (each rerun
    // picks up the committed stages) until one finishes before its kill moment; then the
    // finished database is compared with the clean run.
    while kills < KILLS {
        rounds += 1;
        let db = TestDb::migrated();
        let mut printed = Vec::new();
        let mut moments = Vec::new();
        loop {
            attempts += 1;
            assert!(
                attempts <= KILLS * 4,
                "only {kills} kills in {attempts} runs; seed {seed}"
            );
            let at = if kills < KILLS {
                clean_time.mul_f64(rng.next_f64() * 0.95)
            } else {
                Duration::from_secs(120) // the series is complete: let this run finish
            };
            let (killed, code, out) = kill_after(&mut seed_run(&db), at);
            printed.extend(printed_keys(&out));
            if killed {
                kills += 1;
                moments.push(at);
                continue;
            }
            if code != Some(0) {
                failures.push(format!(
                    "round {rounds} (kills at {moments:?}, seed {seed}): a rerun exited {code:?}"
                ));
            }
            break;
        }
        if !moments.is_empty() {
            let ctx = format!("round {rounds}, kills at {moments:?} (seed {seed})");
            check_seed_converged(&db, &clean, &printed, &ctx, &mut failures);
        }
        if kills >= KILLS {
            // The rotated key must be usable as well.
            let out = seed_cmd(&db)
                .args(["--stage", "1", "--scale", SCALE, "--rotate-key", "--quiet"])
                .output()
                .expect("rotate");
            let keys = printed_keys(&String::from_utf8_lossy(&out.stdout));
            let hash: Option<String> = db
                .client()
                .query_opt("SELECT key_hash FROM api_keys LIMIT 1", &[])
                .expect("read api_keys")
                .map(|r| r.get(0));
            let ok = keys.len() == 1 && hash.is_some_and(|h| domain::api_key::verify(&keys[0], &h));
            if !ok {
                failures.push(format!(
                    "--rotate-key after the series did not give a usable key\n{}",
                    output_text(&out)
                ));
            }
        }
    }
    eprintln!(
        "seed --scale 20: {kills} kills in {attempts} runs over {rounds} databases \
         (clean run {clean_time:?}), {} problems",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} problem(s) after {kills} kills:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
