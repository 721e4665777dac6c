//! `migrate` on its own: core commands, errors, guards, the production flow, backups, and
//! compatibility with diesel's bookkeeping.

mod backup;
mod core;
mod diesel_compat;
mod errors;
mod guards;
mod lint;
mod output;
mod prod;
mod prod_down;
