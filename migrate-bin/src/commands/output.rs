//! How commands speak: a report per command, printed once, as JSON (`--json`) or as its one
//! text rendering; progress lines as migrations run; `--quiet`.

use std::fmt::Display;

use serde::Serialize;

use crate::engine::{Done, Event};
use crate::error::{Direction, MigrateError};

// The one stdout writer: a closed pipe (`migrate status | head -1`) is not an error.
use crate::out as say;

/// What a command hands back: `--json` prints its serialisation, text its `Display`
/// (nothing when that is empty, e.g. `up` after per-migration lines said it all).
pub(super) trait Report: Serialize + Display {
    /// The error the command ends with after its report was printed (`verify` on drift).
    fn failure(&self) -> Option<MigrateError> {
        None
    }
}

/// Output options shared by the commands.
pub(super) struct Output {
    pub(super) json: bool,
    pub(super) quiet: bool,
}

impl Output {
    /// Prints a command's outcome: its report, or for a migration that failed with
    /// `--json`, what the run did before the failure (text gets the error's summary).
    pub(super) fn finish<R: Report>(
        &self,
        result: Result<R, MigrateError>,
    ) -> Result<(), MigrateError> {
        let report = match result {
            Ok(report) => report,
            Err(err) => {
                if self.json
                    && let Some(failed) = FailedRun::of(&err)
                {
                    self.json_line(&failed);
                }
                return Err(err);
            }
        };
        if self.json {
            self.json_line(&report);
        } else if !self.quiet {
            let text = report.to_string();
            if !text.is_empty() {
                say!("{text}");
            }
        }
        match report.failure() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Keys come out sorted, as `serde_json::Value` keeps them: the order scripts and
    /// snapshots have always seen.
    fn json_line<T: Serialize>(&self, value: &T) {
        match serde_json::to_value(value) {
            Ok(value) => say!("{value}"),
            Err(e) => tracing::error!(error = %e, "cannot render the report as JSON"),
        }
    }

    /// A line of progress (text only, not with --quiet).
    pub(super) fn info(&self, line: &str) {
        if !self.json && !self.quiet {
            say!("{line}");
        }
    }

    pub(super) fn event(&self, event: Event<'_>) {
        if let Event::Retrying {
            migration,
            attempt,
            of,
            wait,
        } = event
        {
            // Retries matter even with --quiet/--json: they explain a slow run.
            eprintln!(
                "warning: {} {} hit lock_timeout; retrying in {:.1} s (attempt {attempt} of {of})",
                migration.version,
                migration.name,
                wait.as_secs_f64()
            );
            return;
        }
        if self.json || self.quiet {
            return;
        }
        match event {
            Event::Applied {
                migration,
                duration,
            } => {
                say!(
                    "Applied {} {} ({} ms)",
                    migration.version,
                    migration.name,
                    duration.as_millis()
                );
            }
            Event::Reverted {
                migration,
                duration,
            } => {
                say!(
                    "Reverted {} {} ({} ms)",
                    migration.version,
                    migration.name,
                    duration.as_millis()
                );
            }
            Event::Retrying { .. } => {}
        }
    }
}

/// What `up`, `down` and `redo` report: the migrations done, under `key` in JSON (each was
/// already announced by its own line in text, so text only says when there was nothing).
pub(super) struct Ran {
    pub(super) key: &'static str,
    pub(super) done: Vec<Done>,
    pub(super) nothing: &'static str,
}

impl Serialize for Ran {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.key, &self.done)?;
        map.end()
    }
}

impl Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.done.is_empty() {
            f.write_str(self.nothing)?;
        }
        Ok(())
    }
}

impl Report for Ran {}

/// `--json` output of a run that failed part-way: every migration it did first (text
/// summarises them in the error).
#[derive(Serialize)]
struct FailedRun<'a> {
    failed: Failure<'a>,
}

#[derive(Serialize)]
struct Failure<'a> {
    direction: &'static str,
    version: &'a str,
    name: &'a str,
    error: &'a str,
    transactional: bool,
    /// As `version name`, in the order they ran.
    done: &'a [String],
    blocked_by: Option<&'a str>,
}

impl<'a> FailedRun<'a> {
    fn of(err: &'a MigrateError) -> Option<Self> {
        let MigrateError::MigrationFailed {
            direction,
            version,
            name,
            error,
            transactional,
            done,
            blocked_by,
        } = err
        else {
            return None;
        };
        Some(Self {
            failed: Failure {
                direction: match direction {
                    Direction::Up => "up",
                    Direction::Down => "down",
                },
                version,
                name,
                error,
                transactional: *transactional,
                done,
                blocked_by: blocked_by.as_deref(),
            },
        })
    }
}
