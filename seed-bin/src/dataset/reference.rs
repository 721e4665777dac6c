//! Reference data other parts of the dataset point at.

use crate::ids::id;

/// The id of a catalogue entry.
pub fn technology_id(name: &str, version: &str) -> uuid::Uuid {
    id("technology", &format!("{name}@{version}"))
}
