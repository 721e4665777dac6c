//! Security of both binaries (issue 9, item 9), one module per concern:
//!
//! * [`secrets`]: no secret ever leaves and nothing hangs;
//! * [`dump_tools`]: `pg_dump`/`pg_restore` get the connection only through their environment,
//!   and a failing or outdated tool stops a prod run (exit 7);
//! * [`backup_files`]: backup folder and file modes, unique names, the audit record, symlink
//!   games;
//! * [`prod_reverts`]: every prod revert form that reverts more than one migration is refused;
//! * [`read_only`]: read-only commands leave every kind of database byte-identical;
//! * [`stamp_rules`]: an unknown database, an explicit `--env dev`, an audit log that shows
//!   prod.

mod backup_files;
mod dump_tools;
mod prod_reverts;
mod read_only;
mod secrets;
mod stamp_rules;
mod support;
