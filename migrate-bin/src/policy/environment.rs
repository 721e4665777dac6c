//! The one environment rule of `migrate` and `seed`: which environment a run is in, and
//! whether the database's standing lets it run at all.
//!
//! * A stamped database is the environment of its stamp. Without a command-line `--env` or
//!   `APP_ENV`, a run follows the stamp (so a prod-stamped database gets every prod guard);
//!   a named environment that differs from the stamp is refused.
//! * A database without a stamp that holds nothing (no tables, no applied migrations) is
//!   fresh: the run stamps it with the named environment, or `dev` by default.
//! * A database without a stamp that already holds tables or applied migrations is unknown:
//!   only an `--env` typed on the command line may stamp it (not `APP_ENV`, not the
//!   default), and destructive commands refuse it whatever the flags say.
//! * A database whose stamp is gone but whose audit log shows runs is judged by the strictest
//!   environment in that log: a changing run must name exactly that environment on the
//!   command line, destructive ones are refused.
//! * Read-only commands never refuse and never write; they report what the rule found.

use std::collections::BTreeSet;
use std::fmt;

use diesel::QueryableByName;
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::env::{EnvSource, Environment};
use crate::error::MigrateError;

/// What a command is about to do with the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Reads only (`status`, `plan`, `verify`, `history`, `seed --list`, `seed verify`).
    ReadOnly,
    /// Applies migrations or records bookkeeping (`up`, `setup`, `accept-checksum`).
    Change,
    /// Reverts migrations or replaces data (`down`, `redo`, `seed reset`, `seed --stage`).
    Destroy,
}

/// What the database says about its environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The stamp in `groundwork.environment`.
    pub stamp: Option<Environment>,
    /// Tables or views outside the bookkeeping schemas, or rows in diesel's table.
    pub has_content: bool,
    /// Environments named by runs in the audit log (`groundwork.audit_runs.env`).
    pub audited: BTreeSet<Environment>,
}

/// The environment a run asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requested {
    /// The environment (`dev` when nothing named one).
    pub env: Environment,
    /// Where it came from.
    pub source: EnvSource,
}

impl Requested {
    /// Nothing named an environment.
    pub const DEFAULT: Self = Self {
        env: Environment::Dev,
        source: EnvSource::Default,
    };

    /// What a run asks for: the `--env` flag, else `APP_ENV` (from the environment or
    /// `.env`), else nothing. Both binaries read it here so the source is told apart the
    /// same way.
    pub fn from_flag_or_env(flag: Option<Environment>) -> Result<Self, MigrateError> {
        if let Some(env) = flag {
            return Ok(Self {
                env,
                source: EnvSource::CommandLine,
            });
        }
        match std::env::var("APP_ENV") {
            Ok(value) if !value.trim().is_empty() => Ok(Self {
                env: value.parse()?,
                source: EnvSource::Variable,
            }),
            _ => Ok(Self::DEFAULT),
        }
    }

    fn named(self) -> Option<Environment> {
        (self.source != EnvSource::Default).then_some(self.env)
    }
}

/// How the database stands, as the rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "standing", content = "env")]
pub enum Standing {
    /// Stamped with this environment.
    Stamped(Environment),
    /// No stamp and nothing in it.
    Fresh,
    /// No stamp, but tables or applied migrations.
    Unknown,
    /// No stamp, but the audit log shows runs; the strictest environment they named.
    StampLost(Environment),
}

impl fmt::Display for Standing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stamped(env) => write!(f, "{env}"),
            Self::Fresh => f.write_str("(none yet: empty database)"),
            Self::Unknown => {
                f.write_str("UNKNOWN (no stamp, but the database holds tables or migrations)")
            }
            Self::StampLost(env) => write!(
                f,
                "UNKNOWN (stamp missing; the audit log shows runs in {env})"
            ),
        }
    }
}

impl Facts {
    /// The database's standing.
    pub fn standing(&self) -> Standing {
        match (self.stamp, self.audited.iter().next_back()) {
            (Some(env), _) => Standing::Stamped(env),
            (None, Some(strictest)) => Standing::StampLost(*strictest),
            (None, None) if self.has_content => Standing::Unknown,
            (None, None) => Standing::Fresh,
        }
    }
}

/// The outcome of the rule for a run that may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The environment the run is in: its guards, and the stamp a changing run writes.
    pub env: Environment,
    /// True when the database has no stamp yet, so a changing run writes `env` as its stamp.
    pub stamps: bool,
}

/// The rule itself: pure, so every combination is tested in one table.
pub fn decide(
    facts: &Facts,
    requested: Requested,
    intent: Intent,
) -> Result<Decision, MigrateError> {
    let standing = facts.standing();
    if intent == Intent::ReadOnly {
        let env = match standing {
            Standing::Stamped(env) | Standing::StampLost(env) => env,
            Standing::Fresh | Standing::Unknown => requested.env,
        };
        return Ok(Decision { env, stamps: false });
    }
    match standing {
        Standing::Stamped(stamped) => match requested.named() {
            Some(named) if named != stamped => Err(MigrateError::EnvironmentMismatch {
                stamped,
                requested: named,
            }),
            _ => Ok(Decision {
                env: stamped,
                stamps: false,
            }),
        },
        Standing::Fresh => Ok(Decision {
            env: requested.env,
            stamps: true,
        }),
        Standing::Unknown => {
            if intent == Intent::Change && requested.source == EnvSource::CommandLine {
                Ok(Decision {
                    env: requested.env,
                    stamps: true,
                })
            } else {
                Err(MigrateError::UnknownEnvironment {
                    destructive: intent == Intent::Destroy,
                    requested: requested.named(),
                    env_source: requested.source,
                })
            }
        }
        Standing::StampLost(strictest) => {
            let matches = requested.source == EnvSource::CommandLine && requested.env == strictest;
            if intent == Intent::Change && matches {
                Ok(Decision {
                    env: strictest,
                    stamps: true,
                })
            } else {
                Err(MigrateError::StampMissing {
                    strictest,
                    seen: facts.audited.iter().map(|e| e.to_string()).collect(),
                    requested: requested.named(),
                    destructive: intent == Intent::Destroy,
                })
            }
        }
    }
}

#[derive(QueryableByName)]
struct FactsRow {
    #[diesel(sql_type = Bool)]
    has_tables: bool,
    #[diesel(sql_type = Bool)]
    has_diesel: bool,
    #[diesel(sql_type = Bool)]
    has_audit: bool,
}

#[derive(QueryableByName)]
struct EnvRow {
    #[diesel(sql_type = Text)]
    env: String,
}

#[derive(QueryableByName)]
struct Any {
    #[diesel(sql_type = Bool)]
    any: bool,
}

/// Reads the facts the rule needs. Read-only.
pub async fn read_facts(conn: &mut AsyncPgConnection) -> Result<Facts, MigrateError> {
    let ctx = "reading the environment of the database";
    // Bookkeeping schemas and diesel's own table do not make a database "hold" anything.
    let row: FactsRow = diesel::sql_query(
        "SELECT \
           EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') \
                     AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'groundwork') \
                     AND n.nspname NOT LIKE 'pg\\_%' \
                     AND c.relname <> '__diesel_schema_migrations') AS has_tables, \
           to_regclass('__diesel_schema_migrations') IS NOT NULL AS has_diesel, \
           to_regclass('groundwork.audit_runs') IS NOT NULL AS has_audit",
    )
    .get_result(conn)
    .await
    .map_err(|e| MigrateError::db(ctx, &e))?;
    let stamp = crate::store::read_stamp(conn).await?;
    let mut has_content = row.has_tables;
    if !has_content && row.has_diesel {
        let any: Any =
            diesel::sql_query("SELECT EXISTS (SELECT 1 FROM __diesel_schema_migrations) AS any")
                .get_result(conn)
                .await
                .map_err(|e| MigrateError::db(ctx, &e))?;
        has_content = any.any;
    }
    let mut audited = BTreeSet::new();
    if row.has_audit {
        let rows: Vec<EnvRow> = diesel::sql_query("SELECT DISTINCT env FROM groundwork.audit_runs")
            .load(conn)
            .await
            .map_err(|e| MigrateError::db(ctx, &e))?;
        // An env the binary does not know cannot be ranked; it still shows in `history`.
        audited.extend(
            rows.iter()
                .filter_map(|r| r.env.parse::<Environment>().ok()),
        );
    }
    Ok(Facts {
        stamp,
        has_content,
        audited,
    })
}

/// Reads the facts and applies the rule.
pub async fn resolve(
    conn: &mut AsyncPgConnection,
    requested: Requested,
    intent: Intent,
) -> Result<(Decision, Facts), MigrateError> {
    let facts = read_facts(conn).await?;
    let decision = decide(&facts, requested, intent)?;
    Ok((decision, facts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::exit::{Code, ExitStatus};
    use Environment::{Dev, Prod, Staging, Test};

    fn facts(stamp: Option<Environment>, has_content: bool, audited: &[Environment]) -> Facts {
        Facts {
            stamp,
            has_content,
            audited: audited.iter().copied().collect(),
        }
    }

    fn req(env: Environment, source: EnvSource) -> Requested {
        Requested { env, source }
    }

    const CLI: EnvSource = EnvSource::CommandLine;
    const VAR: EnvSource = EnvSource::Variable;
    const DEF: EnvSource = EnvSource::Default;

    /// `Ok(env, stamps)` or `Err(exit-4 refusal)`.
    type Outcome = Result<(Environment, bool), ()>;

    #[test]
    fn the_rule_table() {
        use Intent::{Change, Destroy, ReadOnly};
        let fresh = facts(None, false, &[]);
        let unknown = facts(None, true, &[]);
        let staging = facts(Some(Staging), true, &[Staging]);
        let prod = facts(Some(Prod), true, &[Prod]);
        let lost = facts(None, true, &[Dev, Prod]);
        let cases: Vec<(&str, &Facts, Requested, Intent, Outcome)> = vec![
            // A fresh database is stamped by whatever names it, the default included.
            (
                "fresh default",
                &fresh,
                Requested::DEFAULT,
                Change,
                Ok((Dev, true)),
            ),
            (
                "fresh APP_ENV",
                &fresh,
                req(Test, VAR),
                Change,
                Ok((Test, true)),
            ),
            (
                "fresh --env",
                &fresh,
                req(Prod, CLI),
                Change,
                Ok((Prod, true)),
            ),
            (
                "fresh destroy",
                &fresh,
                Requested::DEFAULT,
                Destroy,
                Ok((Dev, true)),
            ),
            // A stamped database: the default follows the stamp, a named env must match.
            (
                "stamp default",
                &staging,
                Requested::DEFAULT,
                Change,
                Ok((Staging, false)),
            ),
            (
                "stamp default destroy",
                &prod,
                req(Dev, DEF),
                Destroy,
                Ok((Prod, false)),
            ),
            (
                "stamp match",
                &staging,
                req(Staging, CLI),
                Change,
                Ok((Staging, false)),
            ),
            (
                "stamp mismatch --env",
                &staging,
                req(Dev, CLI),
                Change,
                Err(()),
            ),
            (
                "stamp mismatch APP_ENV",
                &prod,
                req(Dev, VAR),
                Destroy,
                Err(()),
            ),
            (
                "stamp mismatch read",
                &prod,
                req(Dev, CLI),
                ReadOnly,
                Ok((Prod, false)),
            ),
            // Unknown: only a command-line --env stamps it; destructive runs refuse it.
            (
                "unknown default",
                &unknown,
                Requested::DEFAULT,
                Change,
                Err(()),
            ),
            ("unknown APP_ENV", &unknown, req(Dev, VAR), Change, Err(())),
            (
                "unknown --env",
                &unknown,
                req(Staging, CLI),
                Change,
                Ok((Staging, true)),
            ),
            ("unknown destroy", &unknown, req(Dev, CLI), Destroy, Err(())),
            (
                "unknown read",
                &unknown,
                Requested::DEFAULT,
                ReadOnly,
                Ok((Dev, false)),
            ),
            // Stamp lost, audit log shows dev and prod: prod wins.
            ("lost default", &lost, Requested::DEFAULT, Change, Err(())),
            ("lost --env dev", &lost, req(Dev, CLI), Change, Err(())),
            ("lost APP_ENV prod", &lost, req(Prod, VAR), Change, Err(())),
            (
                "lost --env prod",
                &lost,
                req(Prod, CLI),
                Change,
                Ok((Prod, true)),
            ),
            ("lost destroy", &lost, req(Prod, CLI), Destroy, Err(())),
            (
                "lost read",
                &lost,
                Requested::DEFAULT,
                ReadOnly,
                Ok((Prod, false)),
            ),
        ];
        for (name, f, r, intent, expected) in cases {
            let got = decide(f, r, intent);
            let got_outcome: Outcome = match &got {
                Ok(d) => Ok((d.env, d.stamps)),
                Err(e) => {
                    assert_eq!(e.exit_code(), Code::Refused, "{name}: {e}");
                    Err(())
                }
            };
            assert_eq!(got_outcome, expected, "case `{name}`: {got:?}");
        }
    }

    #[test]
    fn refusals_say_how_to_stamp_and_that_nothing_changed() {
        let unknown = facts(None, true, &[]);
        let msg = decide(&unknown, req(Dev, VAR), Intent::Change)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("--env"), "{msg}");
        assert!(msg.contains("APP_ENV"), "{msg}");
        assert!(msg.contains("Nothing was changed"), "{msg}");
        let msg = decide(&unknown, req(Dev, CLI), Intent::Destroy)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("migrate --env ENV up"), "{msg}");
        let lost = facts(None, true, &[Dev, Prod]);
        let msg = decide(&lost, Requested::DEFAULT, Intent::Change)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("dev, prod") && msg.contains("--env prod"),
            "{msg}"
        );
    }
}
