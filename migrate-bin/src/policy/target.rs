//! Connection settings, parsed once: every form libpq accepts (URLs with user info, query
//! parameters and percent-encoding; `key=value` strings with quoting) becomes one
//! [`ConnInfo`]. Everything that shows, logs or hands on a connection goes through it:
//! the redacted display, the environment of child processes (`pg_dump`, `pg_restore`),
//! and the scrubbing of free text that may echo the password.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::redact::redact_unparsable;
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

/// How long a connection may take, TCP connect and startup/authentication handshake together,
/// when neither `--connect-timeout` nor the connection string's `connect_timeout` says.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The range `--connect-timeout` accepts: below a second a loaded server cannot answer, and
/// above ten minutes the "never hang" promise means nothing.
pub const CONNECT_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(600));

/// Keepalive and unacknowledged-data limits, so a server that dies (or a network that drops
/// it) in the middle of a run is noticed within about a minute instead of the kernel's two
/// hours. A long statement on a live server is not affected: its kernel answers the probes.
const KEEPALIVES_IDLE: Duration = Duration::from_secs(30);
const KEEPALIVES_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVES_RETRIES: u32 = 3;
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(60);
/// tokio-postgres's own default idle time; a config still holding it was not set by the user.
const DRIVER_DEFAULT_KEEPALIVES_IDLE: Duration = Duration::from_secs(2 * 60 * 60);

/// Keys whose value is a secret, in either form.
pub(super) const SECRET_KEYS: &[&str] = &["password", "sslpassword"];

/// Parsed connection settings. `Debug` and `Display` never show the password.
#[derive(Clone)]
pub struct ConnInfo {
    config: tokio_postgres::Config,
}

impl ConnInfo {
    /// Parses a URL (`postgres://…`, `postgresql://…`) or a libpq `key=value` string.
    /// A malformed string is a usage error whose message never repeats its secret parts.
    ///
    /// libpq forms tokio-postgres does not take are normalised first: `sslmode=allow`
    /// becomes `prefer` (both accept a plain connection, which is what these binaries make),
    /// `fallback_application_name` is dropped (the binaries name their sessions). A
    /// `sslmode=verify-ca|verify-full` is refused: it asks for a verified certificate, these
    /// binaries connect without TLS, and quietly connecting unverified would break the
    /// promise the string makes.
    ///
    /// Every parsed config carries a connect timeout ([`DEFAULT_CONNECT_TIMEOUT`] unless the
    /// string sets `connect_timeout`) and keepalive settings, so [`Self::pg_env`] hands the
    /// timeout to child processes too.
    pub fn parse(text: &str) -> Result<Self, MigrateError> {
        let text = text.trim();
        let malformed = |reason: String| MigrateError::MalformedUrl {
            url: redact_unparsable(text),
            reason,
        };
        if text.is_empty() {
            return Err(malformed("it is empty".into()));
        }
        // A URL of another database (`mysql://…`) would otherwise be read as a broken
        // key=value string; its scheme is never secret, so it is named.
        if url_scheme_len(text).is_none()
            && let Some((scheme, _)) = text.split_once("://")
            && !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return Err(malformed(format!(
                "its scheme `{scheme}://` is not PostgreSQL's; use postgres:// or postgresql://"
            )));
        }
        let normalised = if let Some(scheme_len) = url_scheme_len(text) {
            normalise_url(text, scheme_len).map_err(malformed)?
        } else {
            normalise_key_value(text).map_err(malformed)?
        };
        let mut config = tokio_postgres::Config::from_str(&normalised).map_err(|e| {
            let mut reason = driver_reason(&e);
            if url_scheme_len(text).is_some() && text.contains('@') {
                reason.push_str(
                    " (if the user name or password holds `/`, `@`, `?` or `#`, percent-encode \
                     it: %2F, %40, %3F, %23)",
                );
            }
            malformed(reason)
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_keepalives() {
            if config.get_keepalives_idle() == DRIVER_DEFAULT_KEEPALIVES_IDLE {
                config.keepalives_idle(KEEPALIVES_IDLE);
            }
            if config.get_keepalives_interval().is_none() {
                config.keepalives_interval(KEEPALIVES_INTERVAL);
            }
            if config.get_keepalives_retries().is_none() {
                config.keepalives_retries(KEEPALIVES_RETRIES);
            }
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(TCP_USER_TIMEOUT);
        }
        Ok(Self { config })
    }

    /// The same settings with the connect timeout a flag or variable gave: the command line
    /// (`--connect-timeout`, or `DATABASE_CONNECT_TIMEOUT`) wins over the string's
    /// `connect_timeout`, which wins over [`DEFAULT_CONNECT_TIMEOUT`]. `None` keeps the string's.
    pub fn with_connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        if let Some(t) = timeout {
            self.config.connect_timeout(t);
        }
        self
    }

    /// The deadline of one whole connection attempt (every host, TCP and handshake).
    pub fn connect_timeout(&self) -> Duration {
        self.config
            .get_connect_timeout()
            .copied()
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
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
        // libpq counts whole seconds and treats values below 2 s as 2 s; round up so a child
        // never gets less time than we would take.
        let t = self.connect_timeout();
        let secs = t.as_secs() + u64::from(t.subsec_nanos() > 0);
        env.push(("PGCONNECT_TIMEOUT", secs.max(2).to_string()));
        env
    }

    /// The settings as a URL without the password, for messages and logs.
    /// A `:***` after the user says a password was given without showing it.
    pub fn redacted(&self) -> String {
        let hidden = if self.config.get_password().is_some() {
            ":***"
        } else {
            ""
        };
        let user = self
            .config
            .get_user()
            .map(|u| format!("{u}{hidden}@"))
            .unwrap_or_default();
        format!("postgres://{user}{}/{}", self.host_port(), self.database())
    }

    /// `text` with every occurrence of the password (as typed or percent-encoded) replaced
    /// by `***`: for messages of child processes and drivers that may echo it.
    pub fn scrub(&self, text: &str) -> String {
        match self.password() {
            Some(pw) if !pw.is_empty() => {
                let mut out = text.replace(&pw, "***");
                let form: String = url::form_urlencoded::byte_serialize(pw.as_bytes()).collect();
                let percent =
                    percent_encoding::utf8_percent_encode(&pw, percent_encoding::NON_ALPHANUMERIC)
                        .to_string();
                for encoded in [form, percent] {
                    if encoded != pw {
                        out = out.replace(&encoded, "***");
                    }
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

/// Parses a `--connect-timeout` / `DATABASE_CONNECT_TIMEOUT` value (`5s`, `1m`, `2500ms`, or a
/// number of seconds) and checks it is within [`CONNECT_TIMEOUT_RANGE`]. For clap's
/// `value_parser`; the message names the value and the allowed range.
pub fn parse_connect_timeout(text: &str) -> Result<Duration, String> {
    let (min, max) = CONNECT_TIMEOUT_RANGE;
    super::flags::duration_in(min, max)(text)
}

/// The length of `postgres://` or `postgresql://` if `text` starts with one (libpq's only
/// URL schemes).
pub(super) fn url_scheme_len(text: &str) -> Option<usize> {
    ["postgres://", "postgresql://"]
        .iter()
        .find(|p| text.starts_with(*p))
        .map(|p| p.len())
}

/// Applies the libpq-compatibility rules to one parameter: `Ok(None)` drops it.
fn normalise_param(key: &str, value: &str) -> Result<Option<String>, String> {
    match (key, value) {
        ("sslmode", "allow") => Ok(Some("prefer".into())),
        ("sslmode", "verify-ca" | "verify-full") => Err(format!(
            "sslmode={value} asks for a verified TLS certificate, and migrate and seed connect \
             without TLS, so they cannot honour it. Use sslmode=disable or prefer on a trusted \
             network, or reach the server through a TLS tunnel (e.g. ssh -L or stunnel)"
        )),
        ("fallback_application_name", _) => Ok(None),
        _ => Ok(Some(value.to_string())),
    }
}

/// Checks the URL for an unencoded `@` (the driver would otherwise take part of the password
/// for the host name and fail with a misleading host lookup) and normalises its query.
fn normalise_url(text: &str, scheme_len: usize) -> Result<String, String> {
    // libpq's reading: there is user info only if an `@` comes before the first `/`. The
    // driver instead takes everything up to the first `@` anywhere, so `?password=a@b` would
    // become a user name; encoding those `@` (decoded again by the driver) makes both agree.
    let rest = &text[scheme_len..];
    let owned;
    let (text, rest) = match (rest.find('@'), rest.find('/')) {
        (Some(at), Some(slash)) if slash < at => {
            owned = format!("{}{}", &text[..scheme_len], rest.replace('@', "%40"));
            (owned.as_str(), &owned[scheme_len..])
        }
        _ => (text, rest),
    };
    // The driver's reading: user info runs to the first `@`, host and path to the next `?`.
    let after_user = scheme_len + rest.find('@').map_or(0, |at| at + 1);
    let query_start = text[after_user..].find('?').map(|q| after_user + q);
    let location = &text[after_user..query_start.unwrap_or(text.len())];
    if after_user > scheme_len && location.contains('@') {
        return Err(
            "it has more than one `@` before the host: a password (or user name) holding `@` \
             must be percent-encoded, `@` as %40 (likewise `:` as %3A, `/` as %2F, `#` as %23, \
             `?` as %3F, `%` as %25), or use the key=value form (password='...')"
                .into(),
        );
    }
    let Some(q) = query_start else {
        return Ok(text.to_string());
    };
    let mut params = Vec::new();
    for segment in text[q + 1..].split('&').filter(|s| !s.is_empty()) {
        let (raw_key, raw_value) = segment.split_once('=').ok_or_else(|| {
            format!(
                "query parameter `{}` has no value; write it as key=value",
                segment.chars().take(40).collect::<String>()
            )
        })?;
        let key = decode(raw_key);
        let value = decode(raw_value);
        if let Some(v) = normalise_param(&key, &value)? {
            let encoded = if v == value {
                raw_value.to_string()
            } else {
                percent_encoding::utf8_percent_encode(&v, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            };
            params.push(format!("{raw_key}={encoded}"));
        }
    }
    let base = &text[..q];
    Ok(if params.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", params.join("&"))
    })
}

pub(super) fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Rebuilds a libpq key=value string with every value quoted, after the libpq-compatibility
/// rules; spaces around `=` are accepted like libpq does.
fn normalise_key_value(text: &str) -> Result<String, String> {
    let (pairs, stopped) = key_value_pairs(text);
    if let Some(at) = stopped {
        return Err(format!(
            "it is neither a postgres:// URL nor a valid key=value string (unreadable from \
             byte {at}; quote values holding spaces as key='a value', escape ' and \\ with \\)"
        ));
    }
    let mut out = Vec::new();
    for pair in pairs {
        if let Some(v) = normalise_param(pair.key, &pair.value)? {
            out.push(format!(
                "{}='{}'",
                pair.key,
                v.replace('\\', "\\\\").replace('\'', "\\'")
            ));
        }
    }
    Ok(out.join(" "))
}

/// The driver's reason for rejecting a string, never quoting a character of it (an
/// "unexpected character" could be one of the password's).
fn driver_reason(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    if let Some(source) = std::error::Error::source(e) {
        text = source.to_string();
    }
    match text.find(" but got") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// One `key = value` pair of a libpq key/value string.
pub(super) struct Pair<'a> {
    pub(super) key: &'a str,
    pub(super) value: String,
}

/// Reads libpq `key = value` pairs (values optionally single-quoted, `\` escapes). Returns
/// the pairs read and, if the text is malformed, the byte offset where reading stopped.
pub(super) fn key_value_pairs(text: &str) -> (Vec<Pair<'_>>, Option<usize>) {
    let bytes = text.as_bytes();
    let mut pairs = Vec::new();
    let mut i = 0;
    let skip_ws = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    loop {
        i = skip_ws(i);
        if i >= bytes.len() {
            return (pairs, None);
        }
        let start = i;
        let key_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'=' {
            i += 1;
        }
        let key = &text[key_start..i];
        i = skip_ws(i);
        if i >= bytes.len() || bytes[i] != b'=' {
            return (pairs, Some(start));
        }
        i = skip_ws(i + 1);
        let mut value = Vec::new();
        if i < bytes.len() && bytes[i] == b'\'' {
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return (pairs, Some(start)),
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') if i + 1 < bytes.len() => {
                        value.push(bytes[i + 1]);
                        i += 2;
                    }
                    Some(&b) => {
                        value.push(b);
                        i += 1;
                    }
                }
            }
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                if bytes[i] == b'\\' && i + 1 < bytes.len() {
                    i += 1;
                }
                value.push(bytes[i]);
                i += 1;
            }
            if value.is_empty() {
                return (pairs, Some(start));
            }
        }
        pairs.push(Pair {
            key,
            value: String::from_utf8_lossy(&value).into_owned(),
        });
    }
}

#[cfg(test)]
mod tests;
