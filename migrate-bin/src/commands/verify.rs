//! `migrate verify`: applied migrations against the source — drift, database ahead, and
//! leftovers of failed non-transactional migrations. Exits 5 on drift, after the report.
//!
//! `migrate verify --schema`: the live schema against the schema the applied migrations
//! make in a scratch database (hotfixes by hand, INVALID indexes, added enum labels…),
//! printed as DDL. Also exits 5 on drift; the prod gate runs the same check.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Instant;

use serde::Serialize;

use diesel_async::AsyncPgConnection;

use crate::engine::Verification;
use crate::error::MigrateError;
use crate::policy::{ConnInfo, Intent, Standing};
use crate::schema_catalog::{self, Change, Difference};
use crate::scratch::with_scratch;
use crate::source::Migration;
use crate::store;

use super::Ctx;
use super::output::Report;

/// What `verify` found, and how the database stands.
#[derive(Serialize)]
pub(super) struct VerifyReport {
    clean: bool,
    standing: Standing,
    #[serde(flatten)]
    verification: Verification,
    cleanup_hint: Option<String>,
    /// Named in the drift error.
    #[serde(skip)]
    source_desc: String,
}

pub(super) async fn run(ctx: &Ctx<'_>) -> Result<VerifyReport, MigrateError> {
    // Read-only: migrations applied by diesel_cli are reported as unrecorded and
    // recorded by the next `up`, never adopted here.
    let (mut session, _, facts) = ctx.open("verify", Intent::ReadOnly, None).await?;
    let verification = session.verify().await?;
    Ok(VerifyReport {
        clean: verification.is_clean(),
        standing: facts.standing(),
        cleanup_hint: verification.cleanup_hint(),
        verification,
        source_desc: session.source_desc().to_string(),
    })
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = &self.verification;
        writeln!(f, "Environment stamp: {}", self.standing)?;
        write!(f, "{} applied migration(s) match their files", v.ok.len())?;
        for c in &v.changed {
            write!(
                f,
                "\nCHANGED  {} {}: recorded {} but the file now hashes to {}",
                c.version, c.name, c.recorded, c.current
            )?;
        }
        for a in &v.ahead {
            write!(
                f,
                "\nUNKNOWN  {a}: applied in the database but not in this binary (database ahead)"
            )?;
        }
        for u in &v.unrecorded {
            write!(
                f,
                "\nUNRECORDED {u}: applied by diesel_cli, no checksum yet (recorded by the next `up`)"
            )?;
        }
        if let Some(hint) = &self.cleanup_hint {
            write!(f, "\nPARTIAL  {hint}")?;
        }
        if self.clean {
            write!(f, "\nOK: no drift")?;
        }
        Ok(())
    }
}

impl Report for VerifyReport {
    fn failure(&self) -> Option<MigrateError> {
        self.verification.to_error(&self.source_desc)
    }
}

/// `verify --schema`: the live schema against the schema the applied migrations make.
#[derive(Serialize)]
pub(super) struct SchemaReport {
    clean: bool,
    standing: Standing,
    #[serde(flatten)]
    check: SchemaCheck,
}

/// What comparing the live schema with the migrations' schema found.
#[derive(Serialize)]
pub(super) struct SchemaCheck {
    /// The database, redacted.
    database: String,
    /// The newest applied version the expected schema was built up to (none: nothing applied).
    applied_up_to: Option<String>,
    /// How many migrations were applied into the scratch database.
    migrations_applied: usize,
    differences: Vec<Difference>,
    /// Time taken, in milliseconds.
    duration_ms: u64,
}

impl SchemaCheck {
    /// Leaves out the INVALID indexes an interrupted non-transactional migration left
    /// (`qualified` names): `up --repair` deals with those, not the drift check.
    pub(super) fn without_indexes(mut self, qualified: &[String]) -> Self {
        self.differences
            .retain(|d| !(d.kind == "index" && qualified.contains(&d.object)));
        self
    }

    /// Every difference found.
    pub(super) fn differences(&self) -> &[Difference] {
        &self.differences
    }

    /// Whether the live schema is the one the migrations make.
    pub(super) fn is_clean(&self) -> bool {
        self.differences.is_empty()
    }

    /// The drift as an error (exit 5), with `advice` on what to do; none when clean.
    pub(super) fn to_error(&self, advice: &str) -> Option<MigrateError> {
        if self.is_clean() {
            return None;
        }
        const SHOWN: usize = 3;
        let mut summary: Vec<String> = self
            .differences
            .iter()
            .take(SHOWN)
            .map(|d| format!("{} {} {}", change_word(d.change), d.kind, d.object))
            .collect();
        if self.differences.len() > SHOWN {
            summary.push(format!("{} more", self.differences.len() - SHOWN));
        }
        Some(MigrateError::SchemaDrift {
            database: self.database.clone(),
            count: self.differences.len(),
            summary: summary.join(", "),
            advice: advice.to_string(),
        })
    }
}

fn change_word(change: Change) -> &'static str {
    match change {
        Change::Extra => "extra",
        Change::Missing => "missing",
        Change::Different => "different",
    }
}

/// Builds the expected schema (the source's `migrations` that the database at `conn` has
/// applied, in version order, applied into a scratch database on the same server, or into
/// `scratch`) and compares it with the live one. Only reads the target. A database that has
/// migrations the source does not know cannot be rebuilt and is refused as "database ahead".
pub(super) async fn check_schema(
    conn: &mut AsyncPgConnection,
    migrations: &[Migration],
    source_desc: &str,
    target: &ConnInfo,
    scratch: Option<&ConnInfo>,
    purpose: &str,
) -> Result<SchemaCheck, MigrateError> {
    let started = Instant::now();
    let applied = store::load_applied(conn).await?;
    let applied_versions: BTreeSet<&str> = applied.iter().map(|a| a.version.as_str()).collect();
    let known: BTreeSet<&str> = migrations.iter().map(|m| m.version.as_str()).collect();
    let ahead: Vec<String> = applied_versions
        .iter()
        .filter(|v| !known.contains(*v))
        .map(|v| v.to_string())
        .collect();
    if !ahead.is_empty() {
        return Err(MigrateError::DatabaseAhead {
            source_desc: source_desc.to_string(),
            versions: ahead,
        });
    }
    let to_apply: Vec<Migration> = migrations
        .iter()
        .filter(|m| applied_versions.contains(m.version.as_str()))
        .cloned()
        .collect();
    let applied_up_to = to_apply.last().map(|m| m.version.clone());
    let migrations_applied = to_apply.len();
    let actual = schema_catalog::snapshot(conn).await?;
    let expected = with_scratch(target, scratch, purpose, async |s| {
        s.apply(to_apply, source_desc).await?;
        s.catalog().await
    })
    .await?;
    Ok(SchemaCheck {
        database: target.redacted(),
        applied_up_to,
        migrations_applied,
        differences: schema_catalog::diff(&expected, &actual),
        duration_ms: crate::engine::millis(started.elapsed()),
    })
}

pub(super) async fn run_schema(ctx: &Ctx<'_>) -> Result<SchemaReport, MigrateError> {
    let scratch = super::scratch_url(ctx.global)?;
    let (mut session, settings, facts) = ctx.open("verify", Intent::ReadOnly, None).await?;
    let migrations = session.migrations().to_vec();
    let source_desc = session.source_desc().to_string();
    let check = check_schema(
        session.connection(),
        &migrations,
        &source_desc,
        &settings.conn,
        scratch.as_ref(),
        "verify --schema",
    )
    .await?;
    Ok(SchemaReport {
        clean: check.is_clean(),
        standing: facts.standing(),
        check,
    })
}

impl fmt::Display for SchemaCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let expected = match &self.applied_up_to {
            Some(v) => format!(
                "the one the {} applied migration(s) up to {v} make",
                self.migrations_applied
            ),
            None => "an empty schema (no migration is applied)".to_string(),
        };
        if self.is_clean() {
            return write!(
                f,
                "OK: the live schema is {expected} (compared in {:.1} s)",
                self.duration_ms as f64 / 1000.0
            );
        }
        writeln!(
            f,
            "Schema drift: {} difference(s) between the live schema and {expected}.",
            self.differences.len()
        )?;
        writeln!(
            f,
            "+ extra in the database, - missing from it, ~ different; each with the DDL that \
             turns the migrations' schema into the live one:"
        )?;
        for d in &self.differences {
            write!(f, "\n{} {} {}", d.change.sign(), d.kind, d.object)?;
            if !d.detail.is_empty() {
                write!(f, ": {}", d.detail)?;
            }
            for line in d.ddl.lines() {
                write!(f, "\n    {line}")?;
            }
        }
        write!(
            f,
            "\n\nKeep a change: add a migration with its DDL. Undo it: run the reverse by hand. \
             Then run `migrate verify --schema` again."
        )
    }
}

impl fmt::Display for SchemaReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Environment stamp: {}", self.standing)?;
        write!(f, "{}", self.check)
    }
}

impl Report for SchemaReport {
    fn failure(&self) -> Option<MigrateError> {
        self.check
            .to_error("Nothing was changed; `migrate verify --schema` lists each difference as DDL")
    }
}
