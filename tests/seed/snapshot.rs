//! Snapshots: `seed` keeps a template after a full seed into an empty database, and `seed
//! reset` (or a full seed into an empty database) restores from it; the restored database
//! holds the fresh seed's content with a new API key; other sessions, production and the
//! `seed snapshot` commands.
//!
//! Each test seeds with an `--rng-seed` of its own, so its snapshot key (and name) is its
//! own too: tests running side by side never share, prune or drop each other's snapshot.

use super::support::{seed, text};
use groundwork_seed::snapshot::{Inputs, SnapshotKey};
use groundwork_testdb::{TestDb, content_hashes, output_text, seed_cmd, server_url};
use std::process::Output;

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
        admin()
            .query_opt(
                "SELECT 1 FROM pg_database WHERE datname = $1",
                &[&self.name()],
            )
            .expect("look for the snapshot")
            .is_some()
    }
}

impl Drop for Snap {
    fn drop(&mut self) {
        let n = self.name();
        let _ = admin().batch_execute(&format!("ALTER DATABASE \"{n}\" WITH IS_TEMPLATE false"));
        let _ = admin().batch_execute(&format!("DROP DATABASE IF EXISTS \"{n}\""));
    }
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
    seed_snap(&db, &["snapshot", "drop", &snap.name()], 0);
    assert!(!snap.exists());
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
