//! Every rule `migrate lint` knows, with our default severity for each: squawk's rules
//! (mapped to error / warning / off by what they cost *this* project) and our own. The ids
//! are the kebab-case names used in the config file and in allow comments.

use std::collections::BTreeMap;
use std::fmt;

use squawk_linter::Rule;

/// How a rule's findings count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Not checked.
    Off,
    /// Reported; fails the run only under `--deny warnings`.
    Warning,
    /// Reported and fails the run (exit 10); stops a staging/prod `up`.
    Error,
}

impl Severity {
    /// The words the config file accepts.
    pub const ALLOWED: &'static str = "\"error\", \"warning\" or \"off\"";

    /// Parses a config value.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "error" => Some(Self::Error),
            "warning" => Some(Self::Warning),
            "off" => Some(Self::Off),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Off => "off",
            Self::Warning => "warning",
            Self::Error => "error",
        })
    }
}

/// Where a rule is implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// One of squawk-linter's rules.
    Squawk(Rule),
    /// One of ours (see `lint::rules` and `lint::allow`).
    Own(Own),
}

/// Our own rules: what squawk cannot know (metadata.toml, reruns, the catalog, rehearsals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Own {
    /// BEGIN/COMMIT/ROLLBACK/SAVEPOINT… inside a migration the engine already wraps in a
    /// transaction.
    TransactionControlInTransaction,
    /// CONCURRENTLY inside a migration the engine wraps in a transaction (PostgreSQL refuses
    /// it there).
    ConcurrentlyInTransaction,
    /// CREATE INDEX CONCURRENTLY without IF NOT EXISTS, DROP INDEX CONCURRENTLY without
    /// IF EXISTS: a rerun after a kill fails.
    ConcurrentlyNotRerunnable,
    /// An allow comment without a reason.
    AllowWithoutReason,
    /// An allow comment naming an unknown rule, or a `squawk-ignore` comment (which would
    /// silence squawk without a reason).
    InvalidAllow,
    /// Reserved: tenant-owned tables must be distributable by `client_account_id` (a catalog
    /// check on the schema the migrations produce; see `tenancy`).
    TenantDistribution,
    /// Reserved: a `down.sql` that does not undo its `up.sql` (found by `migrate rehearse`).
    DownNotUndo,
}

impl Own {
    /// Every own rule, in the order docs and listings show them.
    pub const ALL: [Own; 7] = [
        Own::TransactionControlInTransaction,
        Own::ConcurrentlyInTransaction,
        Own::ConcurrentlyNotRerunnable,
        Own::AllowWithoutReason,
        Own::InvalidAllow,
        Own::TenantDistribution,
        Own::DownNotUndo,
    ];

    /// The rule's id.
    pub fn id(self) -> &'static str {
        match self {
            Own::TransactionControlInTransaction => "transaction-control-in-transaction",
            Own::ConcurrentlyInTransaction => "concurrently-in-transaction",
            Own::ConcurrentlyNotRerunnable => "concurrently-not-rerunnable",
            Own::AllowWithoutReason => "allow-without-reason",
            Own::InvalidAllow => "invalid-allow",
            Own::TenantDistribution => "tenant-distribution",
            Own::DownNotUndo => "down-not-undo",
        }
    }

    /// Whether the config may change its severity. The allow-comment rules may not: an
    /// allow must always carry a reason, or the audit trail means nothing.
    pub fn configurable(self) -> bool {
        !matches!(self, Own::AllowWithoutReason | Own::InvalidAllow)
    }
}

/// One rule of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    /// The kebab-case id.
    pub id: String,
    /// Who implements it.
    pub origin: Origin,
    /// Its severity when the config says nothing.
    pub default: Severity,
}

impl RuleInfo {
    /// Whether the config may change its severity.
    pub fn configurable(&self) -> bool {
        match self.origin {
            Origin::Squawk(_) => true,
            Origin::Own(own) => own.configurable(),
        }
    }
}

/// Our default for each squawk rule. Errors are what locks or rewrites a table in use, or
/// breaks the running application; warnings are style and deliberate-but-dangerous
/// operations (drops, which belong to the contract phase of expand/contract); off is what
/// does not apply to how our engine runs migrations, or what our own rules do better.
fn squawk_default(rule: Rule) -> Severity {
    use Severity::{Error, Off, Warning};
    match rule {
        // Lock or rewrite a table other sessions use, or fail on existing rows.
        Rule::RequireConcurrentIndexCreation
        | Rule::RequireConcurrentIndexDeletion
        | Rule::ConstraintMissingNotValid
        | Rule::AddingFieldWithDefault
        | Rule::AddingForeignKeyConstraint
        | Rule::ChangingColumnType
        | Rule::AddingNotNullableField
        | Rule::AddingSerialPrimaryKeyField
        | Rule::AddingRequiredField
        | Rule::DisallowedUniqueConstraint
        | Rule::RequireConcurrentPartitionDetach
        | Rule::RequireConcurrentReindex => Error,
        // Break the application version that is still running during a deploy.
        Rule::RenamingColumn | Rule::RenamingTable => Error,
        // Destroy data beyond what the statement names, or never belong in a migration.
        Rule::BanDropDatabase | Rule::BanTruncateCascade => Error,
        // Fail, or do something other than what was written.
        Rule::IdentifierTooLong
        | Rule::BanDuplicateColumnAssignments
        | Rule::BanUncommittedTransaction => Error,
        // Deliberate in a contract migration; reviewers should see them.
        Rule::BanDropColumn
        | Rule::BanDropTable
        | Rule::BanDropNotNull
        | Rule::BanDropView
        | Rule::BanDropFunction
        | Rule::BanDropType
        | Rule::BanDropDefault
        | Rule::BanDropSchema
        | Rule::BanDropSequence
        | Rule::BanDropDomain
        | Rule::BanDropConstraint
        | Rule::BanDropGeneratedExpression
        | Rule::BanDropExtension
        | Rule::RenamingObject
        | Rule::BanSetSchema
        | Rule::BanAlterIdentity
        | Rule::BanCreateDomainWithConstraint
        | Rule::BanAlterDomainWithAddConstraint
        | Rule::RequireEnumValueOrdering
        | Rule::PreferRepack => Warning,
        // Style: types and forms that age badly.
        Rule::PreferBigintOverInt
        | Rule::PreferBigintOverSmallint
        | Rule::PreferIdentity
        | Rule::PreferTextField
        | Rule::PreferTimestampTz
        | Rule::BanCharField => Warning,
        // squawk knows whether a migration runs in a transaction (we tell it, from
        // metadata.toml), so this fires only in non-transactional migrations, where a
        // rerun after a failure must not trip over what already ran.
        Rule::PreferRobustStmts => Warning,
        // The engine sets lock_timeout and statement_timeout on the session itself
        // (--lock-timeout, --statement-timeout; defaults 5s and 1h in staging and prod), so
        // a `SET` in the file is not needed, and would override the operator's flags.
        Rule::RequireLockTimeout | Rule::RequireStatementTimeout => Off,
        // Our own rules read metadata.toml instead of guessing from the file:
        // transaction-control-in-transaction and concurrently-in-transaction.
        Rule::TransactionNesting | Rule::BanConcurrentIndexCreationInTransaction => Off,
        // Opt-in in squawk: they ban ordinary operations (adding columns, policies, enum
        // values…) that only some deployments care about.
        Rule::RequireTableSchema
        | Rule::BanDropTrigger
        | Rule::BanAlterGeneratedExpression
        | Rule::BanDropIndex
        | Rule::BanSetDefault
        | Rule::BanDisableTrigger
        | Rule::BanReplicaIdentity
        | Rule::BanDropPolicy
        | Rule::BanRevoke
        | Rule::BanReplaceViewFunction
        | Rule::BanAlterPolicyCondition
        | Rule::BanAlterPolicyRoles
        | Rule::BanCreatePolicy
        | Rule::BanAlterFunctionOptions
        | Rule::BanAlterViewOptions
        | Rule::BanAlterRoleOptions
        | Rule::BanAlterDatabaseOptions
        | Rule::BanAlterRowLevelSecurity
        | Rule::BanNewWriteRestriction
        | Rule::BanAddEnumValue
        | Rule::BanAddCompositeAttribute
        | Rule::BanAddColumn
        | Rule::BanDetachInheritance
        | Rule::BanAlterSequenceValues
        | Rule::BanAlterSystemOptions
        | Rule::BanAlterExtension => Off,
        // Not rules of their own: an alias of the two timeout rules, and squawk's report
        // of unused `squawk-ignore` comments (we refuse those comments: invalid-allow).
        Rule::RequireTimeoutSettings | Rule::UnusedIgnore => Off,
    }
}

/// Whether a squawk rule is a real rule with its own id in our catalogue (not an alias).
fn listed(rule: Rule) -> bool {
    !matches!(rule, Rule::RequireTimeoutSettings | Rule::UnusedIgnore)
}

fn own_default(own: Own) -> Severity {
    match own {
        // The engine recovers a killed CREATE INDEX CONCURRENTLY without IF NOT EXISTS
        // (`up --repair` drops and rebuilds the index), at the cost of a rebuild; CI's
        // `--deny warnings` still keeps new migrations from relying on it.
        Own::ConcurrentlyNotRerunnable => Severity::Warning,
        Own::TransactionControlInTransaction
        | Own::ConcurrentlyInTransaction
        | Own::AllowWithoutReason
        | Own::InvalidAllow
        | Own::TenantDistribution
        | Own::DownNotUndo => Severity::Error,
    }
}

/// Every rule: squawk's (in squawk's order), then ours.
pub fn all_rules() -> Vec<RuleInfo> {
    let squawk = enum_iterator::all::<Rule>()
        .filter(|r| listed(*r))
        .map(|rule| RuleInfo {
            id: rule.to_string(),
            origin: Origin::Squawk(rule),
            default: squawk_default(rule),
        });
    let own = Own::ALL.into_iter().map(|own| RuleInfo {
        id: own.id().to_string(),
        origin: Origin::Own(own),
        default: own_default(own),
    });
    squawk.chain(own).collect()
}

/// The rule with this id, if any.
pub fn find(id: &str) -> Option<RuleInfo> {
    all_rules().into_iter().find(|r| r.id == id)
}

/// The severity of every rule: the defaults, with the config's overrides applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Severities {
    by_id: BTreeMap<String, Severity>,
}

impl Default for Severities {
    fn default() -> Self {
        Self {
            by_id: all_rules().into_iter().map(|r| (r.id, r.default)).collect(),
        }
    }
}

impl Severities {
    /// Sets one rule's severity (the id is checked by the caller against [`find`]).
    pub fn set(&mut self, id: &str, severity: Severity) {
        self.by_id.insert(id.to_string(), severity);
    }

    /// The severity of a rule id; an id outside the catalogue is off.
    pub fn of(&self, id: &str) -> Severity {
        self.by_id.get(id).copied().unwrap_or(Severity::Off)
    }

    /// The squawk rules to run: every one that is not off.
    pub fn squawk_rules(&self) -> Vec<Rule> {
        all_rules()
            .into_iter()
            .filter_map(|r| match r.origin {
                Origin::Squawk(rule) if self.of(&r.id) != Severity::Off => Some(rule),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_round_trip_through_squawk() {
        let rules = all_rules();
        let mut seen = std::collections::BTreeSet::new();
        for r in &rules {
            assert!(seen.insert(r.id.clone()), "duplicate id {}", r.id);
            assert!(
                r.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{}",
                r.id
            );
            if let Origin::Squawk(rule) = r.origin {
                assert_eq!(Rule::try_from(r.id.as_str()), Ok(rule));
            }
        }
    }

    #[test]
    fn docs_name_every_rule() {
        let docs = include_str!("../../../docs/lint.md");
        for r in all_rules() {
            assert!(
                docs.contains(&format!("`{}`", r.id)),
                "docs/lint.md misses {}",
                r.id
            );
        }
    }

    #[test]
    fn timeout_rules_are_off_and_reserved_rules_are_listed() {
        let s = Severities::default();
        assert_eq!(s.of("require-lock-timeout"), Severity::Off);
        assert_eq!(s.of("require-statement-timeout"), Severity::Off);
        assert_eq!(s.of("require-concurrent-index-creation"), Severity::Error);
        assert!(find("tenant-distribution").is_some());
        assert!(find("down-not-undo").is_some());
        assert!(find("require-timeout-settings").is_none());
        assert!(!s.squawk_rules().contains(&Rule::RequireLockTimeout));
    }
}
