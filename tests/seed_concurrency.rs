//! Four `seed --stage all` started together on a fresh database all succeed and leave the
//! same rows as one clean run (per-stage advisory locks serialise them; later ones skip).

use crate::seed_common::{dataset, seeded, text};
use groundwork_e2e::{TestDb, seed_cmd};

#[test]
fn four_concurrent_seeders_end_with_the_same_rows_and_no_error() {
    let clean = seeded();
    let db = TestDb::empty();
    let children: Vec<_> = (0..4)
        .map(|_| {
            seed_cmd(&db)
                .args(["--stage", "all", "--quiet"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut keys = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        keys += text(&out).matches("TEST_AGENT_KEY=").count();
    }
    assert_eq!(keys, 1, "exactly one seeder creates (and prints) the key");
    assert_eq!(dataset(&db), dataset(&clean));
    assert_eq!(db.count("SELECT count(*) FROM api_keys"), 1);
}
