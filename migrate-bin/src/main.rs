//! `migrate`: applies, reverts and inspects the groundwork database schema.
//! Everything lives in the `groundwork_migrate` library; see `migrate --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    groundwork_migrate::run(std::env::args_os())
}
