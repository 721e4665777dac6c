//! Guards: prerequisites, production (by flag, by APP_ENV, by the database's stamp), reset in
//! prod; each refusal exits 4 and writes nothing.

use super::support::{seed, seeded, text};
use groundwork_testdb::{TestDb, normalise, seed_cmd};

#[test]
fn a_stage_whose_prerequisites_never_ran_is_refused_naming_them() {
    let db = TestDb::empty();
    let before = db.full_dump();
    let out = text(&seed(&db, &["--stage", "06_assets"], 4));
    assert!(
        out.contains("02_discovery_flows") && out.contains("00_reference_data"),
        "{out}"
    );
    // 10's valid rows point at 06's assets: it needs 06 (and 03).
    let out = text(&seed(&db, &["--stage", "10_raw_import_records"], 4));
    assert!(
        out.contains("03_data_imports") && out.contains("06_assets"),
        "{out}"
    );
    assert_eq!(db.full_dump(), before, "a refused run must write nothing");

    seed(&db, &["--stage", "0,1", "--quiet"], 0);
    let out = text(&seed(&db, &["--stage", "09_migration_waves"], 4));
    assert!(
        out.contains("07_dependencies") && out.contains("08_assessments"),
        "{out}"
    );
}

#[test]
fn demo_stages_are_refused_in_prod_by_flag_and_by_app_env() {
    let db = TestDb::empty();
    let before = db.full_dump();
    let out = text(&seed(&db, &["--env", "prod", "--stage", "all"], 4));
    assert!(
        out.contains("00_reference_data") && out.contains("06_assets"),
        "{out}"
    );
    let out = seed_cmd(&db)
        .env("APP_ENV", "prod")
        .args(["--stage", "assets"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(db.full_dump(), before);
}

#[test]
fn demo_stages_and_reset_are_refused_when_the_database_is_stamped_prod() {
    let db = seeded();
    // seed stamped the database `dev` when it migrated it; make it look like production.
    db.client()
        .batch_execute("UPDATE groundwork.environment SET env = 'prod'")
        .unwrap();
    let before = db.full_dump();
    let out = text(&seed(&db, &["--stage", "06_assets", "--force"], 4));
    insta::assert_snapshot!(normalise(&out));
    // A flag cannot talk the guard out of the stamp.
    seed(&db, &["--env", "dev", "--stage", "06_assets"], 4);
    seed(&db, &["reset"], 4);
    seed(&db, &["reset", "--hard"], 4);
    assert_eq!(db.full_dump(), before);
    // Reference data is what production may get.
    seed(&db, &["--stage", "00_reference_data", "--quiet"], 0);
}

#[test]
fn reset_empties_and_reseeds_to_the_same_rows() {
    let db = seeded();
    let before = super::support::dataset(&db);
    db.client()
        .batch_execute("DELETE FROM wave_assets; UPDATE tags SET color = '#000000'")
        .unwrap();
    seed(&db, &["reset", "--quiet"], 0);
    assert_eq!(super::support::dataset(&db), before);
    seed(&db, &["reset", "--hard", "--quiet"], 0);
    assert_eq!(super::support::dataset(&db), before);
}

#[test]
fn a_database_migrated_by_migrate_is_seeded_under_its_stamp() {
    let db = TestDb::migrated(); // stamped `test`
    let before = db.full_dump();
    // The run must name the stamped environment, or none.
    let out = text(&seed(&db, &["--env", "dev", "--stage", "all"], 4));
    insta::assert_snapshot!(normalise(&out));
    assert_eq!(db.full_dump(), before);
    seed(&db, &["--stage", "all", "--quiet"], 0);
    seed(&db, &["--env", "test", "verify", "--quiet"], 0);
}
