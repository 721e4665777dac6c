//! Throwaway diesel-format migration folders for the `migrate` tests, so they do not depend
//! on the project's real migrations.

use std::fs;
use std::path::{Path, PathBuf};

/// A temporary migrations folder; deleted on drop.
pub struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// An empty folder.
    pub fn empty() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// diesel's initial setup, two tables (the second alters the first) and a
    /// non-transactional CONCURRENTLY index.
    pub fn standard() -> Self {
        let f = Self::empty();
        f.add(
            "00000000000000_diesel_initial_setup",
            "CREATE OR REPLACE FUNCTION diesel_set_updated_at() RETURNS trigger AS $$\nBEGIN\n  NEW.updated_at := now();\n  RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;\n",
            Some("DROP FUNCTION IF EXISTS diesel_set_updated_at();\n"),
        );
        f.add(
            "2026-01-10-090000_create_accounts",
            "CREATE TABLE accounts (id uuid PRIMARY KEY, name text NOT NULL);\nINSERT INTO accounts VALUES ('00000000-0000-0000-0000-000000000001', 'semi;colon');\n",
            Some("DROP TABLE accounts;\n"),
        );
        f.add(
            "2026-01-11-090000_create_engagements",
            "CREATE TABLE engagements (id uuid PRIMARY KEY, account_id uuid NOT NULL REFERENCES accounts (id));\nALTER TABLE accounts ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();\n",
            Some("ALTER TABLE accounts DROP COLUMN created_at;\nDROP TABLE engagements;\n"),
        );
        f.add_non_transactional(
            "2026-01-12-090000_index_engagements",
            "-- CONCURRENTLY cannot run in a transaction block.\nCREATE INDEX CONCURRENTLY engagements_account_idx ON engagements (account_id);\n",
            Some("DROP INDEX CONCURRENTLY IF EXISTS engagements_account_idx;\n"),
        );
        f
    }

    /// Versions of [`Fixture::standard`], in order.
    pub const STANDARD_VERSIONS: [&'static str; 4] = [
        "00000000000000",
        "20260110090000",
        "20260111090000",
        "20260112090000",
    ];

    /// Adds a migration folder.
    pub fn add(&self, dir_name: &str, up: &str, down: Option<&str>) -> PathBuf {
        let d = self.dir.path().join(dir_name);
        fs::create_dir_all(&d).expect("create migration folder");
        fs::write(d.join("up.sql"), up).expect("write up.sql");
        if let Some(down) = down {
            fs::write(d.join("down.sql"), down).expect("write down.sql");
        }
        d
    }

    /// Adds a migration with `run_in_transaction = false`.
    pub fn add_non_transactional(&self, dir_name: &str, up: &str, down: Option<&str>) -> PathBuf {
        let d = self.add(dir_name, up, down);
        fs::write(d.join("metadata.toml"), "run_in_transaction = false\n")
            .expect("write metadata.toml");
        d
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The folder as a string, for command lines.
    pub fn arg(&self) -> String {
        self.dir.path().display().to_string()
    }
}
