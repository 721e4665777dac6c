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

#[test]
fn a_closed_stdout_ends_quietly_with_exit_0() {
    // The reader is gone before seed writes anything: every stdout write gets EPIPE.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_seed"))
        .arg("--list")
        .env_remove("DATABASE_URL")
        .env_remove("APP_ENV")
        .current_dir(std::env::temp_dir())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run seed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn numeric_flags_name_their_range_even_for_negative_numbers() {
    for (args, range) in [
        (&["--jobs", "-1"][..], "1..=64"),
        (&["--scale", "-1"], "1..=100000"),
        (&["--rng-seed", "-1"], "0..=18446744073709551615"),
        (&["--as-of", "99999-01-01"], "2000-01-01..=2100-12-31"),
    ] {
        let out = seed(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(range) && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}
