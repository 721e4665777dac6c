//! Connection settings, parsed once: every form libpq accepts (URLs with user info, query
//! parameters and percent-encoding; `key=value` strings with quoting) becomes one
//! [`ConnInfo`]. Everything that shows, logs or hands on a connection goes through it:
//! the redacted display, the environment of child processes (`pg_dump`, `pg_restore`),
//! and the scrubbing of free text that may echo the password.

use std::fmt;
use std::str::FromStr;

use crate::error::MigrateError;

/// The variables libpq reads that could redirect or authenticate a child process. They are
/// removed from a child's environment before ours are set, so a stray `PGHOST` or
/// `PGPASSWORD` of the caller's shell never mixes with the run's own settings.
pub const LIBPQ_VARS: &[&str] = &[
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGOPTIONS",
    "PGAPPNAME",
    "PGSSLMODE",
    "PGCONNECT_TIMEOUT",
    "PGTARGETSESSIONATTRS",
    "PGCHANNELBINDING",
];

/// Parsed connection settings. `Debug` and `Display` never show the password.
#[derive(Clone)]
pub struct ConnInfo {
    config: tokio_postgres::Config,
}

impl ConnInfo {
    /// Parses a URL (`postgres://…`, `postgresql://…`) or a libpq `key=value` string.
    /// A malformed string is a usage error whose message never repeats the string itself
    /// (it may hold a password).
    pub fn parse(text: &str) -> Result<Self, MigrateError> {
        let config =
            tokio_postgres::Config::from_str(text).map_err(|e| MigrateError::MalformedUrl {
                url: crate::redact(text),
                reason: e.to_string(),
            })?;
        Ok(Self { config })
    }

    /// The parsed driver configuration (connect with it; never print it).
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// The database name a connection uses (PostgreSQL defaults it to the user name).
    pub fn database(&self) -> String {
        self.config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("postgres")
            .to_string()
    }

    /// The same settings for another database on the same server.
    pub fn with_database(&self, name: &str) -> Self {
        let mut config = self.config.clone();
        config.dbname(name);
        Self { config }
    }

    /// `host:port` of the first host, for messages.
    pub fn host_port(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".to_string(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!("{host}:{port}")
    }

    /// The password, if any (for a child's `PGPASSWORD` and for scrubbing text).
    fn password(&self) -> Option<String> {
        self.config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
    }

    /// The environment that points a libpq child process (`pg_dump`, `pg_restore`, `psql`)
    /// at this database. Nothing of it belongs on the child's command line: clear
    /// [`LIBPQ_VARS`] first, then set these.
    pub fn pg_env(&self) -> Vec<(&'static str, String)> {
        use tokio_postgres::config::{Host, SslMode};
        let c = &self.config;
        let mut env = Vec::new();
        let hosts: Vec<String> = c
            .get_hosts()
            .iter()
            .map(|h| match h {
                Host::Tcp(h) => h.clone(),
                #[cfg(unix)]
                Host::Unix(p) => p.display().to_string(),
            })
            .collect();
        if !hosts.is_empty() {
            env.push(("PGHOST", hosts.join(",")));
        }
        if !c.get_hostaddrs().is_empty() {
            let addrs: Vec<String> = c.get_hostaddrs().iter().map(|a| a.to_string()).collect();
            env.push(("PGHOSTADDR", addrs.join(",")));
        }
        if !c.get_ports().is_empty() {
            let ports: Vec<String> = c.get_ports().iter().map(|p| p.to_string()).collect();
            env.push(("PGPORT", ports.join(",")));
        }
        if let Some(user) = c.get_user() {
            env.push(("PGUSER", user.to_string()));
        }
        if let Some(pw) = self.password() {
            env.push(("PGPASSWORD", pw));
        }
        env.push(("PGDATABASE", self.database()));
        if let Some(options) = c.get_options() {
            env.push(("PGOPTIONS", options.to_string()));
        }
        let sslmode = match c.get_ssl_mode() {
            SslMode::Disable => "disable",
            SslMode::Require => "require",
            _ => "prefer",
        };
        env.push(("PGSSLMODE", sslmode.to_string()));
        if let Some(t) = c.get_connect_timeout() {
            // libpq treats values below 2 s as 2 s.
            env.push(("PGCONNECT_TIMEOUT", t.as_secs().max(2).to_string()));
        }
        env
    }

    /// The settings as a URL without the password, for messages and logs.
    pub fn redacted(&self) -> String {
        let user = self
            .config
            .get_user()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        format!(
            "postgres://{user}{}/{}",
            self.host_port(),
            self.config.get_dbname().unwrap_or_default()
        )
    }

    /// `text` with every occurrence of the password (as typed or percent-encoded) replaced
    /// by `***`: for messages of child processes and drivers that may echo it.
    pub fn scrub(&self, text: &str) -> String {
        match self.password() {
            Some(pw) if !pw.is_empty() => {
                let encoded: String = url::form_urlencoded::byte_serialize(pw.as_bytes()).collect();
                let mut out = text.replace(&pw, "***");
                if encoded != pw {
                    out = out.replace(&encoded, "***");
                }
                out
            }
            _ => text.to_string(),
        }
    }
}

impl fmt::Display for ConnInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnInfo({})", self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(text: &str) -> Vec<(&'static str, String)> {
        ConnInfo::parse(text).unwrap().pg_env()
    }

    fn get<'a>(env: &'a [(&'static str, String)], key: &str) -> Option<&'a str> {
        env.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }

    #[test]
    fn url_and_key_value_forms_give_the_same_child_environment() {
        let url = env_of("postgres://app:p%40ss@db.example:5433/shop?sslmode=require");
        let kv = env_of(
            "host=db.example port=5433 user=app password='p@ss' dbname=shop sslmode=require",
        );
        assert_eq!(url, kv);
        assert_eq!(get(&url, "PGPASSWORD"), Some("p@ss"));
        assert_eq!(get(&url, "PGHOST"), Some("db.example"));
        assert_eq!(get(&url, "PGPORT"), Some("5433"));
        assert_eq!(get(&url, "PGDATABASE"), Some("shop"));
    }

    #[test]
    fn password_in_the_query_reaches_the_environment_not_the_display() {
        let info = ConnInfo::parse("postgres://app@h/d?password=hunter2").unwrap();
        assert_eq!(get(&info.pg_env(), "PGPASSWORD"), Some("hunter2"));
        assert!(!info.redacted().contains("hunter2"));
        assert!(!format!("{info:?}").contains("hunter2"));
    }

    #[test]
    fn scrub_hides_the_password_as_typed_and_encoded() {
        let info = ConnInfo::parse("host=h user=u password='a b/c#d'").unwrap();
        let text = "FATAL: password a b/c#d or a+b%2Fc%23d rejected";
        let out = info.scrub(text);
        assert!(
            !out.contains("a b/c#d") && !out.contains("a+b%2Fc%23d"),
            "{out}"
        );
    }
}
