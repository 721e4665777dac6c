//! `migrate lint`: the pending migrations (default; asks the database what is pending),
//! every migration (`--all`) or one VERSION, linted at the config's severities; exit 10 on
//! errors, or on warnings under `--deny warnings`. `--rules` lists the rules.

use crate::cli::{Deny, GlobalArgs};
use crate::config::Config;
use crate::error::MigrateError;
use crate::lint::catalog::Severity;
use crate::lint::report::RulesReport;
use crate::lint::report::TenantLint;
use crate::lint::{self, catalog, report::LintReport, report::MigrationLint, report::RuleLine};
use crate::policy::{Intent, Settings};
use crate::scratch::with_scratch;
use crate::source::{Migration, MigrationSource};
use crate::tenancy;

use super::output::{Output, Report};

/// `migrate lint`'s arguments.
pub(super) struct Args<'a> {
    pub(super) version: Option<&'a str>,
    pub(super) all: bool,
    pub(super) deny: Option<Deny>,
    pub(super) rules: bool,
}

/// Runs `migrate lint` and prints its report. Needs settings (a database) only for the
/// default, pending scope, so `--all`, a VERSION and `--rules` work offline.
pub(super) async fn dispatch(
    global: &GlobalArgs,
    config: &Config,
    args: &Args<'_>,
) -> Result<(), MigrateError> {
    let out = Output {
        json: global.json,
        quiet: global.quiet,
    };
    if args.rules {
        return out.finish(Ok(rules(config)));
    }
    out.finish(run(global, args, config).await)
}

fn rules(config: &Config) -> RulesReport {
    RulesReport {
        config: config.describe(),
        rules: catalog::all_rules()
            .iter()
            .map(|r| RuleLine::new(r, config.severities.of(&r.id)))
            .collect(),
    }
}

async fn run(
    global: &GlobalArgs,
    args: &Args<'_>,
    config: &Config,
) -> Result<LintReport, MigrateError> {
    let source = MigrationSource::from_option(global.migrations_dir.clone());
    let loaded = source.load_for_lint()?;
    let every: Vec<Migration> = loaded.iter().map(|(m, _)| m.clone()).collect();
    let (scope, chosen): (&'static str, Vec<(Migration, String)>) = if args.all {
        ("all", loaded.into_iter().map(with_file).collect())
    } else if let Some(version) = args.version {
        ("version", vec![one(loaded, version, &source)?])
    } else {
        ("pending", pending(global, loaded, &source).await?)
    };
    let migrations = chosen
        .iter()
        .map(|(m, file)| {
            MigrationLint::new(
                &m.version,
                &m.name,
                file.clone(),
                m.run_in_transaction,
                lint::lint_up(m, &config.severities, &config.allows),
            )
        })
        .collect();
    let report = LintReport::new(
        config.describe(),
        scope,
        args.deny == Some(Deny::Warnings),
        migrations,
    );
    let severity = config.severities.of(tenancy::RULE);
    let newest = chosen.last().map(|(m, _)| m.version.clone());
    Ok(match newest {
        Some(through) if severity != Severity::Off => {
            // The schema after the newest linted migration: every migration up to it.
            let upto: Vec<Migration> = every
                .into_iter()
                .take_while(|m| m.version <= through)
                .collect();
            let tenant = tenant_distribution(global, &source, upto, severity, through).await?;
            report.with_tenant_distribution(tenant)
        }
        _ => report,
    })
}

/// The `tenant-distribution` rule: applies `migrations` to a scratch database on the
/// server of DATABASE_URL (or `--scratch-url`) and checks its catalog. Without a server
/// (no URL, or it does not answer) the check is reported as not run, which counts as a
/// warning; any other failure (a migration that does not apply) is the run's error.
async fn tenant_distribution(
    global: &GlobalArgs,
    source: &MigrationSource,
    migrations: Vec<Migration>,
    severity: Severity,
    through: String,
) -> Result<TenantLint, MigrateError> {
    let skipped = |why: String| TenantLint {
        severity,
        through: through.clone(),
        skipped: Some(why),
        findings: Vec::new(),
    };
    let settings = match Settings::resolve(global.database_url.clone(), global.env) {
        Ok(s) => s.with_connect_timeout(global.connect_timeout),
        Err(MigrateError::MissingDatabaseUrl) => {
            return Ok(skipped(
                "it applies the migrations to a scratch database, and no database URL was \
                 given; pass --database-url or set DATABASE_URL (a server where the role may \
                 create databases, or add --scratch-url)"
                    .into(),
            ));
        }
        Err(e) => return Err(e),
    };
    let scratch = super::scratch_url(global)?;
    let desc = source.describe();
    let checked = with_scratch(&settings.conn, scratch.as_ref(), "lint", async |s| {
        s.apply(migrations, &desc).await?;
        let mut conn = s.connect().await?;
        tenancy::check(&mut conn, &tenancy::PROJECT).await
    })
    .await;
    match checked {
        Ok(findings) => Ok(TenantLint {
            severity,
            through,
            skipped: None,
            findings,
        }),
        Err(e @ MigrateError::Unreachable { .. }) => Ok(skipped(e.to_string())),
        Err(e) => Err(e),
    }
}

fn with_file((m, folder): (Migration, std::path::PathBuf)) -> (Migration, String) {
    let file = folder.join("up.sql").display().to_string();
    (m, file)
}

/// The migration VERSION names (written either way diesel accepts: with or without `-`).
fn one(
    loaded: Vec<(Migration, std::path::PathBuf)>,
    version: &str,
    source: &MigrationSource,
) -> Result<(Migration, String), MigrateError> {
    let wanted = version.replace('-', "");
    let known: Vec<String> = loaded.iter().map(|(m, _)| m.version.clone()).collect();
    loaded
        .into_iter()
        .find(|(m, _)| m.version == wanted)
        .map(with_file)
        .ok_or_else(|| MigrateError::UnknownVersion {
            requested: version.to_string(),
            argument: "`migrate lint VERSION`".into(),
            source_desc: source.describe(),
            known,
        })
}

/// The migrations the database has not applied: connects read-only, changes nothing.
async fn pending(
    global: &GlobalArgs,
    loaded: Vec<(Migration, std::path::PathBuf)>,
    source: &MigrationSource,
) -> Result<Vec<(Migration, String)>, MigrateError> {
    let settings = match Settings::resolve(global.database_url.clone(), global.env) {
        Err(MigrateError::MissingDatabaseUrl) => {
            return Err(MigrateError::InvalidArgument(
                "`migrate lint` lints the pending migrations by default, and only the database \
                 knows which are pending, but no database URL was given. Pass --database-url \
                 or set DATABASE_URL (in the environment or .env), or lint without a database: \
                 `migrate lint --all` (every migration) or `migrate lint VERSION`"
                    .into(),
            ));
        }
        other => other?.with_connect_timeout(global.connect_timeout),
    };
    let migrations: Vec<Migration> = loaded.iter().map(|(m, _)| m.clone()).collect();
    let (mut session, _, _) = super::open(
        &settings,
        migrations,
        source,
        global,
        "lint",
        Intent::ReadOnly,
    )
    .await?;
    let pending = session.pending(None).await?;
    Ok(loaded
        .into_iter()
        .filter(|(m, _)| pending.iter().any(|p| p.version == m.version))
        .map(with_file)
        .collect())
}

impl Report for LintReport {
    fn failure(&self) -> Option<MigrateError> {
        self.failure_message().map(MigrateError::LintFailed)
    }
}

impl Report for RulesReport {}
