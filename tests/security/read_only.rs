//! Read-only commands leave the database byte-identical (also a diesel_cli database and an
//! unstamped one with tables).

use groundwork_testdb::{TestDb, bin_cmd, run_with_limit, snapshot_diff};

use super::support::*;

fn read_only_commands_leave(setup: &str, db: &TestDb) {
    let commands: &[(&str, &[&str])] = &[
        ("migrate", &["status"]),
        ("migrate", &["--json", "status"]),
        ("migrate", &["plan"]),
        ("migrate", &["verify"]),
        ("migrate", &["history"]),
        ("seed", &["--list"]),
        ("seed", &["verify"]),
    ];
    let mut failures = Vec::new();
    for (bin, args) in commands {
        let before = db.snapshot();
        let res = run_with_limit(bin_cmd(bin, db).args(*args), LIMIT);
        if text(&res).contains("panicked") || res.timed_out {
            failures.push(format!(
                "{bin} {args:?}: panicked or hung\n{}",
                res.describe()
            ));
        }
        let diff = snapshot_diff(&before, &db.snapshot());
        if !diff.is_empty() {
            failures.push(format!(
                "{bin} {args:?} (exit {:?}) wrote to the database:\n    {}",
                res.code,
                diff.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "read-only commands on {setup}:\n{}",
        failures.join("\n")
    );
}

#[test]
fn read_only_commands_leave_a_migrated_database_byte_identical() {
    read_only_commands_leave("a migrated test database", &TestDb::migrated());
}

#[test]
fn read_only_commands_leave_a_diesel_cli_database_byte_identical() {
    read_only_commands_leave("a database migrated by diesel_cli", &diesel_db());
}

#[test]
fn read_only_commands_leave_an_unstamped_database_byte_identical() {
    read_only_commands_leave("an unstamped database with tables", &unstamped_db());
}

#[test]
fn read_only_commands_leave_a_prod_database_byte_identical() {
    read_only_commands_leave("a prod database with a pending migration", &prod_db(1));
}

#[test]
fn read_only_commands_leave_an_empty_database_byte_identical() {
    read_only_commands_leave("an empty database", &TestDb::empty());
}
