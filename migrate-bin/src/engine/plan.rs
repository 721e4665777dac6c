//! Planning and verification as pure functions over (source migrations, applied records):
//! no database, so every rule is unit-tested on plain values.

use std::collections::{BTreeMap, BTreeSet};

use super::RevertTarget;
use super::report::{ChangedMigration, MigrationStatus, Status, Verification};
use crate::error::MigrateError;
use crate::source::Migration;
use crate::store::AppliedRecord;

/// What a plan does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    /// Applies pending migrations, oldest first.
    Up,
    /// Reverts applied migrations, newest first.
    Revert,
    /// Reverts applied migrations, newest first, then applies them again, oldest first.
    Redo,
}

/// The migrations a run will touch, computed by a locked session. This value is what the
/// production gate shows and has confirmed, and what [`super::Locked::execute`] runs: it is
/// never recomputed in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub(super) kind: PlanKind,
    /// Indices into the session's migrations, in the order they run (the revert order for
    /// [`PlanKind::Redo`]).
    pub(super) steps: Vec<usize>,
    pub(super) migrations: Vec<Migration>,
    /// The applied versions the plan was computed on: `execute` refuses if they changed.
    pub(super) applied_on: Vec<String>,
    /// The locked session that computed it: a plan cannot run on another one.
    pub(super) session: u64,
}

impl Plan {
    /// What the plan does.
    pub fn kind(&self) -> PlanKind {
        self.kind
    }

    /// The migrations it touches, in the order they run (newest first for a revert or redo).
    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// How many migrations it touches.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// For an `up`: the pending migrations older than the newest applied one.
    pub fn out_of_order(&self) -> Option<OutOfOrder> {
        match self.kind {
            PlanKind::Up => out_of_order(&self.migrations, &self.applied_on),
            PlanKind::Revert | PlanKind::Redo => None,
        }
    }
}

/// Pending migrations older than the newest applied one: merged late, they would run after
/// migrations written after them (goose and golang-migrate apply such a file silently).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutOfOrder {
    /// The older pending versions, oldest first.
    pub versions: Vec<String>,
    /// The newest applied version.
    pub newest_applied: String,
}

/// The [`OutOfOrder`] migrations among `pending`, given the applied versions.
pub fn out_of_order(pending: &[Migration], applied: &[String]) -> Option<OutOfOrder> {
    let newest = applied.iter().max()?;
    let versions: Vec<String> = pending
        .iter()
        .filter(|m| m.version < *newest)
        .map(|m| m.version.clone())
        .collect();
    (!versions.is_empty()).then(|| OutOfOrder {
        versions,
        newest_applied: newest.clone(),
    })
}

/// The applied versions, in order: the state a plan is computed on.
pub(crate) fn applied_versions(applied: &[AppliedRecord]) -> Vec<String> {
    applied.iter().map(|a| a.version.clone()).collect()
}

/// Refuses to run `plan` unless it was made by the locked session `session` and the
/// database still has exactly the applied migrations it was computed on.
pub(crate) fn check_still_valid(
    plan: &Plan,
    session: u64,
    applied: &[AppliedRecord],
) -> Result<(), MigrateError> {
    let now = applied_versions(applied);
    if plan.session == session && plan.applied_on == now {
        return Ok(());
    }
    Err(MigrateError::Database {
        context: "running the confirmed plan".into(),
        error: format!(
            "the plan no longer matches the database (planned on {} applied migration(s), {} \
             now{}); nothing was run. Run the command again to see the current plan",
            plan.applied_on.len(),
            now.len(),
            if plan.session == session {
                ""
            } else {
                ", and it was made by another session"
            }
        ),
    })
}

/// Pending migrations (up to and including `to`), as indices, oldest first.
pub(crate) fn pending(
    migrations: &[Migration],
    applied: &[AppliedRecord],
    to: Option<&str>,
) -> Vec<usize> {
    let applied: BTreeSet<&str> = applied.iter().map(|a| a.version.as_str()).collect();
    migrations
        .iter()
        .enumerate()
        .filter(|(_, m)| !applied.contains(m.version.as_str()))
        .filter(|(_, m)| to.is_none_or(|to| m.version.as_str() <= to))
        .map(|(i, _)| i)
        .collect()
}

/// Checks that `version`, given as `argument` (e.g. `--to`), is one the source (or the
/// database, through `also_applied`) knows.
pub(crate) fn check_known_version(
    migrations: &[Migration],
    version: &str,
    argument: &str,
    also_applied: &[AppliedRecord],
    source_desc: &str,
) -> Result<(), MigrateError> {
    let known = migrations.iter().any(|m| m.version == version)
        || also_applied.iter().any(|a| a.version == version);
    if known {
        return Ok(());
    }
    let mut versions: BTreeSet<String> = migrations.iter().map(|m| m.version.clone()).collect();
    versions.extend(also_applied.iter().map(|a| a.version.clone()));
    Err(MigrateError::UnknownVersion {
        requested: version.to_string(),
        argument: argument.to_string(),
        source_desc: source_desc.to_string(),
        known: versions.into_iter().collect(),
    })
}

/// Indices of the migrations `target` reverts, newest first. Every one is checked (known to
/// the source, has a `down.sql`) before any runs.
pub(crate) fn revert_steps(
    migrations: &[Migration],
    applied: &[AppliedRecord],
    target: &RevertTarget,
    source_desc: &str,
) -> Result<Vec<usize>, MigrateError> {
    let mut newest_first: Vec<&AppliedRecord> = applied.iter().collect();
    newest_first.sort_by(|a, b| b.version.cmp(&a.version));
    let selected: Vec<&AppliedRecord> = match target {
        RevertTarget::Steps(n) => newest_first.into_iter().take(*n).collect(),
        RevertTarget::All => newest_first,
        RevertTarget::To(version) => {
            check_known_version(migrations, version, "--to", applied, source_desc)?;
            newest_first
                .into_iter()
                .filter(|a| a.version.as_str() > version.as_str())
                .collect()
        }
    };
    let unknown: Vec<String> = selected
        .iter()
        .filter(|a| !migrations.iter().any(|m| m.version == a.version))
        .map(|a| a.version.clone())
        .collect();
    if !unknown.is_empty() {
        return Err(MigrateError::DatabaseAhead {
            source_desc: source_desc.to_string(),
            versions: unknown,
        });
    }
    let mut steps = Vec::with_capacity(selected.len());
    for a in selected {
        if let Some(i) = migrations.iter().position(|m| m.version == a.version) {
            let m = &migrations[i];
            if m.down_sql.is_none() {
                return Err(MigrateError::Irreversible {
                    version: m.version.clone(),
                    name: m.name.clone(),
                });
            }
            steps.push(i);
        }
    }
    Ok(steps)
}

/// The order a redo applies its reverted migrations again: oldest first.
pub(crate) fn reapply_order(reverted: &[usize]) -> Vec<usize> {
    let mut order = reverted.to_vec();
    order.sort_unstable();
    order
}

/// Applied migrations of the source that have no checksum yet (applied by diesel_cli).
pub(crate) fn unrecorded<'m>(
    migrations: &'m [Migration],
    applied: &[AppliedRecord],
) -> Vec<&'m Migration> {
    let by_version: BTreeMap<&str, &Migration> =
        migrations.iter().map(|m| (m.version.as_str(), m)).collect();
    applied
        .iter()
        .filter(|a| a.checksum.is_none())
        .filter_map(|a| by_version.get(a.version.as_str()).copied())
        .collect()
}

/// Compares the applied records with the source: changed checksums (drift), versions the
/// source does not know (database ahead), unrecorded and matching ones. The database-only
/// parts of a [`Verification`] (partial failures, indexes, stamp) are left empty.
pub(crate) fn compare(migrations: &[Migration], applied: &[AppliedRecord]) -> Verification {
    let by_version: BTreeMap<&str, &Migration> =
        migrations.iter().map(|m| (m.version.as_str(), m)).collect();
    let mut v = Verification::default();
    for a in applied {
        match (by_version.get(a.version.as_str()), &a.checksum) {
            (None, _) => v.ahead.push(a.version.clone()),
            (Some(_), None) => v.unrecorded.push(a.version.clone()),
            (Some(m), Some(recorded)) if *recorded != m.checksum => {
                v.changed.push(ChangedMigration {
                    version: m.version.clone(),
                    name: m.name.clone(),
                    recorded: recorded.clone(),
                    current: m.checksum.clone(),
                })
            }
            (Some(_), Some(_)) => v.ok.push(a.version.clone()),
        }
    }
    v
}

/// Applied and pending migrations.
pub(crate) fn status(migrations: &[Migration], applied: &[AppliedRecord]) -> Status {
    let by_version: BTreeMap<&str, &AppliedRecord> =
        applied.iter().map(|a| (a.version.as_str(), a)).collect();
    let known: BTreeSet<&str> = migrations.iter().map(|m| m.version.as_str()).collect();
    Status {
        migrations: migrations
            .iter()
            .map(|m| {
                let record = by_version.get(m.version.as_str());
                MigrationStatus {
                    version: m.version.clone(),
                    name: m.name.clone(),
                    run_in_transaction: m.run_in_transaction,
                    applied_at: record.map(|a| a.run_on),
                    changed: record
                        .and_then(|a| a.checksum.as_ref())
                        .is_some_and(|c| *c != m.checksum),
                }
            })
            .collect(),
        unknown_applied: applied
            .iter()
            .filter(|a| !known.contains(a.version.as_str()))
            .map(|a| a.version.clone())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migration(version: &str, down: bool) -> Migration {
        Migration {
            version: version.into(),
            name: format!("m{version}"),
            up_sql: format!("CREATE TABLE t{version} ();"),
            down_sql: down.then(|| format!("DROP TABLE t{version};")),
            run_in_transaction: true,
            checksum: format!("sum{version}"),
        }
    }

    fn applied(version: &str, checksum: Option<&str>) -> AppliedRecord {
        AppliedRecord {
            version: version.into(),
            run_on: chrono::NaiveDateTime::default(),
            name: None,
            checksum: checksum.map(Into::into),
        }
    }

    fn source() -> Vec<Migration> {
        vec![
            migration("1", true),
            migration("2", true),
            migration("3", true),
        ]
    }

    #[test]
    fn pending_respects_to() {
        let m = source();
        let a = [applied("1", Some("sum1"))];
        assert_eq!(pending(&m, &a, None), vec![1, 2]);
        assert_eq!(pending(&m, &a, Some("2")), vec![1]);
        assert!(pending(&m, &a, Some("1")).is_empty());
    }

    #[test]
    fn unknown_version_lists_the_known_ones() {
        let m = source();
        let err = check_known_version(&m, "9", "--to", &[applied("7", None)], "src").unwrap_err();
        match err {
            MigrateError::UnknownVersion { known, .. } => assert_eq!(known, ["1", "2", "3", "7"]),
            other => panic!("{other:?}"),
        }
        assert!(check_known_version(&m, "7", "--to", &[applied("7", None)], "src").is_ok());
    }

    #[test]
    fn revert_steps_to_and_all_go_newest_first() {
        let m = source();
        let a = [
            applied("1", Some("sum1")),
            applied("2", Some("sum2")),
            applied("3", Some("sum3")),
        ];
        assert_eq!(
            revert_steps(&m, &a, &RevertTarget::Steps(2), "s").unwrap(),
            vec![2, 1]
        );
        assert_eq!(
            revert_steps(&m, &a, &RevertTarget::To("1".into()), "s").unwrap(),
            vec![2, 1]
        );
        assert_eq!(
            revert_steps(&m, &a, &RevertTarget::All, "s").unwrap(),
            vec![2, 1, 0]
        );
        assert!(
            revert_steps(&m, &[], &RevertTarget::All, "s")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn revert_refuses_unknown_and_irreversible_before_running_any() {
        let mut m = source();
        let a = [applied("2", Some("sum2")), applied("4", None)];
        assert!(matches!(
            revert_steps(&m, &a, &RevertTarget::All, "s"),
            Err(MigrateError::DatabaseAhead { versions, .. }) if versions == ["4"]
        ));
        m[1].down_sql = None;
        assert!(matches!(
            revert_steps(&m, &a[..1], &RevertTarget::Steps(1), "s"),
            Err(MigrateError::Irreversible { version, .. }) if version == "2"
        ));
        assert!(matches!(
            revert_steps(&m, &a[..1], &RevertTarget::To("8".into()), "s"),
            Err(MigrateError::UnknownVersion { .. })
        ));
    }

    #[test]
    fn a_plan_runs_only_on_its_session_and_unchanged_state() {
        let m = source();
        let a = [applied("1", Some("sum1"))];
        let plan = Plan {
            kind: PlanKind::Up,
            steps: pending(&m, &a, None),
            migrations: m[1..].to_vec(),
            applied_on: applied_versions(&a),
            session: 7,
        };
        assert!(check_still_valid(&plan, 7, &a).is_ok());
        assert!(check_still_valid(&plan, 8, &a).is_err());
        let moved = [applied("1", Some("sum1")), applied("2", Some("sum2"))];
        let err = check_still_valid(&plan, 7, &moved).unwrap_err().to_string();
        assert!(err.contains("no longer matches"), "{err}");
    }

    #[test]
    fn pending_older_than_the_newest_applied_is_out_of_order() {
        let m = source();
        let applied = ["1".to_string(), "3".to_string()];
        let found = out_of_order(&m[1..2], &applied).unwrap();
        assert_eq!(
            (found.versions, found.newest_applied),
            (vec!["2".to_string()], "3".into())
        );
        assert!(out_of_order(&m[2..], &["1".to_string()]).is_none());
        assert!(out_of_order(&m, &[]).is_none());
    }

    #[test]
    fn redo_reapplies_oldest_first() {
        assert_eq!(reapply_order(&[2, 0, 1]), vec![0, 1, 2]);
    }

    #[test]
    fn compare_finds_drift_ahead_and_unrecorded() {
        let m = source();
        let a = [
            applied("1", Some("sum1")),
            applied("2", Some("edited")),
            applied("3", None),
            applied("4", Some("x")),
        ];
        let v = compare(&m, &a);
        assert_eq!(v.ok, ["1"]);
        assert_eq!(v.changed.len(), 1);
        assert_eq!(
            (
                v.changed[0].recorded.as_str(),
                v.changed[0].current.as_str()
            ),
            ("edited", "sum2")
        );
        assert_eq!(v.unrecorded, ["3"]);
        assert_eq!(v.ahead, ["4"]);
        assert!(!v.is_clean());
        assert!(compare(&m, &a[..1]).is_clean());
        assert_eq!(
            unrecorded(&m, &a)
                .iter()
                .map(|m| m.version.as_str())
                .collect::<Vec<_>>(),
            ["3"]
        );
    }

    #[test]
    fn status_marks_changed_and_unknown() {
        let m = source();
        let a = [applied("1", Some("edited")), applied("9", None)];
        let s = status(&m, &a);
        assert_eq!((s.applied_count(), s.pending_count()), (1, 2));
        assert!(s.migrations[0].changed);
        assert!(!s.migrations[1].changed);
        assert_eq!(s.unknown_applied, ["9"]);
    }
}
