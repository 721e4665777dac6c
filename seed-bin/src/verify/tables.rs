//! The row-by-row part of `seed verify`: each stage's tables against the rows the stage
//! generates ([`crate::compare`]), reported per table with the ids and columns that differ
//! and the stage rerun that repairs them.

use crate::compare::{Comparer, TableDiff};
use crate::error::Result;
use crate::stages::stage::{Ctx, Stage};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

/// Rows of each kind (edited, missing, extra) shown per table; the counts are always total.
pub const SHOWN_ROWS: usize = 10;

/// One stage's comparison.
pub struct StageDiff {
    pub stage: &'static str,
    pub tables: Vec<TableDiff>,
}

impl StageDiff {
    /// Tables that differ.
    pub fn dirty(&self) -> usize {
        self.tables.iter().filter(|t| !t.is_clean()).count()
    }

    /// The command that repairs the stage's tables: a rerun puts edited and missing rows back
    /// (the ledger sees the tables changed); extra rows need `--prune`. A row whose natural key
    /// was edited cannot be matched by the upsert: `--prune` deletes it, which cascades to the
    /// rows of later stages that reference it, so every stage runs again (unchanged ones are
    /// skipped).
    pub fn repair(&self, ctx: &Ctx) -> Option<String> {
        if self.dirty() == 0 {
            return None;
        }
        let key_edited = self.tables.iter().any(|t| t.key_edited > 0);
        let prune = key_edited || self.tables.iter().any(|t| t.extra > 0);
        Some(format!(
            "seed --stage {}{}{}",
            if key_edited { "all" } else { self.stage },
            inputs(ctx),
            if prune { " --prune" } else { "" }
        ))
    }
}

/// The flags that reproduce this run's inputs where they are not the defaults, so the repair
/// command regenerates the same rows.
fn inputs(ctx: &Ctx) -> String {
    let mut out = String::new();
    if ctx.scale != 1 {
        out.push_str(&format!(" --scale {}", ctx.scale));
    }
    if ctx.rng_seed != 42 {
        out.push_str(&format!(" --rng-seed {}", ctx.rng_seed));
    }
    if ctx.as_of.to_string() != "2026-01-15" {
        out.push_str(&format!(" --as-of {}", ctx.as_of));
    }
    out
}

/// Compares every stage of `stages` (in order).
pub async fn compare(
    comparer: &Comparer,
    ctx: &Ctx,
    stages: &[&'static dyn Stage],
) -> Result<Vec<StageDiff>> {
    let mut out = Vec::new();
    for s in stages {
        out.push(StageDiff {
            stage: s.id(),
            tables: comparer.stage(ctx, *s, SHOWN_ROWS).await?,
        });
    }
    Ok(out)
}

fn value(v: &Option<String>, secret: bool) -> String {
    match (secret, v) {
        (true, _) => "(secret)".into(),
        (false, Some(v)) => format!("{v:?}"),
        (false, None) => "NULL".into(),
    }
}

/// The text report: one line per table, then the details of each table that differs.
pub fn text(diffs: &[StageDiff], ctx: &Ctx, quiet: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "stage", "table", "expected", "present", "edited", "missing", "extra", "result",
    ]);
    let mut any = false;
    for s in diffs {
        for t in &s.tables {
            if quiet && t.is_clean() {
                continue;
            }
            any = true;
            table.add_row([
                s.stage.to_string(),
                t.table.clone(),
                t.expected_rows.to_string(),
                t.actual_rows.to_string(),
                t.edited.to_string(),
                t.missing.to_string(),
                t.extra.to_string(),
                if t.is_clean() {
                    "ok".into()
                } else {
                    "FAILED".into()
                },
            ]);
        }
    }
    if any {
        lines.push(table.to_string());
    }
    for s in diffs.iter().filter(|s| s.dirty() > 0) {
        for t in s.tables.iter().filter(|t| !t.is_clean()) {
            lines.push(format!(
                "{}: {} differs from what the stage generates: {} edited, {} missing, {} extra row(s)",
                s.stage, t.table, t.edited, t.missing, t.extra
            ));
            if !t.edited_columns.is_empty() {
                let cols: Vec<String> = t
                    .edited_columns
                    .iter()
                    .map(|(c, n)| format!("{c} ({n})"))
                    .collect();
                lines.push(format!("  edited columns: {}", cols.join(", ")));
            }
            for r in &t.edited_rows {
                let cols: Vec<String> = r
                    .columns
                    .iter()
                    .map(|c| {
                        if c.secret {
                            format!("{} differs", c.column)
                        } else {
                            format!(
                                "{}: expected {}, actual {}",
                                c.column,
                                value(&c.expected, false),
                                value(&c.actual, false)
                            )
                        }
                    })
                    .collect();
                lines.push(format!("  edited  {}: {}", r.id, cols.join("; ")));
            }
            more(&mut lines, "edited", t.edited, t.edited_rows.len());
            for id in &t.missing_ids {
                lines.push(format!("  missing {id}"));
            }
            more(&mut lines, "missing", t.missing, t.missing_ids.len());
            for id in &t.extra_ids {
                lines.push(format!("  extra   {id}"));
            }
            more(&mut lines, "extra", t.extra, t.extra_ids.len());
            if t.key_edited > 0 {
                lines.push(format!(
                    "  {} edited row(s) changed a natural key: a rerun cannot match them; --prune deletes them (with the rows of later stages that reference them) before the stages write again",
                    t.key_edited
                ));
            }
        }
        if let Some(cmd) = s.repair(ctx) {
            lines.push(format!("  repair: `{cmd}`"));
        }
    }
    lines
}

fn more(lines: &mut Vec<String>, kind: &str, total: u64, shown: usize) {
    if total > shown as u64 {
        lines.push(format!(
            "  … and {} more {kind} row(s) (the first {shown} by id are shown)",
            total - shown as u64
        ));
    }
}

/// One JSON event per table.
pub fn json(diffs: &[StageDiff], ctx: &Ctx) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for s in diffs {
        let repair = s.repair(ctx);
        for t in &s.tables {
            out.push(serde_json::json!({
                "event": "table",
                "stage": s.stage,
                "table": t.table,
                "ok": t.is_clean(),
                "expected_rows": t.expected_rows,
                "actual_rows": t.actual_rows,
                "edited": t.edited,
                "missing": t.missing,
                "extra": t.extra,
                "key_edited": t.key_edited,
                "edited_columns": t.edited_columns.iter().map(|(c, n)| serde_json::json!({"column": c, "rows": n})).collect::<Vec<_>>(),
                "edited_rows": t.edited_rows,
                "missing_ids": t.missing_ids,
                "extra_ids": t.extra_ids,
                "repair": if t.is_clean() { None } else { repair.clone() },
            }));
        }
    }
    out
}
