//! The `seed` binary: loads `.env`, then hands over to `groundwork_seed::run_executable`.

use std::ffi::OsString;
use std::process::ExitCode;

use groundwork_migrate::policy;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    // `.env` (current folder only, or --env-file) before clap parses, so its `env = ...`
    // defaults see it; it never overrides real variables. Only here: a library call must not
    // change the process environment behind its caller's back.
    if let Err(message) = policy::load_dotenv(&args) {
        eprintln!("error: {message}");
        return policy::Code::Usage.into();
    }
    groundwork_seed::run_executable(args)
}
