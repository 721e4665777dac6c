//! Resolved settings: which database, and which environment the operator says it is.

use std::fmt;
use std::str::FromStr;

use crate::error::MigrateError;

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
    type Err = MigrateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dev" | "development" => Ok(Self::Dev),
            "test" => Ok(Self::Test),
            "staging" => Ok(Self::Staging),
            "prod" | "production" => Ok(Self::Prod),
            other => Err(MigrateError::InvalidArgument(format!(
                "unknown environment `{other}`; use one of dev, test, staging, prod (flag --env or APP_ENV)"
            ))),
        }
    }
}

/// Where to connect and which environment the run claims to be.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// The database URL (may hold a password: print it only through [`crate::redact`]).
    pub database_url: String,
    /// The environment named by `--env` / `APP_ENV` (default dev).
    pub env: Environment,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &crate::redact(&self.database_url))
            .field("env", &self.env)
            .finish()
    }
}

impl Settings {
    /// Resolves settings with the project's precedence: the given values (from flags) first,
    /// then the `DATABASE_URL` / `APP_ENV` environment variables (which include `./.env` or
    /// `--env-file`: both binaries load it at start, see [`crate::dotenv`]).
    pub fn resolve(
        database_url: Option<String>,
        env: Option<Environment>,
    ) -> Result<Self, MigrateError> {
        let database_url = match database_url {
            Some(url) => url,
            None => std::env::var("DATABASE_URL").map_err(|_| MigrateError::MissingDatabaseUrl)?,
        };
        if database_url.trim().is_empty() {
            return Err(MigrateError::MissingDatabaseUrl);
        }
        let env = match env {
            Some(env) => env,
            None => match std::env::var("APP_ENV") {
                Ok(value) if !value.trim().is_empty() => value.parse()?,
                _ => Environment::Dev,
            },
        };
        Ok(Self { database_url, env })
    }
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

    #[test]
    fn debug_output_hides_password() {
        let s = Settings {
            database_url: "postgres://u:pw@h/d".into(),
            env: Environment::Dev,
        };
        assert!(!format!("{s:?}").contains("pw@"));
    }
}
