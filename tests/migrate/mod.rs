//! `migrate` on its own: core commands, errors, guards, the production flow, backups, and
//! compatibility with diesel's bookkeeping.

mod backup;
mod core;
mod diesel_compat;
mod errors;
mod guards;
mod lint;
mod order;
mod output;
mod plan_sizes;
mod prod;
mod prod_down;
mod rehearse;
mod resolve;
mod sql_script;
mod tenancy;
mod verify_schema;
mod verify_schema_scratch;
