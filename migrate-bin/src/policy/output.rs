//! The one stdout writer of both binaries. A reader that goes away (`migrate status | head -1`,
//! `seed --list | head -1`) closes the pipe; Rust ignores SIGPIPE, so the next write fails
//! with EPIPE, where `println!` would panic. Output is a report: a reader that stopped
//! listening must neither crash the run nor stop a migration or a stage halfway, so
//! [`out!`](crate::out) drops what it cannot write and the run ends with its own exit code.

use std::io::Write as _;

/// Writes `args` and a newline to stdout and flushes. Every error is returned, a closed pipe
/// included, for the few lines whose loss matters (a new API key must not be reported as
/// delivered when its reader went away).
pub fn write_line(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
}

/// `println!` for reports: see [`write_line`]. A write error (a closed pipe, a full disk
/// behind a redirect) is dropped: the run's work and its exit code do not depend on who reads.
#[macro_export]
macro_rules! out {
    () => {{
        let _ = $crate::policy::write_line(format_args!(""));
    }};
    ($($arg:tt)*) => {{
        let _ = $crate::policy::write_line(format_args!($($arg)*));
    }};
}
