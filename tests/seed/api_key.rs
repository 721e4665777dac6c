//! The test agent key: printed once, stored as an argon2id hash + prefix, verifiable through
//! `domain::api_key`, kept on rerun, replaced by --rotate-key, written to `.env` with mode 0600.

use super::support::{seed, stage_ids, text};
use groundwork_seed::bulk::BULK_LOCK_NAMESPACE;
use groundwork_seed::stage_lock_key;
use groundwork_testdb::{TestDb, output_text, seed_cmd};

fn printed_key(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("TEST_AGENT_KEY="))
        .unwrap_or_else(|| panic!("no key printed:\n{out}"))
        .to_string()
}

fn stored(db: &TestDb) -> (String, String) {
    let row = db
        .client()
        .query_one("SELECT key_hash, key_prefix FROM api_keys", &[])
        .unwrap();
    (row.get(0), row.get(1))
}

#[test]
fn printed_key_verifies_and_is_kept_until_rotated() {
    let db = TestDb::empty();
    let out = text(&seed(&db, &["--stage", "0,1"], 0));
    assert_eq!(
        out.matches("TEST_AGENT_KEY=").count(),
        1,
        "the key is printed exactly once:\n{out}"
    );
    let key = printed_key(&out);
    let (hash, prefix) = stored(&db);
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(&key));
    assert_eq!(domain::api_key::parse_prefix(&key), Some(prefix.as_str()));
    assert!(domain::api_key::verify(&key, &hash));
    let mut wrong = key.clone();
    wrong.pop();
    wrong.push(if key.ends_with('0') { '1' } else { '0' });
    assert!(!domain::api_key::verify(&wrong, &hash));

    // Rerun, even forced: same key.
    let out = text(&seed(&db, &["--stage", "1", "--force"], 0));
    assert!(!out.contains("TEST_AGENT_KEY="), "{out}");
    assert_eq!(stored(&db).0, hash);

    // Rotation: a new key, the old one stops verifying.
    let out = text(&seed(&db, &["--stage", "1", "--rotate-key"], 0));
    let new_key = printed_key(&out);
    let (new_hash, _) = stored(&db);
    assert_ne!(new_key, key);
    assert!(domain::api_key::verify(&new_key, &new_hash));
    assert!(!domain::api_key::verify(&key, &new_hash));
}

#[test]
fn write_env_keeps_other_lines_and_the_mode_and_warns_when_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::empty();
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    std::fs::write(
        &env,
        "# local settings\nAPP_ENV=dev\nTEST_AGENT_KEY=stale\nRUST_LOG=info\n",
    )
    .unwrap();
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = seed_cmd(&db)
        .current_dir(dir.path())
        .env_remove("APP_ENV")
        .args(["--stage", "0,1", "--write-env"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let key = printed_key(&text(&out));
    let written = std::fs::read_to_string(&env).unwrap();
    assert_eq!(
        written,
        format!("# local settings\nAPP_ENV=dev\nTEST_AGENT_KEY={key}\nRUST_LOG=info\n")
    );
    assert_eq!(
        std::fs::metadata(&env).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert!(text(&out).contains("chmod 600"), "{}", output_text(&out));
    assert!(domain::api_key::verify(&key, &stored(&db).0));
}

#[test]
fn write_env_through_a_symlink_edits_the_target_and_keeps_the_link() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::empty();
    let dir = tempfile::tempdir().unwrap();
    let shared = tempfile::tempdir().unwrap();
    let real = shared.path().join("app.env");
    std::fs::write(&real, "export APP_ENV=dev\r\nexport TEST_AGENT_KEY=old\r\n").unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path().join(".env");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = seed_cmd(&db)
        .current_dir(dir.path())
        .args(["--stage", "0,1", "--write-env"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let key = printed_key(&text(&out));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced by a copy"
    );
    assert_eq!(
        std::fs::read_to_string(&real).unwrap(),
        format!("export APP_ENV=dev\r\nexport TEST_AGENT_KEY={key}\r\n")
    );
    assert_eq!(
        std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn an_unwritable_write_env_is_refused_before_any_stage() {
    let db = TestDb::empty();
    let before = db.full_dump();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder").join(".env");
    let arg = format!("--write-env={}", missing.display());
    for target in [arg.clone(), format!("--write-env={}", dir.path().display())] {
        let out = seed(&db, &["--stage", "0,1", &target], 2);
        let msg = text(&out);
        assert!(!msg.contains("TEST_AGENT_KEY="), "{msg}");
        assert!(
            msg.contains(&target) && msg.contains("Nothing was written"),
            "{msg}"
        );
    }
    assert_eq!(db.full_dump(), before, "the database changed");
}

/// Every stage after `00_reference_data` and `01_core_entities` (the stage that makes the key).
fn later_stages() -> Vec<&'static str> {
    stage_ids()
        .into_iter()
        .filter(|s| !["00_reference_data", "01_core_entities"].contains(s))
        .collect()
}

#[test]
fn the_key_is_printed_when_stage_01_commits_so_a_kill_after_it_keeps_it() {
    use std::io::BufRead;
    use std::time::{Duration, Instant};
    let db = TestDb::empty();
    // Hold every later stage's lock: the run commits 00 and 01, then waits.
    let mut blocker = db.client();
    for s in later_stages() {
        blocker
            .execute("SELECT pg_advisory_lock($1)", &[&stage_lock_key(s)])
            .unwrap();
    }
    let mut child = seed_cmd(&db)
        .args(["--stage", "all", "--quiet"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let key = loop {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100))
            && let Some(k) = line.strip_prefix("TEST_AGENT_KEY=")
        {
            break k.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "seed never printed the key while later stages were blocked"
        );
    };
    // The run records the delivery right after the print; kill once it has.
    while db.count(
        "SELECT count(*) FROM groundwork.seed_ledger WHERE stage = '01_core_entities' AND NOT key_undelivered",
    ) == 0
    {
        assert!(Instant::now() < deadline, "the key's delivery was never recorded");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(child.try_wait().unwrap().is_none(), "seed ended early");
    child.kill().unwrap(); // SIGKILL, with stages 02.. still waiting
    child.wait().unwrap();
    drop(blocker);
    let (hash, _) = stored(&db);
    assert!(domain::api_key::verify(&key, &hash));
    // The rerun completes, keeps the key and has nothing to warn about.
    let out = text(&seed(&db, &["--stage", "all"], 0));
    assert!(!out.contains("TEST_AGENT_KEY="), "{out}");
    assert!(
        !out.contains("ended before it confirmed showing the key"),
        "{out}"
    );
    assert_eq!(stored(&db).0, hash);
}

#[test]
fn a_key_a_killed_run_never_showed_is_reported_until_rotated() {
    let db = TestDb::empty();
    seed(&db, &["--stage", "0,1", "--quiet"], 0);
    // The state a SIGKILL between stage 01's commit and the key print leaves.
    db.client()
        .execute(
            "UPDATE groundwork.seed_ledger SET key_undelivered = true WHERE stage = '01_core_entities'",
            &[],
        )
        .unwrap();
    for _ in 0..2 {
        let out = text(&seed(&db, &["--stage", "0,1", "--quiet"], 0));
        assert!(
            out.contains("ended before it confirmed showing the key")
                && out.contains("seed --rotate-key --write-env"),
            "{out}"
        );
    }
    let out = text(&seed(&db, &["--stage", "1", "--rotate-key"], 0));
    let key = printed_key(&out);
    assert!(domain::api_key::verify(&key, &stored(&db).0));
    let out = text(&seed(&db, &["--stage", "0,1"], 0));
    assert!(
        !out.contains("ended before it confirmed showing the key"),
        "{out}"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM groundwork.seed_ledger WHERE key_undelivered"),
        0
    );
}

#[test]
fn rotate_key_gives_the_new_key_a_clean_revocation_and_expiry() {
    let db = TestDb::empty();
    seed(&db, &["--stage", "0,1", "--quiet"], 0);
    db.client()
        .execute(
            "UPDATE api_keys SET revoked_at = now() - interval '1 day', expires_at = now() - interval '1 day'",
            &[],
        )
        .unwrap();
    let out = text(&seed(&db, &["--stage", "1", "--rotate-key"], 0));
    let key = printed_key(&out);
    let row = db
        .client()
        .query_one(
            "SELECT key_hash, revoked_at IS NULL, expires_at IS NULL FROM api_keys",
            &[],
        )
        .unwrap();
    assert!(domain::api_key::verify(&key, &row.get::<_, String>(0)));
    assert!(row.get::<_, bool>(1), "the new key is revoked");
    assert!(row.get::<_, bool>(2), "the new key has the old expiry");
}

#[test]
fn staging_tables_of_dead_runs_are_swept_by_a_normal_rerun() {
    let db = TestDb::empty();
    seed(&db, &["--stage", "0,1", "--quiet"], 0);
    // A live loader: its session holds the lock of its run id (its backend pid).
    let mut live = db.client();
    let pid: i32 = live
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    live.execute(
        "SELECT pg_advisory_lock($1, $2)",
        &[&BULK_LOCK_NAMESPACE, &pid],
    )
    .unwrap();
    let live_table = format!("stg_{pid}_0_assets");
    live.batch_execute(&format!(
        "CREATE UNLOGGED TABLE groundwork.{live_table} (LIKE public.assets)"
    ))
    .unwrap();
    // A dead run: a session that created its table and ended without dropping it.
    let dead_table = {
        let mut dead = db.client();
        let pid: i32 = dead
            .query_one("SELECT pg_backend_pid()", &[])
            .unwrap()
            .get(0);
        dead.execute(
            "SELECT pg_advisory_lock($1, $2)",
            &[&BULK_LOCK_NAMESPACE, &pid],
        )
        .unwrap();
        let t = format!("stg_{pid}_0_assets");
        dead.batch_execute(&format!(
            "CREATE UNLOGGED TABLE groundwork.{t} (LIKE public.assets)"
        ))
        .unwrap();
        t
    };
    // Its session must be gone before the sweep can see the lock free.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let dead_pid: i32 = dead_table[4..dead_table[4..].find('_').unwrap() + 4]
        .parse()
        .unwrap();
    while db.count(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE pid = {dead_pid}"
    )) > 0
    {
        assert!(std::time::Instant::now() < deadline, "session never ended");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let tables = |db: &TestDb| -> Vec<String> {
        db.rows_as_text(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'groundwork' AND relname LIKE 'stg\\_%' ORDER BY 1",
        )
    };
    assert_eq!(tables(&db).len(), 2);
    // Every stage unchanged: no bulk load starts, the run still sweeps.
    seed(&db, &["--stage", "0,1", "--quiet"], 0);
    assert_eq!(tables(&db), vec![format!("({live_table})")]);
    drop(live);
}

#[test]
fn a_demo_password_from_the_environment_is_stored_hashed_and_kept() {
    let db = TestDb::empty();
    let run = || {
        let out = seed_cmd(&db)
            .env("SEED_DEMO_PASSWORD", "correct horse battery staple")
            .args(["--stage", "0,1", "--quiet"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
        assert!(
            !text(&out).contains("correct horse"),
            "the password is never printed"
        );
    };
    run();
    let hashes = || -> Vec<String> {
        db.client()
            .query("SELECT password_hash FROM users ORDER BY email", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    let first = hashes();
    assert_eq!(first.len(), 6);
    for h in &first {
        assert!(h.starts_with("$argon2id$"));
        assert!(domain::api_key::verify("correct horse battery staple", h));
        assert!(!domain::api_key::verify("wrong", h));
    }
    seed(&db, &["--stage", "1", "--force", "--quiet"], 0); // without the variable: hashes kept
    run();
    assert_eq!(hashes(), first, "a hash that still verifies is kept");
}

/// `.env` comes from the current folder (or `--env-file`), never from a parent folder.
#[test]
fn dotenv_is_read_from_the_current_folder_or_env_file_only() {
    let db = TestDb::empty();
    let parent = tempfile::tempdir().unwrap();
    std::fs::write(
        parent.path().join(".env"),
        format!("DATABASE_URL={}\n", db.url()),
    )
    .unwrap();
    let child = parent.path().join("sub");
    std::fs::create_dir(&child).unwrap();
    for bin in ["migrate", "seed"] {
        let run = |dir: &std::path::Path, args: &[&str]| {
            let mut cmd = groundwork_testdb::bin_cmd(bin, &db);
            cmd.env_remove("DATABASE_URL").current_dir(dir);
            if bin == "migrate" {
                cmd.args(args).arg("status");
            } else {
                cmd.args(args).arg("--list");
            }
            cmd.output().unwrap()
        };
        // A parent folder's .env is not read: no database is configured.
        let out = run(&child, &[]);
        if bin == "migrate" {
            assert_eq!(out.status.code(), Some(2), "{bin}: {}", output_text(&out));
        } else {
            assert!(
                text(&out).contains("no DATABASE_URL"),
                "{bin}: {}",
                output_text(&out)
            );
        }
        // The current folder's .env is.
        let out = run(parent.path(), &[]);
        assert_eq!(out.status.code(), Some(0), "{bin}: {}", output_text(&out));
        assert!(
            !text(&out).contains("no DATABASE_URL"),
            "{bin}: {}",
            output_text(&out)
        );
        // So is an explicit --env-file, from anywhere.
        let file = parent.path().join(".env");
        let arg = format!("--env-file={}", file.display());
        let out = run(&child, &[&arg]);
        assert_eq!(out.status.code(), Some(0), "{bin}: {}", output_text(&out));
        // A missing --env-file is a usage error naming it.
        let out = run(&child, &["--env-file", "missing.env"]);
        assert_eq!(out.status.code(), Some(2), "{bin}: {}", output_text(&out));
        assert!(
            text(&out).contains("missing.env"),
            "{bin}: {}",
            output_text(&out)
        );
    }
}
