//! The project's checked-in `migrate` config (`migrate.toml`): the severity of each lint
//! rule, allows for findings in migrations that can no longer be edited, and the rehearsal
//! thresholds.
//!
//! Found as: `--config PATH` (or `MIGRATE_CONFIG`), which must exist; else `./migrate.toml`
//! in the current folder when present; else the repository's `migrate.toml` as it was when
//! the binary was built (it ships with the embedded migrations it speaks about, so ops get
//! the project's severities and accepted findings wherever they run `migrate`). Every key is
//! checked: an unknown rule, section or key, or a bad value, is exit 2 naming the file, the
//! key and what is allowed, so a typo never silently turns a rule off.
//!
//! ```toml
//! [lint.rules]
//! prefer-robust-stmts = "error"          # "error", "warning" or "off"
//!
//! [[lint.allow]]                         # a finding in an applied migration, accepted
//! migration = "20260209090000"
//! rule = "concurrently-not-rerunnable"
//! reason = "why this is fine"
//!
//! [rehearse]
//! max_lock = "2s"                        # humantime: 500ms, 2s, 1m
//! max_rewrite_rows = 100000
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::MigrateError;
use crate::lint::allow::ConfigAllow;
use crate::lint::catalog::{self, Severities, Severity};

/// The file looked for in the current folder when `--config` is not given.
pub const DEFAULT_FILE: &str = "migrate.toml";

/// The repository's config, built in: the fallback when no file is given or found.
const BUILT_IN: &str = include_str!("../../migrate.toml");

/// How errors and reports name [`BUILT_IN`].
const BUILT_IN_NAME: &str = "migrate.toml (built into this binary)";

/// The loaded config (defaults where the file says nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The file it came from; `None` for the built-in config (or the rules' defaults).
    pub path: Option<PathBuf>,
    /// The severity of every lint rule.
    pub severities: Severities,
    /// Findings accepted for whole migrations (`[[lint.allow]]`).
    pub allows: Vec<ConfigAllow>,
    /// Thresholds for `migrate rehearse`.
    pub rehearse: RehearseConfig,
}

/// `[rehearse]`: findings of `migrate rehearse` beyond these fail it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RehearseConfig {
    /// Longest acceptable time a statement may hold a lock that blocks others.
    pub max_lock: Option<Duration>,
    /// Most rows a table rewrite may touch.
    pub max_rewrite_rows: Option<u64>,
}

impl Config {
    /// Loads `explicit` (which must exist), else `./migrate.toml` if present, else the
    /// built-in config.
    pub fn load(explicit: Option<&Path>) -> Result<Config, MigrateError> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let default = PathBuf::from(DEFAULT_FILE);
                if !default.exists() {
                    let mut config = Config::parse(Path::new(BUILT_IN_NAME), BUILT_IN)?;
                    config.path = None;
                    return Ok(config);
                }
                default
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|e| MigrateError::BadConfig {
            path: path.clone(),
            key: None,
            reason: format!(
                "cannot read it: {e}. Pass an existing file with --config, or leave --config \
                 out to use ./{DEFAULT_FILE} (or, without one, the migrate.toml built into \
                 this binary)"
            ),
        })?;
        Config::parse(&path, &text)
    }

    /// How reports name where the config came from.
    pub fn describe(&self) -> String {
        self.path
            .as_deref()
            .map_or(BUILT_IN_NAME.to_string(), |p| p.display().to_string())
    }

    /// Parses the text of the file at `path` (named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Config, MigrateError> {
        let bad = |key: &str, reason: String| MigrateError::BadConfig {
            path: path.to_path_buf(),
            key: (!key.is_empty()).then(|| key.to_string()),
            reason,
        };
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| bad("", format!("not valid TOML: {}", e.message())))?;
        let mut config = Config {
            path: Some(path.to_path_buf()),
            ..Config::default()
        };
        for (section, value) in &table {
            match section.as_str() {
                "lint" => parse_lint(value, &mut config, &bad)?,
                "rehearse" => config.rehearse = parse_rehearse(value, &bad)?,
                other => {
                    return Err(bad(
                        other,
                        "unknown section; the sections are [lint] and [rehearse]".into(),
                    ));
                }
            }
        }
        Ok(config)
    }
}

type Bad<'a> = dyn Fn(&str, String) -> MigrateError + 'a;

fn parse_lint(value: &toml::Value, config: &mut Config, bad: &Bad) -> Result<(), MigrateError> {
    let table = value
        .as_table()
        .ok_or_else(|| bad("lint", "must be a table ([lint])".into()))?;
    for (key, value) in table {
        match key.as_str() {
            "rules" => parse_rules(value, &mut config.severities, bad)?,
            "allow" => config.allows = parse_allows(value, bad)?,
            other => {
                return Err(bad(
                    &format!("lint.{other}"),
                    "unknown key; [lint] holds `rules` (a table of rule = severity) and `allow` \
                     ([[lint.allow]] entries)"
                        .into(),
                ));
            }
        }
    }
    Ok(())
}

fn parse_rules(
    value: &toml::Value,
    severities: &mut Severities,
    bad: &Bad,
) -> Result<(), MigrateError> {
    let table = value
        .as_table()
        .ok_or_else(|| bad("lint.rules", "must be a table ([lint.rules])".into()))?;
    for (id, value) in table {
        let key = format!("lint.rules.{id}");
        let Some(info) = catalog::find(id) else {
            return Err(bad(&key, unknown_rule(id)));
        };
        let severity = value.as_str().and_then(Severity::parse).ok_or_else(|| {
            bad(
                &key,
                format!("`{value}` is not a severity; use {}", Severity::ALLOWED),
            )
        })?;
        if !info.configurable() && severity != info.default {
            return Err(bad(
                &key,
                format!(
                    "this rule is always `{}`: an allow comment must carry a reason; remove \
                     the line",
                    info.default
                ),
            ));
        }
        severities.set(id, severity);
    }
    Ok(())
}

fn parse_allows(value: &toml::Value, bad: &Bad) -> Result<Vec<ConfigAllow>, MigrateError> {
    let entries = value.as_array().ok_or_else(|| {
        bad(
            "lint.allow",
            "must be a list of [[lint.allow]] entries with migration, rule and reason".into(),
        )
    })?;
    let mut allows = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("lint.allow[{i}]");
        let table = entry.as_table().ok_or_else(|| {
            bad(
                &at,
                "must be a table with migration, rule and reason".into(),
            )
        })?;
        let field = |name: &str| -> Result<String, MigrateError> {
            match table.get(name).map(|v| v.as_str()) {
                Some(Some(text)) if !text.trim().is_empty() => Ok(text.trim().to_string()),
                _ => Err(bad(
                    &format!("{at}.{name}"),
                    "missing or empty; every [[lint.allow]] entry needs migration (a \
                     version), rule (a rule id) and reason (why the finding is acceptable), \
                     each a non-empty string"
                        .into(),
                )),
            }
        };
        let allow = ConfigAllow {
            migration: field("migration")?,
            rule: field("rule")?,
            reason: field("reason")?,
        };
        if let Some(other) = table
            .keys()
            .find(|k| !["migration", "rule", "reason"].contains(&k.as_str()))
        {
            return Err(bad(
                &format!("{at}.{other}"),
                "unknown key; the keys are migration, rule and reason".into(),
            ));
        }
        if catalog::find(&allow.rule).is_none() {
            return Err(bad(&format!("{at}.rule"), unknown_rule(&allow.rule)));
        }
        allows.push(allow);
    }
    Ok(allows)
}

fn parse_rehearse(value: &toml::Value, bad: &Bad) -> Result<RehearseConfig, MigrateError> {
    let table = value
        .as_table()
        .ok_or_else(|| bad("rehearse", "must be a table ([rehearse])".into()))?;
    let mut rehearse = RehearseConfig::default();
    for (key, value) in table {
        match key.as_str() {
            "max_lock" => {
                let parsed = value
                    .as_str()
                    .and_then(|text| humantime::parse_duration(text.trim()).ok());
                rehearse.max_lock = Some(parsed.ok_or_else(|| {
                    bad(
                        "rehearse.max_lock",
                        format!("`{value}` is not a duration; use a string such as \"2s\", \"1m30s\" or \"5m\""),
                    )
                })?);
            }
            "max_rewrite_rows" => {
                let parsed = value.as_integer().and_then(|n| u64::try_from(n).ok());
                rehearse.max_rewrite_rows = Some(parsed.ok_or_else(|| {
                    bad(
                        "rehearse.max_rewrite_rows",
                        format!("`{value}` is not a row count; use a whole number, 0 or more (e.g. 100000)"),
                    )
                })?);
            }
            other => {
                return Err(bad(
                    &format!("rehearse.{other}"),
                    "unknown key; [rehearse] holds max_lock (a duration) and max_rewrite_rows \
                     (a number)"
                        .into(),
                ));
            }
        }
    }
    Ok(rehearse)
}

fn unknown_rule(id: &str) -> String {
    let mut near: Vec<(usize, String)> = catalog::all_rules()
        .into_iter()
        .map(|r| (edit_distance(&r.id, id), r.id))
        .filter(|(distance, _)| *distance <= 2)
        .collect();
    near.sort();
    let near: Vec<String> = near
        .into_iter()
        .take(3)
        .map(|(_, known)| format!("`{known}`"))
        .collect();
    let hint = if near.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", near.join(", "))
    };
    format!("unknown rule `{id}`{hint}; `migrate lint --rules` lists every rule id (docs/lint.md)")
}

/// Levenshtein distance, for "did you mean" on a mistyped rule id.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("migrate.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn overrides_allows_and_rehearse_thresholds_parse() {
        let config = parse(
            r#"
            [lint.rules]
            prefer-robust-stmts = "error"
            require-concurrent-index-creation = "off"
            tenant-distribution = "warning"

            [[lint.allow]]
            migration = "20260209090000"
            rule = "concurrently-not-rerunnable"
            reason = "applied before the rule"

            [rehearse]
            max_lock = "2s"
            max_rewrite_rows = 100000
            "#,
        )
        .expect("valid");
        assert_eq!(config.severities.of("prefer-robust-stmts"), Severity::Error);
        assert_eq!(
            config.severities.of("require-concurrent-index-creation"),
            Severity::Off
        );
        assert_eq!(
            config.severities.of("tenant-distribution"),
            Severity::Warning
        );
        assert_eq!(config.allows.len(), 1);
        assert_eq!(config.rehearse.max_lock, Some(Duration::from_secs(2)));
        assert_eq!(config.rehearse.max_rewrite_rows, Some(100_000));
    }

    #[test]
    fn every_mistake_names_file_key_and_what_is_allowed() {
        let cases = [
            (
                "[lint.rules]\nban-drop-tabel = \"off\"",
                "lint.rules.ban-drop-tabel",
                "did you mean `ban-drop-table`?",
            ),
            (
                "[lint.rules]\nno-such-rule = \"error\"",
                "lint.rules.no-such-rule",
                "unknown rule",
            ),
            (
                "[lint.rules]\nban-drop-table = \"fatal\"",
                "lint.rules.ban-drop-table",
                "\"error\", \"warning\" or \"off\"",
            ),
            (
                "[lint.rules]\nallow-without-reason = \"off\"",
                "lint.rules.allow-without-reason",
                "always",
            ),
            (
                "[rehearse]\nmax_lock = \"soon\"",
                "rehearse.max_lock",
                "\"2s\"",
            ),
            (
                "[rehearse]\nmax_rewrite_rows = -1",
                "rehearse.max_rewrite_rows",
                "whole number",
            ),
            (
                "[rehearse]\nmax_locks = \"1s\"",
                "rehearse.max_locks",
                "max_lock",
            ),
            ("[lints]\n", "lints", "[lint] and [rehearse]"),
            (
                "[[lint.allow]]\nmigration = \"1\"\nrule = \"ban-drop-table\"",
                "lint.allow[0].reason",
                "reason",
            ),
            (
                "[[lint.allow]]\nmigration = \"1\"\nrule = \"nope\"\nreason = \"x\"",
                "lint.allow[0].rule",
                "unknown rule",
            ),
            ("lint = [", "migrate.toml", "not valid TOML"),
        ];
        for (text, key, allowed) in cases {
            let err = parse(text).expect_err(text);
            assert!(err.contains("migrate.toml"), "{text}: {err}");
            assert!(err.contains(key), "{text}: {err}");
            assert!(err.contains(allowed), "{text}: {err}");
        }
    }

    #[test]
    fn the_built_in_config_is_valid_and_turns_the_timeout_rules_off() {
        let config = parse(BUILT_IN).expect("the repository's migrate.toml parses");
        assert_eq!(config.severities.of("require-lock-timeout"), Severity::Off);
        assert!(!config.allows.is_empty());
        assert!(config.rehearse.max_lock.is_some());
    }

    #[test]
    fn a_missing_explicit_file_is_an_error() {
        let err =
            Config::load(Some(Path::new("/nonexistent/migrate.toml"))).expect_err("missing file");
        assert!(err.to_string().contains("/nonexistent/migrate.toml"));
    }
}
