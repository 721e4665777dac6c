//! Every prod revert form is refused with exit 4 and the database unchanged.

use groundwork_testdb::{migrate_cmd, run_with_limit, snapshot_diff};

use super::support::*;

#[test]
fn every_prod_revert_form_that_reverts_more_than_one_migration_is_refused() {
    let forms: &[&[&str]] = &[
        &["down", "--all"],
        &["down", "--steps", "2"],
        &["down", "--steps", "99"],
        &["down", "--to", "20260110090000"],
        &["down", "--to", "00000000000000"],
        &["redo", "--steps", "2"],
        &["redo", "--steps", "99"],
    ];
    let mut failures = Vec::new();
    for form in forms {
        for via_app_env in [false, true] {
            let db = prod_db(1);
            let before = db.snapshot();
            let backups = tempfile::tempdir().unwrap();
            let mut cmd = migrate_cmd(&db);
            if via_app_env {
                cmd.env("APP_ENV", "prod");
            } else {
                cmd.args(["--env", "prod"]);
            }
            cmd.args(["--require-backup", "--yes", "--backup-dir"])
                .arg(backups.path())
                .args(*form);
            let res = run_with_limit(&mut cmd, LIMIT);
            let how = if via_app_env {
                "APP_ENV=prod"
            } else {
                "--env prod"
            };
            if res.code != Some(4) {
                failures.push(format!("{how} {form:?}: exit {:?}, expected 4", res.code));
            }
            let diff = snapshot_diff(&before, &db.snapshot());
            if !diff.is_empty() {
                failures.push(format!(
                    "{how} {form:?}: database changed: {}",
                    diff.join("; ")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "prod revert guard:\n  {}",
        failures.join("\n  ")
    );
}
