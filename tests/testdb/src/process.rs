//! Processes and paths: where the workspace and its binaries are, a folder to run them in,
//! their output as text, and runs with an expected exit code or a time limit.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root (where `migrations/` lives).
pub fn workspace_root() -> PathBuf {
    // This crate lives in `tests/testdb/`.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .expect("tests/testdb lives two folders below the workspace root")
        .to_path_buf()
}

/// Path of a workspace binary built by `cargo test` (`target/<profile>/NAME`).
///
/// `cargo test` builds `migrate` and `seed` because their crates have
/// integration tests; the test executable lives in `target/<profile>/deps`.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "binary {} is missing: run the tests with `cargo test` from the workspace root \
         (it builds the binaries first)",
        path.display()
    );
    path
}

/// An empty folder to run binaries in, so no developer `.env` leaks into a
/// test.
pub fn scratch_dir() -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path()
        .to_path_buf()
}

/// Stdout and stderr of a finished command, for assertion messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Standard error of a finished command, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `cmd` and asserts its exit code, returning the output.
pub fn run_expect(cmd: &mut Command, code: i32) -> Output {
    let out = cmd.output().expect("spawn binary");
    assert_eq!(
        out.status.code(),
        Some(code),
        "unexpected exit code for {cmd:?}\n{}",
        output_text(&out)
    );
    out
}

/// A finished (or killed) run.
#[derive(Debug)]
pub struct RunResult {
    /// Exit code; `None` when killed by a signal (also after a timeout).
    pub code: Option<i32>,
    /// Whether the run had to be killed because it exceeded its time limit.
    pub timed_out: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
}

impl RunResult {
    /// Stdout and stderr with the exit code, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "exit: {:?}{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code,
            if self.timed_out {
                format!(" (killed after {:?}: it hung)", self.elapsed)
            } else {
                String::new()
            },
            self.stdout,
            self.stderr
        )
    }
}

/// Runs `cmd` (stdin closed) and kills it after `limit`, so a hanging binary
/// fails a test instead of blocking the suite.
pub fn run_with_limit(cmd: &mut Command, limit: Duration) -> RunResult {
    use std::io::Read as _;
    use std::process::Stdio;
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut out_pipe = child.stdout.take().expect("stdout pipe");
    let mut err_pipe = child.stderr.take().expect("stderr pipe");
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out_pipe.read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err_pipe.read_to_end(&mut b);
        b
    });
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for child") {
            break st;
        }
        if started.elapsed() > limit {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait for killed child");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    RunResult {
        code: status.code(),
        timed_out,
        stdout: String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned(),
        elapsed,
    }
}

/// The full path of `program` found on the current `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
