//! Runs squawk-linter's rules that are not off, and turns its violations into ours.

use squawk_linter::Linter;
use squawk_syntax::{Parse, SourceFile};

use super::Raw;
use super::catalog::Severities;

/// squawk's findings in `sql`. `in_transaction` tells squawk what metadata.toml says, so
/// rules that depend on it (tables created earlier in the same transaction, robust
/// statements) judge the file as the engine will run it.
pub(super) fn check(
    parse: &Parse<SourceFile>,
    sql: &str,
    in_transaction: bool,
    severities: &Severities,
) -> Vec<Raw> {
    let mut linter = Linter::from(severities.squawk_rules());
    linter.settings.assume_in_transaction = in_transaction;
    linter
        .lint(parse, sql)
        .into_iter()
        .map(|v| Raw {
            rule: v.code.to_string(),
            range: usize::from(v.text_range.start())..usize::from(v.text_range.end()),
            message: v.message,
            // Some rules only carry a suggested edit; its title still says what to do.
            help: v.help.or_else(|| v.fix.map(|f| f.title)),
        })
        .collect()
}
