//! What a rehearsal found: per statement its duration, the strongest lock it took on each
//! table and for how long that lock was held, the tables it rewrote with their rows; and the
//! findings that fail the rehearsal (exit 11).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use super::apply::{MigrationRun, Rels, SQL_WIDTH, StepFailure, ms, ms_between};
use super::locks::LockMode;
use super::watcher::{INTERVAL, Sample};

/// The limits that turn what the rehearsal saw into findings. None: report only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Thresholds {
    /// Longest a lock that blocks writes may be held, in milliseconds.
    #[serde(rename = "max_lock_ms", serialize_with = "as_ms")]
    pub max_lock: Option<Duration>,
    /// Most rows a rewritten table may have.
    pub max_rewrite_rows: Option<u64>,
}

fn as_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    d.map(ms).serialize(s)
}

/// One migration's first application on the copy.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationReport {
    /// Its version.
    pub version: String,
    /// Its name.
    pub name: String,
    /// Whether it ran in one transaction.
    pub run_in_transaction: bool,
    /// From its first statement to its COMMIT.
    pub duration_ms: u64,
    /// Its statements.
    pub statements: Vec<StatementReport>,
}

/// One statement.
#[derive(Debug, Clone, Serialize)]
pub struct StatementReport {
    /// 1-based position in its file.
    pub number: usize,
    /// Its first line.
    pub sql: String,
    /// How long it ran.
    pub duration_ms: u64,
    /// How long the watcher saw it queued behind another session's lock.
    pub lock_wait_ms: u64,
    /// The strongest lock it took on each existing table.
    pub locks: Vec<LockReport>,
    /// Tables it rewrote (their storage changed).
    pub rewrites: Vec<RewriteReport>,
}

/// A lock a statement took.
#[derive(Debug, Clone, Serialize)]
pub struct LockReport {
    /// `schema.table`.
    pub table: String,
    /// The strongest mode it took on the table.
    pub mode: LockMode,
    /// Whether that mode queues the application's writes.
    pub blocks_writes: bool,
    /// From the statement (or the grant, if it waited) to the release (COMMIT, or the
    /// statement's end outside a transaction), without the rehearsal's own catalog reads.
    pub held_ms: u64,
    /// The table's rows (planner estimate) before the statement.
    pub rows: Option<u64>,
    #[serde(skip)]
    held: Duration,
}

/// A table a statement rewrote.
#[derive(Debug, Clone, Serialize)]
pub struct RewriteReport {
    /// `schema.table`.
    pub table: String,
    /// Its rows (planner estimate) before the statement.
    pub rows: Option<u64>,
}

/// Something that fails the rehearsal.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Finding {
    /// A write-blocking lock held longer than `--max-lock`.
    LockTooLong {
        /// Migration.
        version: String,
        /// Statement number.
        statement: usize,
        /// Table.
        table: String,
        /// Mode.
        mode: LockMode,
        /// How long.
        held_ms: u64,
        /// The limit.
        limit_ms: u64,
    },
    /// A rewrite of a table with more rows than `--max-rewrite-rows`.
    RewriteTooBig {
        /// Migration.
        version: String,
        /// Statement number.
        statement: usize,
        /// Table.
        table: String,
        /// Its rows.
        rows: u64,
        /// The limit.
        limit: u64,
    },
    /// `down.sql` left the catalog different from before `up.sql`.
    DownNotUndo {
        /// Migration.
        version: String,
        /// Its name.
        name: String,
        /// What differs, one line each.
        differences: Vec<String>,
    },
    /// A statement failed on the copy.
    Failed {
        /// `applying` or `reverting`.
        direction: String,
        /// Migration.
        version: String,
        /// Its name.
        name: String,
        /// Statement number.
        statement: usize,
        /// Its first line.
        sql: String,
        /// PostgreSQL's error.
        error: String,
    },
}

impl From<StepFailure> for Finding {
    fn from(f: StepFailure) -> Self {
        Finding::Failed {
            direction: f.direction.to_string(),
            version: f.version,
            name: f.name,
            statement: f.statement.0,
            sql: f.statement.1,
            error: f.error,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::LockTooLong {
                version,
                statement,
                table,
                mode,
                held_ms,
                limit_ms,
            } => write!(
                f,
                "lock-too-long: {version} statement {statement} held {mode} on {table} for \
                 {held_ms} ms (--max-lock {limit_ms} ms)"
            ),
            Finding::RewriteTooBig {
                version,
                statement,
                table,
                rows,
                limit,
            } => write!(
                f,
                "rewrite-too-big: {version} statement {statement} rewrote {table} with {rows} \
                 rows (--max-rewrite-rows {limit})"
            ),
            Finding::DownNotUndo {
                version,
                name,
                differences,
            } => write!(
                f,
                "down-not-undo: {version} {name}: after its down.sql the schema differs from \
                 before its up.sql: {}",
                differences.join("; ")
            ),
            Finding::Failed {
                direction,
                version,
                name,
                statement,
                sql,
                error,
            } => write!(
                f,
                "failed: {direction} {version} {name}, statement {statement} (`{sql}`): {error}"
            ),
        }
    }
}

/// Builds the report of one migration's observed run from its statements and the watcher's
/// samples. `existing` are the tables before the first pending migration: a table the
/// rehearsal created itself is invisible to other sessions until COMMIT, so its locks block
/// nobody and are left out.
pub fn migration_report(
    run: &MigrationRun,
    samples: &[Sample],
    existing: &Rels,
) -> MigrationReport {
    let mut statements = Vec::with_capacity(run.statements.len());
    let mut held_before: HashSet<(u32, LockMode)> = HashSet::new();
    for (i, s) in run.statements.iter().enumerate() {
        let window: Vec<&Sample> = samples
            .iter()
            .filter(|x| x.at >= s.started && x.at <= s.ended)
            .collect();
        let mut taken: HashSet<(u32, LockMode)> = s
            .held_after
            .iter()
            .copied()
            .filter(|l| !held_before.contains(l))
            .collect();
        for sample in &window {
            for l in sample.locks.iter().filter(|l| l.granted) {
                if !held_before.contains(&(l.oid, l.mode)) {
                    taken.insert((l.oid, l.mode));
                }
            }
        }
        let mut strongest: BTreeMap<String, (u32, LockMode)> = BTreeMap::new();
        for (oid, mode) in taken {
            let Some(rel) = existing.get(&oid) else {
                continue;
            };
            // A weaker lock on a table an earlier statement already holds more strongly
            // changes nothing for other sessions.
            if held_before.iter().any(|&(o, m)| o == oid && m >= mode) {
                continue;
            }
            let name = s.before.get(&oid).map_or(&rel.name, |r| &r.name);
            let e = strongest.entry(name.clone()).or_insert((oid, mode));
            if mode > e.1 {
                *e = (oid, mode);
            }
        }
        held_before.extend(s.held_after.iter().copied());
        // In a transaction the lock lasts until COMMIT: through this statement, the later
        // ones and the bookkeeping, but not the rehearsal's own catalog reads in between,
        // which a real run does not make.
        let after_this = if run.transactional {
            run.statements[i + 1..]
                .iter()
                .map(|later| later.ended.saturating_duration_since(later.started))
                .sum::<Duration>()
                + run.finished.saturating_duration_since(run.book_started)
        } else {
            Duration::ZERO
        };
        let locks = strongest
            .into_iter()
            .map(|(table, (oid, mode))| {
                let acquired = granted_at(&window, oid, mode).unwrap_or(s.started);
                let held = s.ended.saturating_duration_since(acquired) + after_this;
                LockReport {
                    table,
                    mode,
                    blocks_writes: mode.blocks_writes(),
                    held_ms: ms(held),
                    rows: s.before.get(&oid).and_then(|r| rows(r.rows)),
                    held,
                }
            })
            .collect();
        let mut rewrites: Vec<RewriteReport> = s
            .before
            .iter()
            .filter_map(|(oid, before)| {
                let after = s.after.get(oid)?;
                (before.relfilenode != 0 && after.relfilenode != before.relfilenode).then(|| {
                    RewriteReport {
                        table: before.name.clone(),
                        rows: rows(before.rows),
                    }
                })
            })
            .collect();
        rewrites.sort_by(|a, b| a.table.cmp(&b.table));
        let waiting = window.iter().filter(|x| x.waiting_for_lock).count();
        statements.push(StatementReport {
            number: i + 1,
            sql: crate::split::first_line(&s.sql, SQL_WIDTH),
            duration_ms: ms_between(s.started, s.ended),
            lock_wait_ms: ms(INTERVAL.saturating_mul(u32::try_from(waiting).unwrap_or(u32::MAX))),
            locks,
            rewrites,
        });
    }
    let started = run.statements.first().map_or(run.finished, |s| s.started);
    MigrationReport {
        version: run.version.clone(),
        name: run.name.clone(),
        run_in_transaction: run.transactional,
        duration_ms: ms_between(started, run.finished),
        statements,
    }
}

/// When the watcher saw a lock it had seen waiting become granted: the statement queued
/// until then, and the lock is held only from then on.
fn granted_at(window: &[&Sample], oid: u32, mode: LockMode) -> Option<Instant> {
    let mut waited = false;
    for sample in window {
        for l in sample
            .locks
            .iter()
            .filter(|l| l.oid == oid && l.mode == mode)
        {
            if !l.granted {
                waited = true;
            } else if waited {
                return Some(sample.at);
            }
        }
    }
    None
}

fn rows(reltuples: f64) -> Option<u64> {
    // -1: never analysed. The cast saturates, so no estimate can overflow.
    (reltuples >= 0.0).then(|| reltuples.round() as u64)
}

/// The findings the thresholds make of the reports.
pub fn threshold_findings(reports: &[MigrationReport], limits: Thresholds) -> Vec<Finding> {
    let mut findings = Vec::new();
    for m in reports {
        for s in &m.statements {
            if let Some(limit) = limits.max_lock {
                for l in s.locks.iter().filter(|l| l.blocks_writes && l.held > limit) {
                    findings.push(Finding::LockTooLong {
                        version: m.version.clone(),
                        statement: s.number,
                        table: l.table.clone(),
                        mode: l.mode,
                        held_ms: l.held_ms,
                        limit_ms: ms(limit),
                    });
                }
            }
            if let Some(limit) = limits.max_rewrite_rows {
                for r in &s.rewrites {
                    let rows = r.rows.unwrap_or(0);
                    if rows > limit {
                        findings.push(Finding::RewriteTooBig {
                            version: m.version.clone(),
                            statement: s.number,
                            table: r.table.clone(),
                            rows,
                            limit,
                        });
                    }
                }
            }
        }
    }
    findings
}

/// The whole rehearsal.
#[derive(Debug, Clone, Serialize)]
pub struct Rehearsal {
    /// Where the copy came from.
    pub source: String,
    /// The scratch database's name.
    pub scratch: String,
    /// Whether it was kept (`--keep`).
    pub kept: bool,
    /// The limits applied.
    pub thresholds: Thresholds,
    /// Whether the watcher ran.
    pub watched: bool,
    /// Samples the watcher took.
    pub samples: usize,
    /// Phase durations.
    pub timings: Timings,
    /// The pending migrations' first application.
    pub migrations: Vec<MigrationReport>,
    /// Migrations that could not be reverted (no down.sql), with the ones older than them.
    pub not_reverted: Vec<String>,
    /// What fails the rehearsal.
    pub findings: Vec<Finding>,
}

/// How long each phase took, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timings {
    /// Making the copy (restore or dump and restore, then ANALYZE).
    pub copy_ms: u64,
    /// Applying the pending migrations (watched).
    pub apply_ms: u64,
    /// Reverting them with their down.sql, with the catalog comparisons.
    pub revert_ms: u64,
    /// Applying them again.
    pub reapply_ms: u64,
}

impl Rehearsal {
    /// Lines of findings, for the error message.
    pub fn finding_lines(&self) -> Vec<String> {
        self.findings.iter().map(ToString::to_string).collect()
    }
}

impl fmt::Display for Rehearsal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Rehearsal on a copy of {} ({})",
            self.source, self.scratch
        )?;
        if self.migrations.is_empty() && self.findings.is_empty() {
            return write!(f, "Nothing pending on the copy: nothing to rehearse.");
        }
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        table.set_header([
            "migration",
            "#",
            "statement",
            "ms",
            "locks (held)",
            "rewrote",
        ]);
        for m in &self.migrations {
            for s in &m.statements {
                let locks: Vec<String> = s
                    .locks
                    .iter()
                    .map(|l| {
                        format!(
                            "{} {} {} ms{}",
                            l.table,
                            l.mode,
                            l.held_ms,
                            l.rows.map(|r| format!(", {r} rows")).unwrap_or_default()
                        )
                    })
                    .collect();
                let rewrites: Vec<String> = s
                    .rewrites
                    .iter()
                    .map(|r| match r.rows {
                        Some(n) => format!("{} ({n} rows)", r.table),
                        None => r.table.clone(),
                    })
                    .collect();
                table.add_row([
                    if s.number == 1 {
                        m.version.clone()
                    } else {
                        String::new()
                    },
                    s.number.to_string(),
                    s.sql.clone(),
                    s.duration_ms.to_string(),
                    locks.join("\n"),
                    rewrites.join("\n"),
                ]);
            }
        }
        writeln!(f, "{table}")?;
        let t = &self.timings;
        write!(
            f,
            "copy {} ms, apply {} ms ({} watcher samples), revert {} ms, apply again {} ms",
            t.copy_ms, t.apply_ms, self.samples, t.revert_ms, t.reapply_ms
        )?;
        for v in &self.not_reverted {
            write!(
                f,
                "\nNOT REVERTED {v}: no down.sql (or a newer one has none)"
            )?;
        }
        for finding in &self.findings {
            write!(f, "\nFINDING {finding}")?;
        }
        if self.findings.is_empty() {
            write!(f, "\nOK: no findings")?;
        }
        if self.kept {
            write!(
                f,
                "\nThe copy is kept as database {} (drop it when done).",
                self.scratch
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rehearse::apply::{RelInfo, StatementRun};
    use crate::rehearse::watcher::SampledLock;

    fn rels(entries: &[(u32, &str, u32, f64)]) -> Rels {
        entries
            .iter()
            .map(|&(oid, name, relfilenode, rows)| {
                (
                    oid,
                    RelInfo {
                        name: name.into(),
                        relfilenode,
                        rows,
                    },
                )
            })
            .collect()
    }

    /// A transactional migration: statement 1 rewrites assets under ACCESS EXCLUSIVE (100 ms),
    /// the rehearsal reads the catalog (500 ms, not counted), statement 2 builds an index
    /// (SHARE on assets, weaker than what is held, and SHARE on a table created in the same
    /// transaction, invisible to others) for 50 ms, bookkeeping and COMMIT take 10 ms.
    fn two_statements() -> (MigrationRun, Rels) {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let existing = rels(&[(1, "public.assets", 10, 84.0)]);
        let after_1 = rels(&[(1, "public.assets", 11, 84.0)]);
        let after_2 = rels(&[(1, "public.assets", 11, 84.0), (2, "public.new", 20, 0.0)]);
        let run = MigrationRun {
            version: "1".into(),
            name: "x".into(),
            transactional: true,
            statements: vec![
                StatementRun {
                    sql: "ALTER TABLE assets ALTER COLUMN c TYPE bigint".into(),
                    started: at(0),
                    ended: at(100),
                    before: existing.clone(),
                    after: after_1.clone(),
                    held_after: vec![(1, LockMode::AccessExclusive)],
                },
                StatementRun {
                    sql: "CREATE INDEX i ON assets (c)".into(),
                    started: at(600),
                    ended: at(650),
                    before: after_1,
                    after: after_2,
                    held_after: vec![
                        (1, LockMode::AccessExclusive),
                        (1, LockMode::Share),
                        (2, LockMode::Share),
                    ],
                },
            ],
            book_started: at(650),
            finished: at(660),
        };
        (run, existing)
    }

    #[test]
    fn locks_are_attributed_to_the_statement_that_took_them_and_held_until_commit() {
        let (run, existing) = two_statements();
        let report = migration_report(&run, &[], &existing);
        let s1 = &report.statements[0];
        assert_eq!(s1.locks.len(), 1);
        assert_eq!(s1.locks[0].table, "public.assets");
        assert_eq!(s1.locks[0].mode, LockMode::AccessExclusive);
        // 100 ms statement + 50 ms statement 2 + 10 ms bookkeeping and COMMIT; the 500 ms of
        // catalog reads between them are the rehearsal's, not the migration's.
        assert_eq!(s1.locks[0].held_ms, 160);
        assert_eq!(s1.locks[0].rows, Some(84));
        assert_eq!(s1.rewrites.len(), 1);
        assert_eq!(s1.rewrites[0].table, "public.assets");
        let s2 = &report.statements[1];
        assert!(s2.locks.is_empty(), "{:?}", s2.locks);
        assert!(s2.rewrites.is_empty());
        assert_eq!(s2.duration_ms, 50);
    }

    #[test]
    fn the_watcher_adds_locks_of_non_transactional_statements_and_waits() {
        let (mut run, existing) = two_statements();
        run.transactional = false;
        for s in &mut run.statements {
            s.held_after.clear();
        }
        let t0 = run.statements[0].started;
        let sample = |ms: u64, granted: bool| Sample {
            at: t0 + Duration::from_millis(ms),
            waiting_for_lock: !granted,
            locks: vec![SampledLock {
                oid: 1,
                mode: LockMode::Share,
                granted,
            }],
        };
        // Statement 2 queued for SHARE until 620 ms.
        let samples = [sample(610, false), sample(620, true), sample(640, true)];
        let report = migration_report(&run, &samples, &existing);
        assert!(report.statements[0].locks.is_empty());
        let lock = &report.statements[1].locks[0];
        assert_eq!(lock.mode, LockMode::Share);
        assert_eq!(lock.held_ms, 30, "from the grant to the statement's end");
        assert_eq!(report.statements[1].lock_wait_ms, 50);
    }

    #[test]
    fn thresholds_name_what_exceeds_them() {
        let (run, existing) = two_statements();
        let reports = [migration_report(&run, &[], &existing)];
        assert!(threshold_findings(&reports, Thresholds::default()).is_empty());
        let findings = threshold_findings(
            &reports,
            Thresholds {
                max_lock: Some(Duration::from_millis(100)),
                max_rewrite_rows: Some(83),
            },
        );
        let text: Vec<String> = findings.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "lock-too-long: 1 statement 1 held ACCESS EXCLUSIVE on public.assets for 160 ms \
                 (--max-lock 100 ms)",
                "rewrite-too-big: 1 statement 1 rewrote public.assets with 84 rows \
                 (--max-rewrite-rows 83)",
            ]
        );
        let at_the_limit = Thresholds {
            max_lock: Some(Duration::from_millis(160)),
            max_rewrite_rows: Some(84),
        };
        assert!(threshold_findings(&reports, at_the_limit).is_empty());
    }
}
