//! The policy both binaries share, seen from outside: a reader that closes stdout early
//! (`| head -1`) ends neither binary with a panic or an error, and `--json` /
//! `--log-format json` mean the same in both (JSON output on stdout; JSON log lines on stderr).

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use groundwork_testdb::{TestDb, migrate_cmd, output_text, run_expect, seed_cmd};

/// Runs `cmd` like `cmd | head -1`: reads one line of stdout, then closes the pipe, so every
/// later write of the binary meets EPIPE.
fn through_head_1(cmd: &mut Command) -> (String, Output) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn binary");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("read the first line");
    // The reader is dropped here: the pipe is closed.
    let out = child.wait_with_output().expect("wait");
    (first, out)
}

fn assert_clean_exit(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{what}: {}", output_text(out));
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{what}: {}",
        output_text(out)
    );
}

#[test]
fn migrate_status_piped_into_head_exits_cleanly() {
    let db = TestDb::migrated();
    let (first, out) = through_head_1(migrate_cmd(&db).arg("status"));
    assert!(!first.is_empty(), "status printed nothing");
    assert_clean_exit(&out, "migrate status | head -1");
}

#[test]
fn migrate_status_with_stdout_closed_before_it_writes_exits_cleanly() {
    let db = TestDb::migrated();
    let mut child = migrate_cmd(&db)
        .arg("status")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn migrate");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    assert_clean_exit(&out, "migrate status | head -0");
}

#[test]
fn seed_list_piped_into_head_exits_cleanly() {
    let db = TestDb::empty();
    let (first, out) = through_head_1(seed_cmd(&db).arg("--list"));
    assert!(!first.is_empty(), "--list printed nothing");
    assert_clean_exit(&out, "seed --list | head -1");
    let mut child = seed_cmd(&db)
        .arg("--list")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn seed");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    assert_clean_exit(&out, "seed --list | head -0");
}

fn json_lines(text: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(text)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

#[test]
fn json_is_stdout_and_log_format_is_stderr_in_both_binaries() {
    let db = TestDb::empty();
    // --json: machine-readable stdout, logs untouched.
    let out = run_expect(seed_cmd(&db).args(["--stage", "0", "--json"]), 0);
    let events = json_lines(&out.stdout);
    assert!(
        events.iter().any(|e| e["event"] == "summary"),
        "{}",
        output_text(&out)
    );
    let out = run_expect(migrate_cmd(&db).args(["--json", "status"]), 0);
    assert_eq!(json_lines(&out.stdout).len(), 1, "{}", output_text(&out));
    // --log-format json: every log line on stderr is a JSON object.
    for (mut cmd, args) in [
        (migrate_cmd(&db), ["--log-format", "json", "status"]),
        (seed_cmd(&db), ["--log-format", "json", "--list"]),
    ] {
        let out = run_expect(cmd.env("RUST_LOG", "debug").args(args), 0);
        let logs = json_lines(&out.stderr);
        assert!(!logs.is_empty(), "no log lines: {}", output_text(&out));
    }
}
