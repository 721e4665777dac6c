//! The environments a database can belong to and where a run's named one came from: the
//! small vocabulary the error type, the bookkeeping store and the policy core all speak. It
//! sits below all three (it imports none of them), so none has to reach up for it.

use std::fmt;
use std::str::FromStr;

/// The environment a database belongs to; recorded in the database on its first migration.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// A developer's database.
    #[value(alias = "development")]
    Dev,
    /// A database used by automated tests.
    Test,
    /// A pre-production copy.
    Staging,
    /// Production: every safety guard applies.
    #[value(alias = "production")]
    Prod,
}

impl Environment {
    /// The name stored in the database and printed in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dev => "dev",
            Self::Test => "test",
            Self::Staging => "staging",
            Self::Prod => "prod",
        }
    }

    /// True for environments where databases may be created, reset or filled with demo data.
    pub fn is_disposable(self) -> bool {
        matches!(self, Self::Dev | Self::Test)
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = UnknownEnvironment;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dev" | "development" => Ok(Self::Dev),
            "test" => Ok(Self::Test),
            "staging" => Ok(Self::Staging),
            "prod" | "production" => Ok(Self::Prod),
            other => Err(UnknownEnvironment(other.to_string())),
        }
    }
}

/// A name that is none of the environments; `?` turns it into an invalid-argument error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown environment `{0}`; use one of dev, test, staging, prod (flag --env or APP_ENV)")]
pub struct UnknownEnvironment(pub String);

/// Where the requested environment came from. Only `CommandLine` may stamp an unknown
/// database: a stale `APP_ENV` in a shell or `.env` must not decide what a database is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvSource {
    /// `--env` on the command line.
    CommandLine,
    /// The `APP_ENV` variable (from the environment or `.env`).
    Variable,
    /// Nothing named one.
    #[default]
    Default,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_environment_names_and_aliases() {
        assert_eq!("prod".parse::<Environment>().unwrap(), Environment::Prod);
        assert_eq!(
            "Production".parse::<Environment>().unwrap(),
            Environment::Prod
        );
        assert_eq!(
            "development".parse::<Environment>().unwrap(),
            Environment::Dev
        );
        assert!("qa".parse::<Environment>().is_err());
    }
}
