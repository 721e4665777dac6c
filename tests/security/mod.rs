//! Security of both binaries: secrets never leave, nothing hangs, backups are protected, prod
//! refuses what it must.

mod secrets;
mod suite;
