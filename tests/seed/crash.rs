//! A seed killed with SIGKILL in the middle of a stage leaves that stage rolled back; the next
//! run completes and gives exactly the rows of a clean run.

use super::support::{dataset, seed, seeded};
use groundwork_testdb::{TestDb, seed_cmd};
use std::time::{Duration, Instant};

#[test]
fn sigkill_mid_stage_then_rerun_equals_a_clean_run() {
    let clean = seeded();
    let db = TestDb::empty();
    seed(&db, &["--stage", "0,1,2,3,5", "--quiet"], 0);
    // Hold a lock that lets stage 06 write `assets` but blocks its `asset_tags` insert, so the
    // process is provably inside the stage's transaction when it is killed.
    let mut blocker = db.client();
    let mut tx = blocker.transaction().unwrap();
    tx.batch_execute("LOCK TABLE asset_tags IN SHARE MODE")
        .unwrap();
    let mut child = seed_cmd(&db)
        .args(["--stage", "all", "--quiet"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let waiting = db.count(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'groundwork-seed' AND wait_event_type = 'Lock'",
        );
        if waiting > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "seed never reached stage 06");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        db.count("SELECT count(*) FROM assets"),
        0,
        "stage 06's rows are not visible before commit"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    tx.rollback().unwrap();
    drop(blocker);
    assert_eq!(
        db.count("SELECT count(*) FROM assets"),
        0,
        "the killed stage must leave nothing behind"
    );
    seed(&db, &["--stage", "all", "--quiet"], 0);
    assert_eq!(dataset(&db), dataset(&clean));
    seed(&db, &["verify", "--quiet"], 0);
}
