//! A bad core data file (`--data-dir`) is reported with file, line and field before anything
//! is written (exit 2).

use super::support::{seed, text};
use groundwork_testdb::TestDb;

const CORE: &str = include_str!("../../seed-bin/data/core.toml");

fn check(bad: &str, field: &str, line_text: &str) {
    let db = TestDb::empty();
    let before = db.full_dump();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("core.toml"), bad).unwrap();
    let out = text(&seed(
        &db,
        &["--stage", "all", "--data-dir", dir.path().to_str().unwrap()],
        2,
    ));
    let line = bad.lines().position(|l| l.contains(line_text)).unwrap() + 1;
    assert!(
        out.contains(&format!("core.toml:{line}:")),
        "expected line {line} in:\n{out}"
    );
    assert!(
        out.contains(&format!("field `{field}`")),
        "expected field {field} in:\n{out}"
    );
    assert_eq!(db.full_dump(), before, "nothing may be written");
}

#[test]
fn unknown_field() {
    check(
        &CORE.replacen(
            "industry = \"Retail\"",
            "industry = \"Retail\"\nmascot = \"owl\"",
            1,
        ),
        "mascot",
        "mascot",
    );
}

#[test]
fn wrong_type() {
    check(
        &CORE.replacen("name = \"Dana Demo\"", "name = 42", 1),
        "name",
        "name = 42",
    );
}

#[test]
fn duplicate_email() {
    let bad = CORE.replacen(
        "email = \"analyst@democorp.com\"",
        "email = \"DEMO@democorp.com\"",
        1,
    );
    check(&bad, "email", "DEMO@democorp.com");
}

#[test]
fn unknown_role() {
    check(
        &CORE.replacen("role = \"VIEWER\"", "role = \"SUPERUSER\"", 1),
        "role",
        "SUPERUSER",
    );
}

#[test]
fn a_good_override_is_used() {
    let db = TestDb::empty();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("core.toml"),
        CORE.replace("Democorp Cloud Migration", "Democorp Cloud Journey"),
    )
    .unwrap();
    seed(
        &db,
        &[
            "--stage",
            "0,1",
            "--quiet",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        0,
    );
    assert_eq!(
        db.count("SELECT count(*) FROM engagements WHERE name = 'Democorp Cloud Journey'"),
        1
    );
}
