//! Bad input to both binaries: every rejected value, its exit code and its exact message
//! (insta snapshots in `snapshots/`).

mod bad_input;
mod setup;
