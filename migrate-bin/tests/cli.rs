//! The real `migrate` binary's command line: help and usage errors (no database needed).

use std::process::Command;

fn migrate() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_migrate"));
    cmd.env_remove("DATABASE_URL")
        .env_remove("APP_ENV")
        .env_remove("RUST_LOG");
    cmd.current_dir(std::env::temp_dir());
    cmd
}

#[test]
fn help_lists_commands_and_examples() {
    let out = migrate().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "status",
        "up",
        "down",
        "redo",
        "setup",
        "--database-url",
        "--migrations-dir",
        "--env",
        "For example:",
    ] {
        assert!(text.contains(word), "help lacks {word}:\n{text}");
    }
}

#[test]
fn unknown_flag_is_usage_error() {
    let out = migrate().args(["up", "--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn missing_database_url_is_usage_error() {
    let out = migrate().arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL"));
}

#[test]
fn malformed_url_is_usage_error_and_hides_password() {
    let out = migrate()
        .args([
            "--database-url",
            "postgres://u:supersecret@host:notaport/db",
            "status",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("malformed"), "{err}");
    assert!(!err.contains("supersecret"), "{err}");
}

#[test]
fn missing_migrations_dir_is_usage_error_naming_it() {
    let out = migrate()
        .args([
            "--database-url",
            "postgres://postgres@127.0.0.1:1/x",
            "--migrations-dir",
            "/no/such/dir",
            "status",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/dir"));
}

#[test]
fn setup_is_refused_in_prod() {
    let out = migrate()
        .args([
            "--database-url",
            "postgres://postgres@127.0.0.1:1/x",
            "--env",
            "prod",
            "setup",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn steps_zero_is_usage_error() {
    let out = migrate()
        .args([
            "--database-url",
            "postgres://postgres@127.0.0.1:1/x",
            "down",
            "--steps",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
