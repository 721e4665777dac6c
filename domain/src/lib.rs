//! placeholder
pub mod migrations;
