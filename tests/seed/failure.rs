//! A failing stage rolls back, names itself and PostgreSQL's error, is recorded in the ledger,
//! and exits 8; `--keep-going` still runs the stages that do not depend on it.

use super::support::{seed, text};
use groundwork_testdb::TestDb;

fn break_mappings(db: &TestDb) {
    // Every mapping the stage writes violates this, so stage 05 fails half-way.
    db.client()
        .batch_execute("ALTER TABLE import_field_mappings ADD CONSTRAINT e2e_no_mappings CHECK (confidence_score > 5)")
        .unwrap();
}

#[test]
fn a_failing_stage_rolls_back_and_is_recorded() {
    let db = TestDb::empty();
    seed(&db, &["--stage", "0,1,2,3", "--quiet"], 0);
    break_mappings(&db);
    // One stage at a time: registry order among the ready stages, so 05 runs before 06.
    let out = text(&seed(&db, &["--stage", "all", "--jobs", "1"], 8));
    assert!(
        out.contains("05_field_mappings") && out.contains("e2e_no_mappings"),
        "{out}"
    );
    assert_eq!(db.count("SELECT count(*) FROM import_field_mappings"), 0);
    // Without --keep-going the run stops at the failure: no later stage starts.
    assert_eq!(db.count("SELECT count(*) FROM assets"), 0);
    assert_eq!(
        db.count("SELECT count(*) FROM groundwork.seed_ledger WHERE stage = '05_field_mappings' AND status = 'failed' AND error LIKE '%e2e_no_mappings%'"),
        1
    );
}

#[test]
fn keep_going_runs_independent_stages_and_reports_every_failure() {
    let db = TestDb::empty();
    seed(&db, &["--stage", "0", "--quiet"], 0);
    break_mappings(&db);
    let out = text(&seed(&db, &["--stage", "all", "--keep-going"], 8));
    assert!(out.contains("05_field_mappings"), "{out}");
    // 06..09 do not depend on 05: they ran.
    assert!(db.count("SELECT count(*) FROM wave_assets") > 0, "{out}");
    db.client()
        .batch_execute("ALTER TABLE import_field_mappings DROP CONSTRAINT e2e_no_mappings")
        .unwrap();
    seed(&db, &["--stage", "all", "--quiet"], 0);
    seed(&db, &["verify", "--quiet"], 0);
}

#[test]
fn with_stages_in_parallel_a_failure_still_stops_everything_that_depends_on_it() {
    let db = TestDb::empty();
    seed(&db, &["--stage", "0,1,2,3", "--quiet"], 0);
    // Every asset violates this, so 06 fails; 05 does not depend on it and may run beside it.
    db.client()
        .batch_execute("ALTER TABLE assets ADD CONSTRAINT e2e_no_assets CHECK (cpu_cores > 10000)")
        .unwrap();
    let out = text(&seed(&db, &["--stage", "all", "--jobs", "4"], 8));
    assert!(
        out.contains("06_assets") && out.contains("e2e_no_assets"),
        "{out}"
    );
    assert_eq!(db.count("SELECT count(*) FROM assets"), 0);
    for dependent in [
        "raw_import_records",
        "asset_dependencies",
        "assessments",
        "wave_assets",
    ] {
        assert_eq!(
            db.count(&format!("SELECT count(*) FROM {dependent}")),
            0,
            "{dependent} must not be written after 06 failed:\n{out}"
        );
    }
    assert_eq!(
        db.count("SELECT count(*) FROM groundwork.seed_ledger WHERE status = 'succeeded' AND stage IN ('10_raw_import_records', '07_dependencies', '08_assessments', '09_migration_waves')"),
        0
    );
    db.client()
        .batch_execute("ALTER TABLE assets DROP CONSTRAINT e2e_no_assets")
        .unwrap();
    seed(&db, &["--stage", "all", "--quiet"], 0);
    seed(&db, &["verify", "--quiet"], 0);
}
