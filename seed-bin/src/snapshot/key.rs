//! The snapshot key: a SHA-256 over everything that determines the seeded rows, so a template
//! database whose name carries it can stand in for a fresh seed with the same inputs.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the dataset this binary generates. Raise it whenever a generator changes its
/// output without a stage version or a migration changing too, so older snapshots stop matching.
pub const DATASET_VERSION: u32 = 1;

/// Prefix of every snapshot database's name: `snapshot list`, `prune` and `drop` only ever
/// touch databases named so.
pub const NAME_PREFIX: &str = "groundwork_snap_";

/// Prefix of a snapshot's spare: a copy of it made ahead, in the background, so that the next
/// restore renames it into place instead of copying the template (see `store::Admin::restore`).
/// `groundwork_spare_<the snapshot's 24 hex digits>`; it starts with neither [`NAME_PREFIX`]
/// nor the prefix of half-made copies, so listing and leftover handling never take it for one.
pub const SPARE_PREFIX: &str = "groundwork_spare_";

/// The name of the spare of snapshot `snapshot`; `None` when that is no snapshot's name.
pub fn spare_name(snapshot: &str) -> Option<String> {
    snapshot
        .strip_prefix(NAME_PREFIX)
        .filter(|hex| !hex.is_empty())
        .map(|hex| format!("{SPARE_PREFIX}{hex}"))
}

/// The snapshot whose spare `spare` is; `None` when that is no spare's name.
pub fn snapshot_of_spare(spare: &str) -> Option<String> {
    spare
        .strip_prefix(SPARE_PREFIX)
        .filter(|hex| !hex.is_empty())
        .map(|hex| format!("{NAME_PREFIX}{hex}"))
}

/// Hex digits of the key in a snapshot's name: 96 bits, far from any accidental collision,
/// and the name stays at 40 bytes (PostgreSQL's limit is 63).
const NAME_HEX_DIGITS: usize = 24;

/// Everything that determines the rows of a seeded (or only migrated) database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInputs {
    /// [`DATASET_VERSION`] of the binary that made it.
    pub dataset_version: u32,
    /// Every migration as `version:checksum` (the checksum of its `up.sql`), in order.
    pub migrations: Vec<String>,
    /// Every seeded stage as `id@version`, in run order; empty for a migrated-only database.
    pub stages: Vec<String>,
    /// `--rng-seed`.
    pub rng_seed: u64,
    /// `--as-of`.
    pub as_of: NaiveDate,
    /// `--scale`.
    pub scale: u32,
    /// SHA-256 of the core data file's text.
    pub core_data_sha256: String,
}

/// A snapshot key: its inputs and their digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotKey {
    inputs: KeyInputs,
    hex: String,
}

impl SnapshotKey {
    /// The key of `inputs`.
    pub fn new(inputs: KeyInputs) -> Self {
        let hex = digest(&inputs);
        Self { inputs, hex }
    }

    /// The full key (64 hex digits).
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// What the key was computed from.
    pub fn inputs(&self) -> &KeyInputs {
        &self.inputs
    }

    /// The name of the template database holding this key's snapshot.
    pub fn database_name(&self) -> String {
        format!("{NAME_PREFIX}{}", &self.hex[..NAME_HEX_DIGITS])
    }
}

/// One line per input, each labelled, so no two different input sets can serialise alike
/// (a stage id can never hold a newline).
fn digest(i: &KeyInputs) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "groundwork-snapshot\ndataset_version={}\n",
        i.dataset_version
    ));
    for m in &i.migrations {
        h.update(format!("migration={m}\n"));
    }
    for s in &i.stages {
        h.update(format!("stage={s}\n"));
    }
    h.update(format!(
        "rng_seed={}\nas_of={}\nscale={}\ncore_data_sha256={}\n",
        i.rng_seed, i.as_of, i.scale, i.core_data_sha256
    ));
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> KeyInputs {
        KeyInputs {
            dataset_version: DATASET_VERSION,
            migrations: vec!["20260110090000:aa".into(), "20260111090000:bb".into()],
            stages: vec!["00_reference_data@1".into(), "01_core_entities@1".into()],
            rng_seed: 42,
            as_of: NaiveDate::from_ymd_opt(2026, 1, 15).unwrap_or_default(),
            scale: 1,
            core_data_sha256: "cc".into(),
        }
    }

    #[test]
    fn the_key_changes_when_any_input_changes_and_only_then() {
        let k = SnapshotKey::new(base());
        assert_eq!(k, SnapshotKey::new(base()), "same inputs, same key");
        assert_eq!(k.hex().len(), 64);
        type Change = fn(&mut KeyInputs);
        let variants: Vec<(&str, Change)> = vec![
            ("dataset version", |i| i.dataset_version += 1),
            ("a migration checksum", |i| {
                i.migrations[1] = "20260111090000:bc".into()
            }),
            ("a migration more", |i| {
                i.migrations.push("20260112090000:dd".into())
            }),
            ("the stage set", |i| {
                i.stages.pop();
            }),
            ("a stage version", |i| {
                i.stages[1] = "01_core_entities@2".into()
            }),
            ("--rng-seed", |i| i.rng_seed = 43),
            ("--as-of", |i| {
                i.as_of = i.as_of.succ_opt().unwrap_or_default()
            }),
            ("--scale", |i| i.scale = 2),
            ("the core data file", |i| i.core_data_sha256 = "cd".into()),
        ];
        let mut seen = std::collections::HashSet::new();
        seen.insert(k.database_name());
        for (what, change) in variants {
            let mut i = base();
            change(&mut i);
            let other = SnapshotKey::new(i);
            assert_ne!(other.hex(), k.hex(), "{what} must change the key");
            assert!(seen.insert(other.database_name()), "{what}: name collides");
        }
    }

    #[test]
    fn names_fit_postgres_and_carry_the_prefix() {
        let name = SnapshotKey::new(base()).database_name();
        assert!(name.len() <= 63, "{name}");
        assert!(name.starts_with(NAME_PREFIX), "{name}");
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        );
    }

    #[test]
    fn a_spare_is_named_after_its_snapshot_and_never_taken_for_one() {
        let name = SnapshotKey::new(base()).database_name();
        let spare = spare_name(&name).unwrap_or_default();
        assert!(spare.starts_with(SPARE_PREFIX), "{spare}");
        assert!(spare.len() <= 63, "{spare}");
        assert!(!spare.starts_with(NAME_PREFIX), "{spare}");
        assert!(!spare.starts_with("groundwork_snapnew_"), "{spare}");
        assert_eq!(snapshot_of_spare(&spare), Some(name));
        assert_eq!(spare_name("postgres"), None);
        assert_eq!(spare_name(NAME_PREFIX), None);
        assert_eq!(snapshot_of_spare("groundwork_snap_abc"), None);
    }
}
