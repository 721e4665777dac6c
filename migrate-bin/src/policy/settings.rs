//! Resolved settings: which database, and which environment the operator says it is.

use super::target::ConnInfo;
use crate::env::{EnvSource, Environment};
use crate::error::MigrateError;

/// Where to connect and which environment the run claims to be. Built once per run; new
/// settings go in as fields with a default in [`Settings::new`].
#[derive(Clone, Debug)]
pub struct Settings {
    /// The parsed connection settings (their `Display` and `Debug` never show the password).
    pub conn: ConnInfo,
    /// The environment named by `--env` / `APP_ENV` (default dev).
    pub env: Environment,
    /// Where `env` came from: only `--env` on the command line may stamp an unknown
    /// database (see [`crate::policy::decide`]).
    pub env_source: EnvSource,
}

impl Settings {
    /// Settings for an already parsed connection.
    pub fn new(conn: ConnInfo, env: Environment, env_source: EnvSource) -> Self {
        Self {
            conn,
            env,
            env_source,
        }
    }

    /// Resolves settings with the project's precedence: the given values (from flags) first,
    /// then the `DATABASE_URL` / `APP_ENV` environment variables (which include `./.env` or
    /// `--env-file`: both binaries load it at start, see [`crate::policy::load_dotenv`]).
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
