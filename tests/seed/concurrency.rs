//! Four `seed --stage all` started together on a fresh database all succeed and leave the
//! same rows as one clean run (per-stage advisory locks serialise them; later ones skip).
//! Inside one run, independent stages run at the same time, each in its own transaction.

use super::support::{dataset, seed, seeded, text};
use groundwork_testdb::{TestDb, seed_cmd};

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

#[test]
fn independent_stages_run_while_another_stage_waits() {
    let db = TestDb::empty();
    seed(&db, &["--stage", "0,1,2,3", "--quiet"], 0);
    // Hold a lock that stage 10 needs (its merge into raw_import_records), so it waits; 06,
    // 07, 08 and 09 do not depend on 10 and must finish meanwhile.
    let mut holder = db.client();
    let mut tx = holder.transaction().unwrap();
    tx.batch_execute("LOCK TABLE raw_import_records IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let child = seed_cmd(&db)
        .args(["--stage", "all", "--quiet", "--jobs", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let done = db.count(
            "SELECT count(*) FROM groundwork.seed_ledger WHERE status = 'succeeded' AND stage = '09_migration_waves'",
        );
        if done == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "09 did not finish while 10 waited"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(db.count("SELECT count(*) FROM wave_assets") > 0);
    assert_eq!(
        db.count(
            "SELECT count(*) FROM groundwork.seed_ledger WHERE stage = '10_raw_import_records'"
        ),
        0,
        "10 cannot have committed while its table is locked"
    );
    tx.rollback().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(dataset(&db), dataset(&seeded()));
}
