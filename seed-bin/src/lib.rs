//! placeholder

pub mod bulk;
