//! Snapshots: `seed` keeps a template after a full seed into an empty database, and `seed
//! reset` (or a full seed into an empty database) restores from it; the restored database
//! holds the fresh seed's content with a new API key; other sessions, production and the
//! `seed snapshot` commands.
//!
//! Each test seeds with an `--rng-seed` of its own, so its snapshot key (and name) is its
//! own too: tests running side by side never share, prune or drop each other's snapshot.
//!
//! `seed` runs a detached child after a restore or a newly kept snapshot (it makes the
//! snapshot's spare copy and drops the replaced database); the tests that look at its work
//! wait for it ([`wait_for`]), and [`Snap`]'s drop waits for a child at work on the snapshot.

use super::support::{seed, text};
use groundwork_seed::snapshot::{Inputs, SnapshotKey};
use groundwork_testdb::{TestDb, content_hashes, output_text, seed_cmd, server_url};
use std::process::Output;
use std::time::{Duration, Instant};

/// An `--rng-seed` no other test (or earlier run) uses.
fn unique_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 40)
}

/// The snapshot of a full seed with `rng_seed`; dropped when the test ends.
struct Snap {
    key: SnapshotKey,
}

impl Snap {
    fn new(rng_seed: u64) -> Snap {
        let key = Inputs {
            rng_seed,
            ..Inputs::seeded(1)
        }
        .key()
        .expect("the key of the embedded inputs");
        Snap { key }
    }
    fn name(&self) -> String {
        self.key.database_name()
    }
    fn exists(&self) -> bool {
        owner_of(&self.name()).is_some()
    }
    /// The name of the snapshot's spare copy.
    fn spare(&self) -> String {
        groundwork_seed::snapshot::spare_name(&self.name()).expect("a snapshot's name")
    }
    /// Waits until the snapshot's spare is there (made by the child of the last run).
    fn wait_for_spare(&self) {
        wait_for(&format!("the spare {}", self.spare()), || {
            owner_of(&self.spare()).is_some()
        });
    }
}

impl Drop for Snap {
    /// What `seed snapshot drop` does: under the snapshot's lock, so a child still making its
    /// spare finishes first and its spare goes too, and a child that comes later finds the
    /// snapshot gone and makes none.
    fn drop(&mut self) {
        let name = self.name();
        let dropped = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| {
                rt.block_on(groundwork_seed::snapshot::drop_snapshot(
                    server_url(),
                    &name,
                ))
                .map_err(|e| e.to_string())
            });
        if let Err(e) = dropped
            && !std::thread::panicking()
        {
            panic!("drop snapshot {name}: {e}");
        }
    }
}

/// The owner of database `name`, `None` when there is none.
fn owner_of(name: &str) -> Option<String> {
    admin()
        .query_opt(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .expect("look for the database")
        .map(|r| r.get(0))
}

/// Polls `ready` every 50 ms until it holds, for at most a minute (the child copies a
/// database, which a busy machine makes slow).
fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The name a restore by process `pid` renames the replaced database to.
fn aside_of(pid: u32) -> String {
    format!("groundwork_snapnew_old_{pid}")
}

/// [`seed_snap`] on a spawned process, returning its pid too.
fn seed_snap_pid(cmd: &mut std::process::Command, args: &[&str], code: i32) -> (u32, Output) {
    let child = cmd
        .env("SEED_SNAPSHOTS", "auto")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn seed");
    let pid = child.id();
    let out = child.wait_with_output().expect("wait for seed");
    assert_eq!(
        out.status.code(),
        Some(code),
        "seed {args:?}\n{}",
        output_text(&out)
    );
    (pid, out)
}

/// Running processes whose command line holds every one of `needles`: (pid, command line).
fn processes_with(needles: &[&str]) -> Vec<(u32, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
            needles
                .iter()
                .all(|n| cmd.contains(n))
                .then_some((pid, cmd))
        })
        .collect()
}

fn admin() -> postgres::Client {
    postgres::Client::connect(server_url(), postgres::NoTls).expect("connect to the server")
}

/// `seed ARGS` with snapshots on (the harness turns them off for every other test).
fn seed_snap(db: &TestDb, args: &[&str], code: i32) -> Output {
    let out = seed_cmd(db)
        .env("SEED_SNAPSHOTS", "auto")
        .args(args)
        .output()
        .expect("spawn seed");
    assert_eq!(
        out.status.code(),
        Some(code),
        "seed {args:?}\n{}",
        output_text(&out)
    );
    out
}

/// Seeds an empty database fully with `rng`, keeping its snapshot.
fn seeded_with_snapshot(rng: &str, snap: &Snap) -> TestDb {
    let db = TestDb::empty();
    let out = text(&seed_snap(&db, &["--stage", "all", "--rng-seed", rng], 0));
    assert!(
        out.contains(&format!("kept snapshot {}", snap.name())),
        "a full seed into an empty database keeps a snapshot:\n{out}"
    );
    assert!(snap.exists());
    db
}

/// Every table's content, leaving out what differs between two seeds by design: the API
/// key's random hash and prefix (and the updated_at its rotation bumps, as `--rotate-key`
/// does), and the bookkeeping of when and how each run happened.
fn content(db: &TestDb) -> std::collections::BTreeMap<String, String> {
    content_hashes(
        db.url(),
        &[
            ("public.api_keys", &["key_hash", "key_prefix", "updated_at"]),
            ("groundwork.seed_ledger", &[]),
            ("groundwork.audit_runs", &[]),
            ("groundwork.audit_migrations", &[]),
            (
                "groundwork.migration_checksums",
                &["applied_at", "duration_ms"],
            ),
            ("groundwork.environment", &["stamped_at", "stamped_by"]),
            ("public.__diesel_schema_migrations", &["run_on"]),
        ],
    )
}

fn printed_key(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("TEST_AGENT_KEY="))
        .unwrap_or_else(|| panic!("no key printed:\n{out}"))
        .to_string()
}

fn stored_hash(db: &TestDb) -> String {
    db.client()
        .query_one("SELECT key_hash FROM api_keys", &[])
        .expect("one api key")
        .get(0)
}

/// Every ledger row with the transaction that last wrote it: a run that skips every stage by
/// its recorded table state alone writes no row (a full fingerprint comparison would refresh
/// the state, a rerun would add a row).
fn ledger_versions(db: &TestDb) -> String {
    db.client()
        .query_one(
            "SELECT string_agg(id::text || ':' || xmin::text, ',' ORDER BY id) FROM groundwork.seed_ledger",
            &[],
        )
        .expect("read the ledger")
        .get(0)
}

fn fingerprint_line(out: &str) -> String {
    out.lines()
        .find(|l| l.starts_with("dataset fingerprint: "))
        .unwrap_or_else(|| panic!("no dataset fingerprint printed:\n{out}"))
        .to_string()
}

/// The files of a folder, by name.
fn files(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("read the artifacts folder")
        .map(|e| {
            let e = e.expect("a folder entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read a sample file"),
            )
        })
        .collect()
}

#[test]
fn reset_restores_from_the_snapshot_with_a_fresh_seeds_content_and_a_new_key() {
    use std::os::unix::fs::PermissionsExt;
    let rng = unique_seed().to_string();
    let snap = Snap::new(rng.parse().expect("a number"));
    let db = seeded_with_snapshot(&rng, &snap);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (fresh_files, reset_files) = (dir.path().join("fresh"), dir.path().join("reset"));
    // A fresh seed of the same inputs, by the usual path, as the reference.
    let fresh = TestDb::empty();
    let fresh_out = text(&seed(
        &fresh,
        &[
            "--stage",
            "all",
            "--rng-seed",
            &rng,
            &format!("--artifacts-dir={}", fresh_files.display()),
        ],
        0,
    ));
    let first_key = printed_key(&fresh_out);
    let first_db_key = {
        // The key the snapshot's source database printed must not open the restored one.
        let out = text(&seed(
            &db,
            &["--rotate-key", "--stage", "1", "--rng-seed", &rng],
            0,
        ));
        printed_key(&out)
    };
    let before = stored_hash(&db);
    assert!(domain::api_key::verify(&first_db_key, &before));

    let env_file = dir.path().join("app.env");
    let out = text(&seed_snap(
        &db,
        &[
            "reset",
            "--rng-seed",
            &rng,
            &format!("--artifacts-dir={}", reset_files.display()),
            &format!("--write-env={}", env_file.display()),
        ],
        0,
    ));
    assert!(
        out.contains(&format!("from snapshot {}", snap.name())),
        "reset names the snapshot it restored from:\n{out}"
    );
    assert!(!out.contains("emptied the seeded tables"), "{out}");
    assert_eq!(
        content(&db),
        content(&fresh),
        "restored content = fresh seed's"
    );
    assert_eq!(fingerprint_line(&out), fingerprint_line(&fresh_out));
    assert_eq!(
        db.count("SELECT count(*) FROM groundwork.environment WHERE env = 'test'"),
        0
    );
    assert_eq!(
        db.count("SELECT count(*) FROM groundwork.environment WHERE env = 'dev'"),
        1,
        "the target's stamp is kept"
    );

    // The key: a new one, printed once and written with --write-env, that verifies; no
    // earlier key verifies.
    assert_eq!(out.matches("TEST_AGENT_KEY=").count(), 1, "{out}");
    let new_key = printed_key(&out);
    let hash = stored_hash(&db);
    assert!(domain::api_key::verify(&new_key, &hash));
    assert!(
        !domain::api_key::verify(&first_db_key, &hash),
        "the source's key is dead"
    );
    assert!(!domain::api_key::verify(&first_key, &hash));
    assert_ne!(new_key, first_db_key);
    assert_eq!(
        std::fs::read_to_string(&env_file).expect("--write-env wrote the file"),
        format!("TEST_AGENT_KEY={new_key}\n")
    );
    assert_eq!(
        std::fs::metadata(&env_file)
            .expect("the env file")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // The sample files were written as a fresh run writes them, and only Democorp's.
    assert!(out.contains("wrote sample import file"), "{out}");
    assert_eq!(files(&reset_files), files(&fresh_files));

    // The next run has no warning (the key was delivered) and skips every stage from the
    // recorded table states alone, so it writes nothing, not even to the ledger.
    let ledger = ledger_versions(&db);
    let again = text(&seed(&db, &["--stage", "all", "--rng-seed", &rng], 0));
    assert!(!again.contains("warning"), "{again}");
    for id in super::support::stage_ids() {
        assert!(again.contains(&format!("{id} unchanged")), "{id}:\n{again}");
    }
    assert_eq!(ledger_versions(&db), ledger, "{again}");
    seed(&db, &["verify", "--rng-seed", &rng], 0);
}

#[test]
fn reset_with_json_logs_emits_the_new_key_as_one_api_key_event() {
    let rng = unique_seed().to_string();
    let snap = Snap::new(rng.parse().expect("a number"));
    let db = seeded_with_snapshot(&rng, &snap);
    let out = seed_snap(
        &db,
        &["reset", "--log-format", "json", "--rng-seed", &rng],
        0,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let keys: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "api_key").collect();
    assert_eq!(keys.len(), 1, "{}", output_text(&out));
    assert_eq!(keys[0]["name"], "TEST_AGENT_KEY");
    let key = keys[0]["key"].as_str().expect("the key");
    assert!(domain::api_key::verify(key, &stored_hash(&db)));
    assert!(!stdout.contains("TEST_AGENT_KEY="), "{stdout}");
    let restored = format!("from snapshot {}", snap.name());
    assert!(
        events.iter().any(|e| e["event"] == "note"
            && e["message"].as_str().is_some_and(|m| m.contains(&restored))),
        "{stdout}"
    );
    assert!(events.iter().any(|e| e["event"] == "summary"), "{stdout}");
    // Delivered: the next run has nothing to warn about.
    let again = text(&seed(&db, &["--stage", "all", "--rng-seed", &rng], 0));
    assert!(!again.contains("warning"), "{again}");
}

#[test]
fn a_snapshot_holds_no_key_anyone_knows_and_a_clone_of_it_says_so() {
    let rng = unique_seed().to_string();
    let snap = Snap::new(rng.parse().expect("a number"));
    let source = TestDb::empty();
    let out = text(&seed_snap(
        &source,
        &["--stage", "all", "--rng-seed", &rng],
        0,
    ));
    let key = printed_key(&out);
    assert!(snap.exists(), "{out}");
    // Clone the template directly (what the test kit does) and look inside.
    let clone = TestDb::empty();
    let name = clone.name().to_string();
    admin()
        .batch_execute(&format!("DROP DATABASE \"{name}\"; "))
        .expect("drop");
    admin()
        .batch_execute(&format!(
            "CREATE DATABASE \"{name}\" TEMPLATE \"{}\"",
            snap.name()
        ))
        .expect("clone the snapshot");
    let hash = stored_hash(&clone);
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(
        !domain::api_key::verify(&key, &hash),
        "the source's key must not open a clone"
    );
    assert_ne!(hash, stored_hash(&source));
    let run = text(&seed(&clone, &["--stage", "all", "--rng-seed", &rng], 0));
    assert!(
        run.contains("warning: the test agent API key was created"),
        "a clone warns until its key is rotated:\n{run}"
    );
}

#[test]
fn reset_without_a_snapshot_says_so_and_reseeds_then_keeps_one() {
    let rng = unique_seed().to_string();
    let snap = Snap::new(rng.parse().expect("a number"));
    let db = TestDb::empty();
    seed(&db, &["--stage", "all", "--rng-seed", &rng, "--quiet"], 0);
    assert!(!snap.exists(), "snapshots off: none kept");
    let out = text(&seed_snap(&db, &["reset", "--rng-seed", &rng], 0));
    assert!(out.contains("no snapshot matches these inputs"), "{out}");
    assert!(out.contains("emptied the seeded tables"), "{out}");
    assert!(
        out.contains(&format!("kept snapshot {}", snap.name())),
        "{out}"
    );
    assert!(snap.exists());
}

#[test]
fn reset_in_place_empties_and_reseeds_even_with_a_snapshot() {
    let rng = unique_seed().to_string();
    let snap = Snap::new(rng.parse().expect("a number"));
    let db = seeded_with_snapshot(&rng, &snap);
    let before = content(&db);
    let oid = db.count("SELECT oid::bigint FROM pg_database WHERE datname = current_database()");
    let out = text(&seed_snap(
        &db,
        &["reset", "--in-place", "--rng-seed", &rng],
        0,
    ));
    assert!(out.contains("emptied the seeded tables"), "{out}");
    assert!(!out.contains("restored"), "{out}");
    assert_eq!(
        db.count("SELECT oid::bigint FROM pg_database WHERE datname = current_database()"),
        oid,
        "--in-place keeps the database itself"
    );
    assert_eq!(content(&db), before);
}

#[test]
fn reset_with_another_session_connected_needs_yes() {
    let rng = unique_seed().to_string();
    let snap = Snap::new(rng.parse().expect("a number"));
    let db = seeded_with_snapshot(&rng, &snap);
    let mut other = db.client();
    other
        .batch_execute("SELECT 1")
        .expect("a session of its own");
    let before = db.snapshot();
    let oid = db.count("SELECT oid::bigint FROM pg_database WHERE datname = current_database()");
    let out = text(&seed_snap(&db, &["reset", "--rng-seed", &rng], 4));
    assert!(out.contains("other session(s) are connected"), "{out}");
    assert!(out.contains("--yes"), "{out}");
    assert!(out.contains("Nothing was changed"), "{out}");
    groundwork_testdb::assert_same_snapshot(&before, &db.snapshot(), "refused reset");
    assert_eq!(
        db.count("SELECT oid::bigint FROM pg_database WHERE datname = current_database()"),
        oid
    );
    let out = text(&seed_snap(&db, &["reset", "--yes", "--rng-seed", &rng], 0));
    assert!(out.contains("from snapshot"), "{out}");
    assert!(
        other.batch_execute("SELECT 1").is_err(),
        "--yes disconnected the other session"
    );
}

#[test]
fn a_full_seed_into_an_empty_database_restores_from_the_snapshot() {
    let rng = unique_seed().to_string();
    let snap = Snap::new(rng.parse().expect("a number"));
    let _source = seeded_with_snapshot(&rng, &snap);
    let fresh = TestDb::empty();
    seed(
        &fresh,
        &["--stage", "all", "--rng-seed", &rng, "--quiet"],
        0,
    );
    let db = TestDb::empty();
    let out = text(&seed_snap(&db, &["--stage", "all", "--rng-seed", &rng], 0));
    assert!(
        out.contains(&format!("from snapshot {}", snap.name())),
        "{out}"
    );
    assert_eq!(content(&db), {
        let mut c = content(&fresh);
        // The empty database gets the run's environment (dev) as a fresh run stamps it.
        c.insert(
            "groundwork.environment".into(),
            content(&db)["groundwork.environment"].clone(),
        );
        c
    });
    assert_eq!(
        db.count("SELECT count(*) FROM groundwork.environment WHERE env = 'dev'"),
        1
    );
    assert_eq!(out.matches("TEST_AGENT_KEY=").count(), 1, "{out}");
}

#[test]
fn snapshots_are_refused_in_production_and_staging() {
    let db = TestDb::migrated();
    for env in ["prod", "staging"] {
        let out = text(&seed_snap(&db, &["--env", env, "snapshot", "list"], 4));
        assert!(out.contains("dev and test databases only"), "{out}");
    }
    // A database stamped prod refuses them whatever the run says. The commands tried are
    // harmless if the guard ever failed: nothing is pruned or dropped.
    let prod = TestDb::migrated();
    prod.client()
        .batch_execute("UPDATE groundwork.environment SET env = 'prod'")
        .expect("stamp prod");
    for args in [
        &["snapshot", "list"][..],
        &["snapshot", "prune", "--keep", "10000"],
        &[
            "snapshot",
            "drop",
            "groundwork_snap_000000000000000000000000",
        ],
    ] {
        let out = text(&seed_snap(&prod, args, 4));
        assert!(out.contains("refused"), "{args:?}: {out}");
        assert!(out.contains("Nothing was changed"), "{args:?}: {out}");
    }
}

#[test]
fn list_shows_inputs_and_drop_removes_one() {
    let rng = unique_seed().to_string();
    let snap = Snap::new(rng.parse().expect("a number"));
    let db = seeded_with_snapshot(&rng, &snap);
    let out = seed_snap(&db, &["snapshot", "list", "--json"], 0);
    let ours: serde_json::Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["name"] == snap.name().as_str())
        .unwrap_or_else(|| panic!("our snapshot is listed:\n{}", output_text(&out)));
    assert_eq!(ours["key"], snap.key.hex());
    assert_eq!(
        ours["inputs"]["rng_seed"].as_u64().map(|n| n.to_string()),
        Some(rng.clone())
    );
    assert_eq!(ours["inputs"]["scale"], 1);
    assert!(
        ours["size_bytes"].as_i64().unwrap_or(0) > 1_000_000,
        "{ours}"
    );
    assert!(ours["created_at"].is_string(), "{ours}");
    assert!(ours["last_used_at"].is_null(), "never restored yet: {ours}");
    let text_out = text(&seed_snap(&db, &["snapshot", "list"], 0));
    assert!(text_out.contains(&snap.name()), "{text_out}");

    let bogus = text(&seed_snap(&db, &["snapshot", "drop", "postgres"], 2));
    assert!(bogus.contains("is not a snapshot"), "{bogus}");
    // The spare the child made after the snapshot was kept goes with it, and so does the
    // spare of a snapshot that is gone (dropped by other means).
    snap.wait_for_spare();
    let orphan = Snap::new(unique_seed() ^ 1).spare();
    admin()
        .batch_execute(&format!("CREATE DATABASE \"{orphan}\""))
        .expect("make a spare without a snapshot");
    seed_snap(&db, &["snapshot", "drop", &snap.name()], 0);
    assert!(!snap.exists());
    assert_eq!(
        owner_of(&snap.spare()),
        None,
        "the snapshot's spare is dropped"
    );
    assert_eq!(
        owner_of(&orphan),
        None,
        "a spare without a snapshot is dropped"
    );
    let gone = text(&seed_snap(&db, &["snapshot", "drop", &snap.name()], 2));
    assert!(gone.contains("there is no snapshot"), "{gone}");
}

/// Backdates a snapshot's creation in the key record `seed snapshot list` reads.
fn backdate(snap: &Snap, created_at: &str) {
    let mut c = admin();
    let comment: String = c
        .query_one(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            &[&snap.name()],
        )
        .expect("read the comment")
        .get(0);
    let mut meta: serde_json::Value = serde_json::from_str(&comment).expect("JSON");
    meta["created_at"] = created_at.into();
    let text = meta.to_string().replace('\'', "''");
    c.batch_execute(&format!(
        "COMMENT ON DATABASE \"{}\" IS '{text}'",
        snap.name()
    ))
    .expect("write the comment");
}

#[test]
fn prune_keeps_the_most_recently_used() {
    let (a, b) = (unique_seed(), unique_seed() + 1);
    let (sa, sb) = (Snap::new(a), Snap::new(b));
    let db_a = seeded_with_snapshot(&a.to_string(), &sa);
    let _db_b = seeded_with_snapshot(&b.to_string(), &sb);
    // Both made long ago (before any other test's), and A used now: B is the least recently
    // used snapshot on the server, A one of the most.
    backdate(&sa, "2001-01-01T00:00:00Z");
    backdate(&sb, "2000-01-01T00:00:00Z");
    sb.wait_for_spare();
    seed_snap(
        &db_a,
        &["reset", "--rng-seed", &a.to_string(), "--quiet"],
        0,
    );
    let listed = |db: &TestDb| -> Vec<String> {
        String::from_utf8_lossy(&seed_snap(db, &["snapshot", "list", "--json"], 0).stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["name"].as_str().map(str::to_string))
            .collect()
    };
    let before = listed(&db_a);
    let pos = |n: &str| before.iter().position(|x| x == n).expect("listed");
    assert!(
        pos(&sa.name()) < pos(&sb.name()),
        "most recently used first: {before:?}"
    );
    let keep = pos(&sb.name()).to_string();
    let out = text(&seed_snap(
        &db_a,
        &["snapshot", "prune", "--keep", &keep],
        0,
    ));
    assert!(
        out.contains(&format!("dropped snapshot {}", sb.name())),
        "{out}"
    );
    assert!(sa.exists(), "{out}");
    assert!(!sb.exists(), "{out}");
    assert_eq!(
        owner_of(&sb.spare()),
        None,
        "the pruned snapshot's spare goes too"
    );
    sa.wait_for_spare();
}

#[test]
fn two_processes_seeding_the_same_inputs_create_the_snapshot_once() {
    let rng = unique_seed().to_string();
    let snap = Snap::new(rng.parse().expect("a number"));
    let (d1, d2) = (TestDb::empty(), TestDb::empty());
    let spawn = |db: &TestDb| {
        seed_cmd(db)
            .env("SEED_SNAPSHOTS", "auto")
            .args(["--stage", "all", "--rng-seed", &rng])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn seed")
    };
    let (p1, p2) = (spawn(&d1), spawn(&d2));
    let outs = [
        p1.wait_with_output().expect("wait"),
        p2.wait_with_output().expect("wait"),
    ];
    for o in &outs {
        assert!(o.status.success(), "{}", output_text(o));
    }
    let kept = outs
        .iter()
        .filter(|o| text(o).contains(&format!("kept snapshot {}", snap.name())))
        .count();
    assert_eq!(kept, 1, "exactly one process made the snapshot");
    assert!(snap.exists());
    let leftovers = admin()
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'groundwork\\_snapnew\\_' || $1 || '%'",
            &[&snap.key.hex()[..24].to_string()],
        )
        .expect("list");
    assert!(leftovers.is_empty(), "no half-made copy is left");
}

/// A full seed keeps the snapshot and a child makes its spare; a reset takes the spare (and
/// says so), swaps it in, and leaves the next spare and the drop of the replaced database to
/// its child; the content is a fresh seed's every time.
#[test]
fn a_reset_takes_the_spare_made_ahead_and_its_child_makes_the_next() {
    let rng = unique_seed().to_string();
    let snap = Snap::new(rng.parse().expect("a number"));
    let db = seeded_with_snapshot(&rng, &snap);
    let fresh = TestDb::empty();
    seed(
        &fresh,
        &["--stage", "all", "--rng-seed", &rng, "--quiet"],
        0,
    );
    snap.wait_for_spare();
    let no_connections = |name: &str| {
        admin()
            .query_one(
                "SELECT NOT datallowconn FROM pg_database WHERE datname = $1",
                &[&name],
            )
            .expect("read the spare")
            .get::<_, bool>(0)
    };
    assert!(
        no_connections(&snap.spare()),
        "nobody may connect to a spare"
    );
    for run in 1..=2 {
        let (pid, out) = seed_snap_pid(&mut seed_cmd(&db), &["reset", "--rng-seed", &rng], 0);
        let out = text(&out);
        assert!(
            out.contains(&format!(
                "from snapshot {} (a spare copy made ahead)",
                snap.name()
            )),
            "run {run}: the reset takes the spare:\n{out}"
        );
        assert!(!out.contains("not dropped"), "{out}");
        assert_eq!(
            content(&db),
            content(&fresh),
            "run {run}: a fresh seed's content"
        );
        assert!(
            !no_connections(db.name()),
            "the restored database takes connections"
        );
        // The child: the replaced database goes, the next spare comes.
        wait_for(&format!("the drop of {}", aside_of(pid)), || {
            owner_of(&aside_of(pid)).is_none()
        });
        snap.wait_for_spare();
    }
    // What a killed reset (or child) and a spare builder killed before its rename leave
    // behind: the next child drops both and makes the spare again.
    let left_aside = aside_of(u32::MAX - (unique_seed() % 1_000_000) as u32);
    let left_build = format!(
        "groundwork_snapnew_spare_{}",
        &snap.name()["groundwork_snap_".len()..]
    );
    for name in [&left_aside, &left_build] {
        admin()
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("plant a leftover");
    }
    admin()
        .batch_execute(&format!("DROP DATABASE \"{}\"", snap.spare()))
        .expect("drop the spare");
    let out = text(&seed_snap(&db, &["reset", "--rng-seed", &rng], 0));
    assert!(
        out.contains(&format!("from snapshot {} in", snap.name())),
        "no spare to take: the snapshot is copied\n{out}"
    );
    assert_eq!(content(&db), content(&fresh));
    for name in [&left_aside, &left_build] {
        wait_for(&format!("the drop of {name}"), || owner_of(name).is_none());
    }
    snap.wait_for_spare();
    seed(&db, &["verify", "--rng-seed", &rng], 0);
}

/// A spare owned by another role than the target's is not used (the restored database must
/// keep its owner); the reset's child then replaces it with one for the target's owner.
#[test]
fn a_spare_of_another_owner_is_not_used_and_is_replaced() {
    /// A role of this test alone; dropped last (declared first), once nothing is its.
    struct Role(String);
    impl Drop for Role {
        fn drop(&mut self) {
            let _ = admin().batch_execute(&format!("DROP ROLE IF EXISTS \"{}\"", self.0));
        }
    }
    let role = Role(format!("gw_spare_owner_{}", unique_seed() % 1_000_000_007));
    admin()
        .batch_execute(&format!("CREATE ROLE \"{}\"", role.0))
        .expect("create a role");
    let rng = unique_seed().to_string();
    let snap = Snap::new(rng.parse().expect("a number"));
    let db = seeded_with_snapshot(&rng, &snap);
    snap.wait_for_spare();
    admin()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" OWNER TO \"{}\"",
            snap.spare(),
            role.0
        ))
        .expect("give the spare to the other role");
    let target_owner = owner_of(db.name()).expect("the target's owner");
    assert_ne!(target_owner, role.0);
    let out = text(&seed_snap(&db, &["reset", "--rng-seed", &rng], 0));
    assert!(
        out.contains(&format!("from snapshot {} in", snap.name())),
        "restored by copying the snapshot:\n{out}"
    );
    assert!(!out.contains("spare"), "{out}");
    assert_eq!(owner_of(db.name()), Some(target_owner.clone()));
    wait_for("the spare for the target's owner", || {
        owner_of(&snap.spare()).as_deref() == Some(target_owner.as_str())
    });
    drop(snap);
    drop(db);
}

/// `SEED_SNAPSHOT_SPARE=off`: no child and no spare; the reset drops the replaced database
/// itself before it ends.
#[test]
fn with_the_spare_switched_off_no_child_runs_and_no_spare_is_made() {
    let rng = unique_seed().to_string();
    let snap = Snap::new(rng.parse().expect("a number"));
    let db = TestDb::empty();
    let off = |db: &TestDb| {
        let mut cmd = seed_cmd(db);
        cmd.env("SEED_SNAPSHOT_SPARE", "off");
        cmd
    };
    let (_, out) = seed_snap_pid(&mut off(&db), &["--stage", "all", "--rng-seed", &rng], 0);
    assert!(
        text(&out).contains(&format!("kept snapshot {}", snap.name())),
        "{}",
        text(&out)
    );
    let (pid, out) = seed_snap_pid(&mut off(&db), &["reset", "--rng-seed", &rng], 0);
    let out = text(&out);
    assert!(
        out.contains(&format!("from snapshot {} in", snap.name())),
        "{out}"
    );
    assert_eq!(
        owner_of(&aside_of(pid)),
        None,
        "the replaced database is gone when the reset ends"
    );
    let children = || processes_with(&["snapshot", "maintain", &snap.name()]);
    assert!(children().is_empty(), "{:?}", children());
    // Long enough for a child to have made a spare (it makes one in well under a second).
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(owner_of(&snap.spare()), None, "no spare");
    assert!(children().is_empty(), "{:?}", children());
    let bad = text(
        &seed_snap_pid(
            seed_cmd(&db).env("SEED_SNAPSHOT_SPARE", "sometimes"),
            &["reset", "--rng-seed", &rng],
            2,
        )
        .1,
    );
    assert!(bad.contains("SEED_SNAPSHOT_SPARE"), "{bad}");
}

/// The child gets the connection string (and its password) through its environment, never
/// on its command line, which every user of the machine can read. The test holds the
/// spare's build lock, so the child waits, visible, until the test has looked at it.
#[test]
fn the_childs_command_line_holds_no_password() {
    let rng = unique_seed().to_string();
    let snap = Snap::new(rng.parse().expect("a number"));
    let db = seeded_with_snapshot(&rng, &snap);
    snap.wait_for_spare();
    let password = format!("pw-{}-not-for-argv", unique_seed());
    let url = db
        .url()
        .replacen("postgres@", &format!("postgres:{password}@"), 1);
    assert!(
        url.contains(&password),
        "the harness's URL has a user: {url}"
    );
    let mut holder = admin();
    holder
        .execute(
            "SELECT pg_advisory_lock($1)",
            &[&groundwork_seed::snapshot::spare_lock_key(&snap.name())],
        )
        .expect("hold the spare's build lock");
    let (pid, out) = seed_snap_pid(
        seed_cmd(&db).env("DATABASE_URL", &url),
        &["reset", "--rng-seed", &rng],
        0,
    );
    let out = text(&out);
    assert!(out.contains("(a spare copy made ahead)"), "{out}");
    assert!(!out.contains(&password), "{out}");
    let spare_of = format!("--spare-of={}", snap.name());
    let replaced = format!("--replaced={}", aside_of(pid));
    let needles = ["snapshot", "maintain", spare_of.as_str(), replaced.as_str()];
    wait_for("the reset's child", || !processes_with(&needles).is_empty());
    // The child of the first seed may still be sweeping: no child of this snapshot may show
    // the password.
    for (_, cmdline) in processes_with(&["snapshot", "maintain", spare_of.as_str()]) {
        assert!(!cmdline.contains(&password), "{cmdline}");
        assert!(!cmdline.contains("postgres://"), "{cmdline}");
    }
    for (child, _) in processes_with(&needles) {
        let environ = std::fs::read(format!("/proc/{child}/environ")).unwrap_or_default();
        assert!(
            String::from_utf8_lossy(&environ)
                .split('\0')
                .any(|v| v == format!("DATABASE_URL={url}")),
            "the child gets the URL in its environment"
        );
        // A process group of its own: a Ctrl-C for the terminal's next command misses it.
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        let group = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(2))
            .and_then(|g| g.parse::<u32>().ok());
        assert_eq!(group, Some(child), "{stat}");
    }
    drop(holder);
    snap.wait_for_spare();
    wait_for(&format!("the drop of {}", aside_of(pid)), || {
        owner_of(&aside_of(pid)).is_none()
    });
}
