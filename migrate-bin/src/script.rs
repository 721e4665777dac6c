//! `migrate plan --sql-script FILE`: what `up` would do, as a psql script for teams whose
//! DBAs apply changes by hand — each migration's SQL in the transaction `up` would use, and
//! the same bookkeeping rows `up` writes (diesel's table, our checksums, the audit log), so
//! `migrate status` and `migrate verify` accept the result.
//!
//! The text is a pure function of what the plan saw (tested without a database); the file is
//! created new, private, and never through a symbolic link.

use std::fs::{OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use crate::env::Environment;
use crate::error::MigrateError;
use crate::source::Migration;
use crate::split::split_statements;
use crate::store::{DIESEL_TABLE_DDL, GROUNDWORK_DDL, MIGRATION_LOCK_KEY};

/// Everything the script is made from: the state `plan` read and what `up` would do on it.
pub(crate) struct ScriptInput<'a> {
    pub env: Environment,
    pub database: &'a str,
    /// The applied versions the plan was computed on: the script stops unless they still are.
    pub applied: Vec<String>,
    /// Applied by diesel_cli, without a checksum: `up` records theirs first.
    pub adopt: Vec<&'a Migration>,
    /// Pending migrations, oldest first.
    pub pending: &'a [Migration],
    /// Pending migrations applied out of order with the operator's leave (audited).
    pub out_of_order: Vec<String>,
    pub newest_applied: Option<String>,
    pub lock_timeout: Option<Duration>,
    pub statement_timeout: Option<Duration>,
    pub lock_retries: u32,
}

/// A SQL string literal (standard_conforming_strings is set on by the script).
fn lit(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Refuses SQL that psql would not send as written: a line starting with a backslash is a
/// psql meta-command (`\i`, `\!` …), not SQL.
pub(crate) fn check_psql_safe(pending: &[Migration]) -> Result<(), MigrateError> {
    for m in pending {
        if let Some(n) = m
            .up_sql
            .lines()
            .position(|l| l.trim_start().starts_with('\\'))
        {
            return Err(MigrateError::Refused(format!(
                "migration {} {} has a line starting with a backslash (up.sql line {}), which psql \
                 would run as a meta-command instead of sending it; apply it with `migrate up`",
                m.version,
                m.name,
                n + 1
            )));
        }
    }
    Ok(())
}

/// The script's text.
pub(crate) fn render(input: &ScriptInput<'_>) -> String {
    let env = input.env.as_str();
    let mut s = String::new();
    let mut line = |text: &str| {
        s.push_str(text);
        s.push('\n');
    };
    line(&format!(
        "-- Written by `migrate plan --sql-script` (groundwork migrate {}) for the {env} database {}.",
        env!("CARGO_PKG_VERSION"),
        input.database
    ));
    line("-- Exactly what `migrate up` would do there now. Apply it with:");
    line("--     psql -v ON_ERROR_STOP=1 -f THIS_FILE");
    line("-- It stops before changing anything if the applied migrations or the environment stamp");
    line("-- differ from when it was written, or if another migrate run holds the migration lock.");
    line(&format!(
        "-- Unlike `up`, a statement that hits lock_timeout is not retried (up retries {} time(s)):",
        input.lock_retries
    ));
    line("-- the script stops; a transactional migration is rolled back. Write a new script then:");
    line("-- this one expects the state it was written on. No backup is taken: take one first.");
    line("\\set ON_ERROR_STOP on");
    line("SET standard_conforming_strings = on;");
    line(&format!(
        "DO $gw$ BEGIN IF NOT pg_try_advisory_lock({MIGRATION_LOCK_KEY}) THEN RAISE EXCEPTION \
         'another migrate run holds the migration lock; wait for it and run this script again'; \
         END IF; END $gw$;"
    ));
    if let Some(t) = input.lock_timeout {
        line(&format!("SET lock_timeout = '{}ms';", t.as_millis()));
    }
    if let Some(t) = input.statement_timeout {
        line(&format!("SET statement_timeout = '{}ms';", t.as_millis()));
    }
    line("");
    line(
        "-- Bookkeeping tables as `up` creates them, the check and the audit run: one transaction,",
    );
    line("-- so a failed check leaves the database as it was.");
    line("BEGIN;");
    line(DIESEL_TABLE_DDL);
    line(GROUNDWORK_DDL.trim());
    line(&format!(
        "INSERT INTO groundwork.environment (env) VALUES ({}) ON CONFLICT (singleton) DO NOTHING;",
        lit(env)
    ));
    let mut expected = input.applied.clone();
    expected.sort();
    let array = if expected.is_empty() {
        "ARRAY[]::text[]".to_string()
    } else {
        format!(
            "ARRAY[{}]::text[]",
            expected
                .iter()
                .map(|v| lit(v))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    line("-- The state this script was written on.");
    line(&format!(
        "DO $gw$ BEGIN\n  IF ARRAY(SELECT version::text FROM __diesel_schema_migrations ORDER BY version::text COLLATE \"C\") \
         IS DISTINCT FROM {array} THEN\n    RAISE EXCEPTION 'the applied migrations changed since this script was \
         written; nothing was changed: write a new one with migrate plan --sql-script';\n  END IF;\n  \
         IF (SELECT env FROM groundwork.environment) IS DISTINCT FROM {} THEN\n    RAISE EXCEPTION \
         'this database is not stamped {env}; nothing was changed';\n  END IF;\nEND $gw$;",
        lit(env)
    ));
    line("-- The audit run (`migrate history` lists it as sql-script).");
    line(
        "UPDATE groundwork.audit_runs SET outcome = 'interrupted', error = 'the process ended before \
         finishing (killed or crashed); found by the next run' WHERE outcome = 'running';",
    );
    line(&format!(
        "INSERT INTO groundwork.audit_runs (command, env, binary_version) VALUES ('sql-script', {}, {}) \
         RETURNING id AS gw_run_id \\gset",
        lit(env),
        lit(env!("CARGO_PKG_VERSION"))
    ));
    line("COMMIT;");
    for m in &input.adopt {
        line(&format!(
            "-- {} {} was applied by diesel_cli: record its checksum, as `up` does.",
            m.version, m.name
        ));
        line(&format!(
            "INSERT INTO groundwork.migration_checksums (version, name, checksum, applied_at, duration_ms) \
             SELECT version, {}, {}, run_on AT TIME ZONE current_setting('TimeZone'), NULL \
             FROM __diesel_schema_migrations WHERE version = {} ON CONFLICT (version) DO NOTHING;",
            lit(&m.name),
            lit(&m.checksum),
            lit(&m.version)
        ));
    }
    if let Some(newest) = &input.newest_applied {
        for v in &input.out_of_order {
            let name = input
                .pending
                .iter()
                .find(|m| &m.version == v)
                .map(|m| m.name.as_str())
                .unwrap_or_default();
            line(&format!(
                "INSERT INTO groundwork.audit_migrations (run_id, version, name, action, run_in_transaction, outcome, detail) \
                 VALUES (:gw_run_id, {}, {}, 'out_of_order', true, 'succeeded', {});",
                lit(v),
                lit(name),
                lit(&format!(
                    "--allow-out-of-order: older than the newest applied migration {newest}"
                ))
            ));
        }
    }
    for m in input.pending {
        line("");
        if m.run_in_transaction {
            line(&format!("-- {} {} (in a transaction)", m.version, m.name));
            line("BEGIN;");
            let sql = m.up_sql.trim_end();
            line(sql);
            if !sql.ends_with(';') {
                line(";");
            }
            line(&record(m));
            line("COMMIT;");
        } else {
            line(&format!(
                "-- {} {} (NOT in a transaction: statement by statement, recorded after the last)",
                m.version, m.name
            ));
            for statement in split_statements(&m.up_sql) {
                let statement = statement.trim_end().trim_end_matches(';');
                // After a trailing `-- comment` a semicolon on the same line would be comment.
                let ends_in_comment = statement.lines().last().is_some_and(|l| l.contains("--"));
                line(&format!(
                    "{statement}{}",
                    if ends_in_comment { "\n;" } else { ";" }
                ));
            }
            line(&record(m));
        }
    }
    line("");
    line(
        "UPDATE groundwork.audit_runs SET finished_at = clock_timestamp(), outcome = 'succeeded' \
         WHERE id = :gw_run_id;",
    );
    line(&format!(
        "DO $gw$ BEGIN PERFORM pg_advisory_unlock({MIGRATION_LOCK_KEY}); END $gw$;"
    ));
    s
}

/// The rows `up` writes for an applied migration, in one statement as `up` writes them.
fn record(m: &Migration) -> String {
    format!(
        "WITH diesel AS (INSERT INTO __diesel_schema_migrations (version) VALUES ({v})), \
         checksum AS (INSERT INTO groundwork.migration_checksums (version, name, checksum, applied_at, duration_ms) \
         VALUES ({v}, {n}, {c}, now(), NULL) ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, \
         checksum = EXCLUDED.checksum, applied_at = EXCLUDED.applied_at, duration_ms = EXCLUDED.duration_ms) \
         INSERT INTO groundwork.audit_migrations (run_id, version, name, action, run_in_transaction, outcome, detail) \
         VALUES (:gw_run_id, {v}, {n}, 'apply', {t}, 'succeeded', 'applied by psql from a script of migrate plan --sql-script');",
        v = lit(&m.version),
        n = lit(&m.name),
        c = lit(&m.checksum),
        t = m.run_in_transaction
    )
}

/// Creates `path` new with mode 0600 and writes `text`. An existing file (or a symbolic
/// link, even a dangling one) is refused: the script may be reviewed and signed off, so it
/// is never silently replaced.
pub(crate) fn write_new_private(path: &Path, text: &str) -> Result<(), MigrateError> {
    let fail = |reason: String| MigrateError::ScriptFile {
        path: path.display().to_string(),
        reason,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => fail(
                "something already exists at that path (a file or a symbolic link); the script \
                 is never written over anything: remove it or choose a new name"
                    .into(),
            ),
            _ => fail(format!("{e}; choose a path in a folder you can write")),
        })?;
    file.set_permissions(Permissions::from_mode(0o600))
        .and_then(|()| file.write_all(text.as_bytes()))
        .and_then(|()| file.sync_all())
        .map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(version: &str, tx: bool, sql: &str) -> Migration {
        Migration {
            version: version.into(),
            name: format!("n{version}"),
            up_sql: sql.into(),
            down_sql: None,
            run_in_transaction: tx,
            checksum: format!("sum{version}"),
        }
    }

    fn input<'a>(pending: &'a [Migration]) -> ScriptInput<'a> {
        ScriptInput {
            env: Environment::Prod,
            database: "app",
            applied: vec!["2".into(), "1".into()],
            adopt: Vec::new(),
            pending,
            out_of_order: Vec::new(),
            newest_applied: Some("2".into()),
            lock_timeout: Some(Duration::from_secs(5)),
            statement_timeout: None,
            lock_retries: 3,
        }
    }

    #[test]
    fn transactional_migrations_are_wrapped_and_recorded_inside() {
        let pending = [
            m("3", true, "CREATE TABLE o'k (id int)"),
            m(
                "4",
                false,
                "CREATE INDEX CONCURRENTLY i ON t (a);\nSELECT 1;",
            ),
        ];
        let text = render(&input(&pending));
        let start = text.find("-- 3 n3 (in a transaction)\nBEGIN;\n").unwrap();
        let record3 = text.find("VALUES ('3')").unwrap();
        let commit = start + text[start..].find("COMMIT;").unwrap();
        assert!(start < record3 && record3 < commit, "{text}");
        assert!(text.contains("CREATE TABLE o'k (id int)\n;\n"), "{text}");
        assert!(
            text.contains("CREATE INDEX CONCURRENTLY i ON t (a);\nSELECT 1;\nWITH diesel"),
            "{text}"
        );
        assert!(text.contains("ARRAY['1', '2']::text[]"), "{text}");
        assert!(text.contains("SET lock_timeout = '5000ms';"), "{text}");
        // The bookkeeping prelude and migration 3; migration 4 runs outside a transaction.
        assert_eq!(text.matches("BEGIN;").count(), 2, "{text}");
    }

    #[test]
    fn a_trailing_comment_does_not_swallow_the_semicolon() {
        let pending = [m("5", false, "CREATE INDEX CONCURRENTLY j ON t (b) -- why")];
        let text = render(&input(&pending));
        assert!(text.contains("ON t (b) -- why\n;\nWITH diesel"), "{text}");
    }

    #[test]
    fn quotes_in_names_are_escaped() {
        assert_eq!(lit("it's"), "'it''s'");
    }

    #[test]
    fn backslash_lines_are_refused() {
        assert!(check_psql_safe(&[m("1", true, "SELECT 1;\n\\! rm -rf /\n")]).is_err());
        assert!(check_psql_safe(&[m("1", true, "SELECT 'a\\b';")]).is_ok());
    }
}
