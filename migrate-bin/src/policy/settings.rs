//! Resolved settings: which database, and which environment the operator says it is.

use std::fmt;
use std::str::FromStr;

use super::target::ConnInfo;
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

/// Where to connect and which environment the run claims to be. Built once per run; new
/// settings go in as fields with a default in [`Settings::new`].
#[derive(Clone, Debug)]
pub struct Settings {
    /// The parsed connection settings (their `Display` and `Debug` never show the password).
    pub conn: ConnInfo,
    /// The environment named by `--env` / `APP_ENV` (default dev).
    pub env: Environment,
    /// Where `env` came from: only `--env` on the command line may stamp an unknown
    /// database (see [`crate::environment`]).
    pub env_source: super::environment::EnvSource,
}

impl Settings {
    /// Settings for an already parsed connection.
    pub fn new(
        conn: ConnInfo,
        env: Environment,
        env_source: super::environment::EnvSource,
    ) -> Self {
        Self {
            conn,
            env,
            env_source,
        }
    }

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
        let conn = ConnInfo::parse(&database_url)?;
        let requested = super::environment::Requested::from_flag_or_env(env)?;
        Ok(Self::new(conn, requested.env, requested.source))
    }

    /// The same settings with the connect timeout of `--connect-timeout` /
    /// `DATABASE_CONNECT_TIMEOUT` (see [`ConnInfo::with_connect_timeout`] for the precedence).
    pub fn with_connect_timeout(mut self, timeout: Option<std::time::Duration>) -> Self {
        self.conn = self.conn.with_connect_timeout(timeout);
        self
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
        let s =
            Settings::resolve(Some("postgres://u:pw@h/d".into()), Some(Environment::Dev)).unwrap();
        assert!(!format!("{s:?}").contains("pw"), "{s:?}");
        let s = Settings::resolve(
            Some("host=h password = 'p w'".into()),
            Some(Environment::Dev),
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("p w"), "{s:?}");
    }
}
