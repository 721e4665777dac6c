//! `seed` on its own: the stages' data, reruns, failures, guards, concurrency and the test
//! agent key.

mod api_key;
mod concurrency;
mod crash;
mod data_file;
mod determinism;
mod factory;
mod failure;
mod guards;
mod idempotency;
mod prune;
mod snapshot;
mod support;
mod verify;
