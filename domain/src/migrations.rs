//! TEMPORARY STUB on branch `migrate` so the engine compiles before the `schema` branch lands.
//! The real module (generated from `migrations/`) replaces this file on merge.

/// One migration folder embedded in the binary.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedMigrationFile {
    /// Folder name, e.g. `2026-01-10-090000_create_tenancy`.
    pub dir_name: &'static str,
    /// diesel's version: the folder name up to the first `_`, without `-`.
    pub version: &'static str,
    /// The folder name after the version.
    pub name: &'static str,
    /// Contents of `up.sql`.
    pub up_sql: &'static str,
    /// Contents of `down.sql`, if present.
    pub down_sql: Option<&'static str>,
    /// Contents of `metadata.toml`, if present.
    pub metadata_toml: Option<&'static str>,
}

/// Every migration folder under `migrations/`, ordered by version.
pub fn embedded_migration_files() -> &'static [EmbeddedMigrationFile] {
    &[]
}
