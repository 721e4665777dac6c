//! placeholder
pub mod api_key;
