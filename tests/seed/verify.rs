//! `seed verify` passes on a seeded database and catches rows damaged on purpose (exit 9).

use super::support::{seed, seeded, text};
use groundwork_testdb::TestDb;

#[test]
fn verify_passes_then_catches_damage() {
    let db = seeded();
    let out = text(&seed(&db, &["verify"], 0));
    assert!(out.contains("0 failed"), "{out}");

    // A Linux server turned Windows: the 20/15 split is off.
    db.client()
        .batch_execute(
            "UPDATE assets SET operating_system = 'Windows' WHERE name = 'dem-lnx-web-01'",
        )
        .unwrap();
    let out = text(&seed(&db, &["verify"], 9));
    assert!(
        out.contains("democorp Linux servers") && out.contains("FAILED"),
        "{out}"
    );
    seed(&db, &["--stage", "06_assets", "--quiet"], 0);
    seed(&db, &["verify", "--quiet"], 0);

    // An application moved before the database it depends on.
    db.client()
        .batch_execute(
            "UPDATE wave_assets w SET wave_id = (SELECT id FROM migration_waves v WHERE v.client_account_id = w.client_account_id AND v.wave_number = 0)
             WHERE w.asset_id IN (SELECT d.source_asset_id FROM asset_dependencies d JOIN assets t ON t.id = d.target_asset_id
                                  JOIN wave_assets wt ON wt.asset_id = t.id JOIN migration_waves vt ON vt.id = wt.wave_id
                                  WHERE t.asset_type = 'database' AND vt.wave_number > 0)",
        )
        .unwrap();
    let out = text(&seed(&db, &["verify"], 9));
    assert!(
        out.contains("applications scheduled before a database"),
        "{out}"
    );
}

#[test]
fn verify_on_an_unseeded_database_fails_readably() {
    let db = TestDb::empty();
    let out = text(&seed(&db, &["verify"], 9));
    assert!(out.contains("FAILED"), "{out}");
}
