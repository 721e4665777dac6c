//! The `seed` binary: a thin shell over `groundwork_seed::run`.

use std::process::ExitCode;

fn main() -> ExitCode {
    // `.env` first so clap's `env = ...` sees its values; dotenvy never overrides real variables.
    let _ = dotenvy::dotenv();
    groundwork_seed::run(std::env::args_os())
}
