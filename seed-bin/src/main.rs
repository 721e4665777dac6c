//! The `seed` binary: a thin shell over `groundwork_seed::run` (which also loads `.env`).

use std::process::ExitCode;

fn main() -> ExitCode {
    groundwork_seed::run(std::env::args_os())
}
