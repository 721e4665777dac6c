//! Rules shared by `migrate` and `seed`: the environment stamp, and recovery by rerunning.

mod environment;
mod recovery;
mod support;
