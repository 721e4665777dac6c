//! The `seed` binary's command line: help, version, usage errors (no database needed).

use std::process::Command;

fn seed(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_seed"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("APP_ENV")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run seed")
}

#[test]
fn help_shows_examples_and_exits_0() {
    let out = seed(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("Examples:") && help.contains("--stage") && help.contains("--rng-seed"),
        "{help}"
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["--no-such-flag"][..],
        &["--stage", "bogus"],
        &["--scale", "0"],
        &["--as-of", "yesterday"],
        &["--stage", "all"],
    ] {
        let out = seed(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = seed(&["--stage", "bogus"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("06_assets") && err.contains("bogus"), "{err}");
}

#[test]
fn an_unreachable_database_exits_3_without_printing_the_password() {
    let out = seed(&[
        "--database-url",
        "postgres://someone:s3cret@127.0.0.1:1/nowhere",
        "--stage",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot connect") && !err.contains("s3cret"),
        "{err}"
    );
}
