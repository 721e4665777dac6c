//! Rerunning `all` changes nothing and is skipped by the ledger; `--force` re-applies with
//! upserts and still changes nothing; so does rerunning any single stage, and every reference
//! stays valid (`seed verify` passes).

use std::sync::LazyLock;

use super::support::{dataset, public_data, seed, seeded, stage_ids, text};

/// Every stage id, in run order.
static STAGES: LazyLock<Vec<&str>> = LazyLock::new(stage_ids);

#[test]
fn rerunning_all_is_skipped_and_changes_nothing() {
    let db = seeded();
    let before = db.full_dump();
    let out = text(&seed(&db, &["--stage", "all"], 0));
    assert!(out.matches("unchanged").count() >= STAGES.len(), "{out}");
    assert!(
        !out.contains("TEST_AGENT_KEY="),
        "a rerun must keep the key, not print a new one:\n{out}"
    );
    // Nothing at all was written: not even the ledger.
    assert_eq!(db.full_dump(), before);
}

#[test]
fn force_and_single_stage_reruns_keep_every_row_and_reference() {
    let db = seeded();
    let before = public_data(&db);
    seed(&db, &["--stage", "all", "--force", "--quiet"], 0);
    assert_eq!(public_data(&db), before, "--force must leave the same rows");
    for stage in STAGES.iter() {
        seed(&db, &["--stage", stage, "--force", "--quiet"], 0);
        assert_eq!(
            public_data(&db),
            before,
            "rerunning {stage} changed the data"
        );
    }
    // Short spellings select the same stages.
    seed(&db, &["--stage", "6,assets,07", "--force", "--quiet"], 0);
    assert_eq!(public_data(&db), before);
    seed(&db, &["verify", "--quiet"], 0);
}

#[test]
fn a_damaged_stage_is_detected_by_its_fingerprint_and_repaired() {
    let db = seeded();
    let before = dataset(&db);
    db.client()
        .batch_execute("UPDATE assets SET cpu_cores = 999 WHERE asset_type = 'server'")
        .unwrap();
    // Without --force: the ledger's fingerprint no longer matches, so the stage runs again.
    let out = text(&seed(&db, &["--stage", "06_assets"], 0));
    assert!(out.contains("applied"), "{out}");
    // Same rows (the repaired ones moved physically, so compare rows, not dumps).
    assert_eq!(dataset(&db), before);
}

#[test]
fn json_events_and_list_describe_the_run() {
    let db = groundwork_testdb::TestDb::empty();
    let out = seed(&db, &["--stage", "0,1", "--log-format", "json"], 0);
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    for kind in ["start", "insert", "complete", "api_key", "summary"] {
        assert!(kinds.contains(&kind), "no {kind} event in {kinds:?}");
    }
    let list = text(&seed(&db, &["--list"], 0));
    assert!(
        list.contains("01_core_entities") && list.contains("succeeded") && list.contains("never"),
        "{list}"
    );
}

/// Status per stage from a `--log-format json` run's `complete` events.
fn statuses(out: &std::process::Output) -> std::collections::BTreeMap<String, String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "complete")
        .map(|e| {
            (
                e["stage"].as_str().unwrap_or_default().to_string(),
                e["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_plain_rerun_of_all_repairs_damage_and_skips_rewrites_that_changed_nothing() {
    let db = seeded();
    let before = dataset(&db);
    db.client()
        .batch_execute(
            "UPDATE assets SET cpu_cores = 999 WHERE id = (SELECT id FROM assets WHERE asset_type = 'server' ORDER BY id LIMIT 1);
             DELETE FROM asset_tags WHERE ctid = (SELECT ctid FROM asset_tags LIMIT 1);
             UPDATE migration_waves SET wave_number = wave_number;",
        )
        .unwrap();
    // No --force: the damaged stage's table state and then its fingerprint differ, so it runs
    // again; the rewritten stage's rows were written but hold the recorded content, so it is
    // skipped after the full fingerprint confirmed it.
    let out = seed(&db, &["--stage", "all", "--log-format", "json"], 0);
    let status = statuses(&out);
    assert_eq!(status.len(), STAGES.len(), "{}", text(&out));
    for stage in STAGES.iter() {
        let want = if *stage == "06_assets" {
            "applied"
        } else {
            "unchanged"
        };
        assert_eq!(status[*stage], want, "{stage}: {}", text(&out));
    }
    assert_eq!(dataset(&db), before);
    // The confirmed states were recorded: the next rerun skips everything and writes nothing.
    let dump = db.full_dump();
    let out = seed(&db, &["--stage", "all", "--log-format", "json"], 0);
    assert!(
        statuses(&out).values().all(|s| s == "unchanged"),
        "{}",
        text(&out)
    );
    assert_eq!(db.full_dump(), dump);
}
