//! What the user sees: progress per stage (bars on a terminal, plain lines otherwise, JSON
//! events with `--log-format json`), the summary table, and `--quiet`.

use crate::cli::LogFormat;
use crate::write::Counts;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::json;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

/// One line of the summary.
#[derive(Debug, Clone)]
pub struct SummaryRow {
    pub stage: String,
    pub status: String,
    pub counts: Counts,
    pub millis: u128,
}

/// Reports progress in the chosen format.
pub struct Reporter {
    format: LogFormat,
    quiet: bool,
    tty: bool,
    /// Stages may run at the same time: one bar per running stage, drawn together.
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Reporter {
    /// A reporter for the given flags; bars only when stderr is a terminal.
    pub fn new(format: LogFormat, quiet: bool) -> Self {
        Reporter {
            format,
            quiet,
            tty: std::io::stderr().is_terminal(),
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
        }
    }

    /// One line on stderr, above the bars when they are drawn.
    fn line(&self, text: &str) {
        if self.tty && self.multi.println(text).is_ok() {
            return;
        }
        eprintln!("{text}");
    }

    fn bar(&self, stage: &str) -> Option<ProgressBar> {
        self.bars.lock().ok()?.get(stage).cloned()
    }

    /// Whether `--quiet` was given.
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// The output format.
    pub fn format(&self) -> LogFormat {
        self.format
    }

    fn json(&self, value: serde_json::Value) {
        crate::out!("{value}");
    }

    fn text(&self) -> bool {
        self.format == LogFormat::Text && !self.quiet
    }

    /// A stage starts.
    pub fn start(&self, stage: &str, description: &str) {
        match self.format {
            LogFormat::Json => self.json(json!({"event": "start", "stage": stage})),
            LogFormat::Text if self.quiet => {}
            LogFormat::Text if self.tty => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix:.bold} {msg} [{elapsed}]")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(stage.to_string());
                bar.set_message(description.to_string());
                bar.enable_steady_tick(Duration::from_millis(100));
                if let Ok(mut bars) = self.bars.lock() {
                    bars.insert(stage.to_string(), bar);
                }
            }
            LogFormat::Text => self.line(&format!("==> {stage}: {description}")),
        }
    }

    /// A callback for the bulk loader that shows rows written and rows/s on the stage's bar
    /// (terminal only; `None` otherwise, so non-terminal output stays one line per event).
    pub fn rows_progress(&self, stage: &str, table: &str) -> Option<crate::write::bulk::Progress> {
        let bar = self.bar(stage)?;
        let table = table.to_string();
        let started = std::time::Instant::now();
        let rows = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        Some(std::sync::Arc::new(move |n| {
            let total = rows.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!(
                "{table}: {total} rows, {:.0} rows/s",
                total as f64 / secs
            ));
        }))
    }

    /// Rows of a stage removed because the generator no longer produces them.
    pub fn cleanup(&self, stage: &str, table: &str, deleted: u64) {
        match self.format {
            LogFormat::Json => self.json(
                json!({"event": "cleanup", "stage": stage, "table": table, "deleted": deleted}),
            ),
            // On a terminal too: rows `--prune` deleted must be seen, bars or not.
            LogFormat::Text if self.text() && deleted > 0 => {
                self.line(&format!(
                    "    {stage} {table}: {deleted} stale rows removed"
                ));
            }
            LogFormat::Text => {}
        }
    }

    /// Rows written to one table.
    pub fn insert(&self, stage: &str, table: &str, c: &Counts) {
        match self.format {
            LogFormat::Json => self.json(json!({
                "event": "insert", "stage": stage, "table": table, "rows": c.rows,
                "inserted": c.inserted, "updated": c.updated, "unchanged": c.unchanged,
            })),
            LogFormat::Text if !self.text() => {}
            LogFormat::Text => match self.bar(stage) {
                Some(bar) => bar.set_message(format!("{table}: {} rows", c.rows)),
                // Stages run side by side: without bars every line names its stage, so a
                // log never shows one stage's table under another's heading.
                None => self.line(&format!(
                    "    {stage} {table}: {} rows ({} inserted, {} updated, {} unchanged)",
                    c.rows, c.inserted, c.updated, c.unchanged
                )),
            },
        }
    }

    /// A stage finished (ran, or was skipped as unchanged).
    pub fn complete(&self, stage: &str, status: &str, c: &Counts, millis: u128, fingerprint: &str) {
        self.finish_bar(stage);
        match self.format {
            LogFormat::Json => self.json(json!({
                "event": "complete", "stage": stage, "status": status, "rows": c.rows,
                "inserted": c.inserted, "updated": c.updated, "unchanged": c.unchanged,
                "deleted": c.deleted, "millis": millis, "fingerprint": fingerprint,
            })),
            LogFormat::Text if !self.text() => {}
            LogFormat::Text => self.line(&format!(
                "    {stage} {status}: {} rows, {} inserted, {} updated in {millis} ms (fingerprint {})",
                c.rows,
                c.inserted,
                c.updated,
                short(fingerprint)
            )),
        }
    }

    /// A stage failed or was blocked.
    pub fn error(&self, stage: &str, message: &str) {
        self.finish_bar(stage);
        match self.format {
            LogFormat::Json => {
                self.json(json!({"event": "error", "stage": stage, "message": message}))
            }
            // The error itself is printed once at the end, on stderr.
            LogFormat::Text if self.text() => self.line(&format!("    {stage} failed")),
            LogFormat::Text => {}
        }
    }

    /// A free-form note (migrations applied, files written...).
    pub fn note(&self, message: &str) {
        match self.format {
            LogFormat::Json => self.json(json!({"event": "note", "message": message})),
            LogFormat::Text if self.text() => self.line(message),
            LogFormat::Text => {}
        }
    }

    fn finish_bar(&self, stage: &str) {
        if let Some(bar) = self.bars.lock().ok().and_then(|mut b| b.remove(stage)) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    /// The dataset fingerprint alone, for a run that ran no stage (a restore from a snapshot):
    /// the line (or JSON event) a summary ends with.
    pub fn dataset_fingerprint(&self, dataset_fingerprint: &str) {
        match self.format {
            LogFormat::Json => {
                self.json(json!({"event": "summary", "fingerprint": dataset_fingerprint}))
            }
            LogFormat::Text if self.quiet => {}
            LogFormat::Text => crate::out!("dataset fingerprint: {dataset_fingerprint}"),
        }
    }

    /// The summary table and the dataset fingerprint.
    pub fn summary(&self, rows: &[SummaryRow], dataset_fingerprint: &str) {
        match self.format {
            LogFormat::Json => {
                self.json(json!({"event": "summary", "fingerprint": dataset_fingerprint}))
            }
            LogFormat::Text if self.quiet => {}
            LogFormat::Text => {
                let mut t = Table::new();
                t.load_preset(UTF8_FULL_CONDENSED).set_header([
                    "stage",
                    "status",
                    "rows",
                    "inserted",
                    "updated",
                    "unchanged",
                    "time",
                ]);
                for r in rows {
                    t.add_row([
                        r.stage.clone(),
                        r.status.clone(),
                        r.counts.rows.to_string(),
                        r.counts.inserted.to_string(),
                        r.counts.updated.to_string(),
                        r.counts.unchanged.to_string(),
                        format!("{} ms", r.millis),
                    ]);
                }
                crate::out!("{t}");
                crate::out!("dataset fingerprint: {dataset_fingerprint}");
            }
        }
    }
}

fn short(fp: &str) -> &str {
    fp.get(..12).unwrap_or(fp)
}

/// Writes `args` and a newline to stdout: the policy core's one writer, see
/// [`groundwork_migrate::policy::write_line`].
pub fn write_stdout(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    groundwork_migrate::policy::write_line(args)
}

/// `println!` for seed's stdout: see [`write_stdout`]. Other write errors
/// (a full disk behind a redirect) are ignored here: the output is a report;
/// the one line that matters, the API key, uses [`write_stdout`] directly.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = $crate::feedback::write_stdout(format_args!($($arg)*));
    }};
}
