//! The test kit's promises, against the real server: seeded clones hold exactly the dataset a
//! fresh `seed --stage all` writes; a test's database is dropped when it ends and kept (name
//! printed) when it panics; test processes racing for one template build it once.
//!
//! The cross-process tests run this test binary again as child processes, each running only
//! `child_role` with `GW_KIT_CHILD` saying what to do.

use std::ffi::OsString;
use std::process::{Command, ExitCode, Output};

use groundwork_testdb::{TestDb, content_hashes, output_text, server_url, url_for_db};

/// What differs between two seeded runs by design: the test agent key is random (and a
/// snapshot replaces it with one nobody saw, which stamps the row's `updated_at`), and
/// diesel's bookkeeping records when each migration ran.
const RANDOM_COLUMNS: &[(&str, &[&str])] = &[
    ("public.api_keys", &["key_hash", "key_prefix", "updated_at"]),
    ("public.__diesel_schema_migrations", &["run_on"]),
];

fn public_content(url: &str) -> std::collections::BTreeMap<String, String> {
    content_hashes(url, RANDOM_COLUMNS)
        .into_iter()
        .filter(|(t, _)| t.starts_with("public."))
        .collect()
}

fn admin() -> postgres::Client {
    postgres::Client::connect(server_url(), postgres::NoTls).unwrap()
}

fn database_exists(name: &str) -> bool {
    admin()
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .unwrap()
        .is_some()
}

#[test]
fn a_seeded_clone_holds_what_a_fresh_seed_writes() {
    let cloned = TestDb::seeded(1);
    let fresh = TestDb::empty();
    let artifacts = tempfile::tempdir().unwrap();
    let args: Vec<OsString> = [
        "seed",
        "--env",
        "test",
        "--database-url",
        fresh.url(),
        "--stage",
        "all",
        // Really seed, not restore the snapshot the clone came from.
        "--snapshots",
        "off",
        "--quiet",
        "--artifacts-dir",
        artifacts.path().to_str().unwrap(),
    ]
    .iter()
    .map(OsString::from)
    .collect();
    let code = std::thread::spawn(move || groundwork_seed::run(args))
        .join()
        .unwrap();
    assert!(
        code == ExitCode::SUCCESS,
        "seed --stage all failed: {code:?}"
    );

    let (a, b) = (public_content(cloned.url()), public_content(fresh.url()));
    assert!(
        a.get("public.assets")
            .is_some_and(|h| !h.starts_with("rows:0 ")),
        "the seeded clone has no assets: {a:?}"
    );
    assert_eq!(
        a, b,
        "a seeded clone must hold exactly the rows of a fresh seed"
    );
    assert_eq!(cloned.schema_dump(), fresh.schema_dump());
}

#[test]
fn migrated_and_seeded_databases_are_separate_clones() {
    let (a, b) = (TestDb::seeded(1), TestDb::seeded(1));
    assert_ne!(a.name(), b.name());
    a.client().batch_execute("DELETE FROM api_keys").unwrap();
    assert_eq!(a.count("SELECT count(*) FROM api_keys"), 0);
    assert!(
        b.count("SELECT count(*) FROM api_keys") > 0,
        "a clone must not see another's changes"
    );
    let m = TestDb::migrated();
    assert_eq!(m.count("SELECT count(*) FROM assets"), 0);
    assert!(
        m.count("SELECT count(*) FROM __diesel_schema_migrations") > 0,
        "a migrated database records its migrations"
    );
}

#[test]
fn a_finished_test_drops_its_database() {
    let name = {
        let db = TestDb::seeded(1);
        assert!(database_exists(db.name()));
        db.name().to_owned()
    };
    assert!(
        !database_exists(&name),
        "{name} must be dropped when its TestDb is"
    );
}

#[test]
fn a_snapshot_pruned_by_another_process_is_built_again() {
    // Scale 2: a snapshot of its own, so no other test loses the one it clones.
    let first = TestDb::seeded(2);
    let assets = first.count("SELECT count(*) FROM assets");
    // What `seed snapshot drop` does, to the snapshot of scale 2's inputs (found by its key:
    // a shared server keeps snapshots of other migration sets with the same rows).
    let name = groundwork_seed::snapshot::Inputs::seeded(2)
        .key()
        .unwrap()
        .database_name();
    assert!(database_exists(&name), "{name} made by the first clone");
    let mut admin = admin();
    admin
        .batch_execute(&format!("ALTER DATABASE \"{name}\" IS_TEMPLATE false"))
        .unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .unwrap();
    // The first may be the spare cloned before the drop; the second must clone anew.
    let (again, again2) = (TestDb::seeded(2), TestDb::seeded(2));
    assert_eq!(again.count("SELECT count(*) FROM assets"), assets);
    assert_eq!(again2.count("SELECT count(*) FROM assets"), assets);
}

/// Runs this test binary's `child_role` test as a separate process.
fn child(role: &str, extra_env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child_role", "--exact", "--nocapture", "--test-threads=1"])
        .env("GW_KIT_CHILD", role);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd
}

#[test]
fn a_panicking_test_keeps_its_database_and_prints_its_name() {
    let out: Output = child("panic", &[]).output().unwrap();
    let text = output_text(&out);
    assert!(!out.status.success(), "the child must fail:\n{text}");
    let name = text
        .split_whitespace()
        .find(|w| w.starts_with("gw_t_"))
        .unwrap_or_else(|| panic!("no database name printed:\n{text}"))
        .to_owned();
    assert!(
        text.contains("keeping its database"),
        "the kept database must be announced:\n{text}"
    );
    let exists = database_exists(&name);
    let _ = admin().batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
    assert!(
        exists,
        "the database {name} of the panicking test must be kept"
    );
}

#[test]
fn processes_racing_for_one_template_build_it_once() {
    let key = format!("race_{}", std::process::id());
    let children: Vec<_> = (0..3)
        .map(|_| {
            child("race", &[("GW_KIT_RACE_KEY", &key)])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let mut builds = 0;
    for out in &outputs {
        let text = output_text(out);
        assert!(out.status.success(), "a racing child failed:\n{text}");
        builds += text.matches("BUILDING TEMPLATE").count();
    }
    let mut admin = admin();
    let templates: Vec<String> = admin
        .query(
            "SELECT datname::text FROM pg_database WHERE datname LIKE $1",
            &[&format!("gw\\_tpl\\_{key}\\_%")],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let rows = templates.first().map(|t| {
        // Read the template through a clone: templates accept no connections.
        let probe = format!("gw_t_probe_{key}");
        admin
            .batch_execute(&format!("CREATE DATABASE \"{probe}\" TEMPLATE \"{t}\""))
            .unwrap();
        let mut c =
            postgres::Client::connect(&url_for_db(server_url(), &probe), postgres::NoTls).unwrap();
        let n: i64 = c
            .query_one("SELECT count(*) FROM builders", &[])
            .unwrap()
            .get(0);
        drop(c);
        admin
            .batch_execute(&format!("DROP DATABASE \"{probe}\" WITH (FORCE)"))
            .unwrap();
        n
    });
    for t in &templates {
        admin
            .batch_execute(&format!("ALTER DATABASE \"{t}\" IS_TEMPLATE false"))
            .unwrap();
        admin
            .batch_execute(&format!("DROP DATABASE \"{t}\" WITH (FORCE)"))
            .unwrap();
    }
    assert_eq!(templates.len(), 1, "one template, got {templates:?}");
    assert_eq!(
        builds, 1,
        "three racing processes must build the template once"
    );
    assert_eq!(rows, Some(1), "the template holds the one builder's row");
}

/// Not a test of its own: the body of the child processes above (does nothing otherwise).
#[test]
fn child_role() {
    match std::env::var("GW_KIT_CHILD").as_deref() {
        Ok("panic") => {
            let db = TestDb::migrated();
            panic!("deliberate panic in a test using {}", db.name());
        }
        Ok("race") => {
            let key = std::env::var("GW_KIT_RACE_KEY").unwrap();
            let db = TestDb::from_template(&key, |url| {
                println!("BUILDING TEMPLATE");
                let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
                // Slow enough that the other children arrive while this one builds.
                std::thread::sleep(std::time::Duration::from_millis(500));
                c.batch_execute("CREATE TABLE builders (pid int); INSERT INTO builders VALUES (pg_backend_pid())")
                    .unwrap();
            });
            assert_eq!(db.count("SELECT count(*) FROM builders"), 1);
        }
        _ => {}
    }
}

#[test]
fn a_factory_tenant_is_added_to_a_seeded_clone() {
    let db = TestDb::seeded(1);
    db.add_tenant("kit-factory", 40, "chain");
    let tenant = "(SELECT id FROM client_accounts WHERE slug = 'kit-factory')";
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM assets WHERE client_account_id = {tenant}"
        )),
        40
    );
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM asset_dependencies WHERE client_account_id = {tenant}"
        )),
        39,
        "a chain of 40 assets has 39 edges"
    );
}
