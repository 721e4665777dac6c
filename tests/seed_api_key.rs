//! The test agent key: printed once, stored as an argon2id hash + prefix, verifiable through
//! `domain::api_key`, kept on rerun, replaced by --rotate-key, written to `.env` with mode 0600.

use crate::seed_common::{seed, text};
use groundwork_e2e::{TestDb, output_text, seed_cmd};

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
fn write_env_keeps_other_lines_and_sets_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::empty();
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    std::fs::write(
        &env,
        "# local settings\nAPP_ENV=dev\nTEST_AGENT_KEY=stale\nRUST_LOG=info\n",
    )
    .unwrap();
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o644)).unwrap();
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
        0o600
    );
    assert!(domain::api_key::verify(&key, &stored(&db).0));
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
