//! Connection settings, parsed once: every form libpq accepts (URLs with user info, query
//! parameters and percent-encoding; `key=value` strings with quoting) becomes one
//! [`ConnInfo`]. Everything that shows, logs or hands on a connection goes through it:
//! the redacted display, the environment of child processes (`pg_dump`, `pg_restore`),
//! and the scrubbing of free text that may echo the password.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

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
const SECRET_KEYS: &[&str] = &["password", "sslpassword"];

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
fn url_scheme_len(text: &str) -> Option<usize> {
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

fn decode(s: &str) -> String {
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
struct Pair<'a> {
    key: &'a str,
    value: String,
}

/// Reads libpq `key = value` pairs (values optionally single-quoted, `\` escapes). Returns
/// the pairs read and, if the text is malformed, the byte offset where reading stopped.
fn key_value_pairs(text: &str) -> (Vec<Pair<'_>>, Option<usize>) {
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

fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS
        .iter()
        .any(|k| k.eq_ignore_ascii_case(key.trim()))
}

/// A connection string that did not parse, shown without anything that may be secret: a
/// URL loses its user info and the values of secret query parameters; a key=value string
/// keeps the pairs that could be read, secret values masked, and hides the rest.
pub fn redact_unparsable(text: &str) -> String {
    let text = text.trim();
    if let Some(scheme_len) = url_scheme_len(text) {
        let rest = &text[scheme_len..];
        // Everything up to the last `@` may be user info holding an unencoded password.
        let (had_user, after_user) = match rest.rfind('@') {
            Some(at) => (true, &rest[at + 1..]),
            None => (false, rest),
        };
        let (location, query) = match after_user.split_once('?') {
            Some((l, q)) => (l, Some(q)),
            None => (after_user, None),
        };
        let mut out = format!(
            "{}{}{location}",
            &text[..scheme_len],
            if had_user { "***@" } else { "" }
        );
        if let Some(query) = query {
            let params: Vec<String> = query
                .split('&')
                .map(|segment| match segment.split_once('=') {
                    Some((k, _)) if is_secret_key(&decode(k)) => format!("{k}=***"),
                    _ if is_secret_key(&decode(segment)) => "***".to_string(),
                    _ => segment.to_string(),
                })
                .collect();
            out.push('?');
            out.push_str(&params.join("&"));
        }
        return out;
    }
    let (pairs, stopped) = key_value_pairs(text);
    let mut parts: Vec<String> = pairs
        .iter()
        .map(|p| {
            if is_secret_key(p.key) {
                format!("{}=***", p.key)
            } else if p.value.is_empty() || p.value.contains(|c: char| c.is_whitespace()) {
                format!("{}='{}'", p.key, p.value)
            } else {
                format!("{}={}", p.key, p.value)
            }
        })
        .collect();
    if stopped.is_some() {
        parts.push("…(the rest is not shown)".into());
    }
    parts.join(" ")
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

    /// Every accepted form with the password it must carry into `PGPASSWORD`.
    const ACCEPTED: &[(&str, &str)] = &[
        ("postgres://app:s3cret@db.example:5433/shop", "s3cret"),
        ("postgresql://app:s3cret@db.example:5433/shop", "s3cret"),
        (
            "postgres://app@db.example:5433/shop?password=s3cret",
            "s3cret",
        ),
        ("postgres://app@db.example:5433/shop?password=a@b", "a@b"),
        (
            "postgres://app@db.example:5433/shop?sslmode=disable&password=s%40y%20x",
            "s@y x",
        ),
        (
            "postgres://app:p%40ss%2Fw%23rd%3A@db.example:5433/shop",
            "p@ss/w#rd:",
        ),
        ("postgres://app:pa?ss#x@db.example:5433/shop", "pa?ss#x"),
        (
            "host=db.example port=5433 user=app password=s3cret dbname=shop",
            "s3cret",
        ),
        (
            "host=db.example port=5433 user=app password = s3cret dbname=shop",
            "s3cret",
        ),
        (
            "host = db.example port= 5433 user =app password='s3 cr\\'et' dbname=shop",
            "s3 cr'et",
        ),
        (
            "  host=db.example port=5433 user=app password='' dbname=shop  ",
            "",
        ),
    ];

    #[test]
    fn every_accepted_form_parses_to_the_same_target() {
        for (text, password) in ACCEPTED {
            let info = ConnInfo::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            let env = info.pg_env();
            assert_eq!(get(&env, "PGHOST"), Some("db.example"), "{text:?}");
            assert_eq!(get(&env, "PGPORT"), Some("5433"), "{text:?}");
            assert_eq!(get(&env, "PGUSER"), Some("app"), "{text:?}");
            assert_eq!(get(&env, "PGDATABASE"), Some("shop"), "{text:?}");
            assert_eq!(get(&env, "PGPASSWORD"), Some(*password), "{text:?}");
            assert_eq!(get(&env, "PGCONNECT_TIMEOUT"), Some("10"), "{text:?}");
            if !password.is_empty() {
                let shown = format!("{} {info} {info:?}", info.redacted());
                assert!(!shown.contains(password), "{text:?}: {shown}");
                assert!(shown.contains("app:***@db.example:5433/shop"), "{shown}");
                let echoed = format!("FATAL: bad password {password} for {text}");
                assert!(!info.scrub(&echoed).contains(password), "{text:?}");
            }
        }
    }

    #[test]
    fn unencoded_at_in_the_password_is_named_not_looked_up() {
        for text in [
            "postgres://app:p@ss@db.example/shop",
            "postgres://app:p@ss/x@db.example/shop",
            "postgres://app:p?x@y@db.example/shop",
        ] {
            let err = ConnInfo::parse(text).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, MigrateError::MalformedUrl { .. }), "{msg}");
            assert!(msg.contains("%40"), "{msg}");
            assert!(!msg.contains("ss@db") && !msg.contains("p@ss"), "{msg}");
        }
        // `@` after the host (in the query) is not user info.
        assert!(ConnInfo::parse("postgres://app@h/db?options=-c%20x%3Dy@z").is_ok());
    }

    #[test]
    fn malformed_strings_never_echo_their_secret() {
        for (text, secret) in [
            ("host=h password='unterminated s3cret", "s3cret"),
            ("host=h sslrootcert=/ca password=s3cret", "s3cret"),
            ("host=h password=s3cret sslmode=verify-full", "s3cret"),
            ("postgres://app:s3cret@h/db?sslmode=verify-ca", "s3cret"),
            (
                "postgres://app@h/db?password=s3cret&connect_timeout=x",
                "s3cret",
            ),
            ("postgres://app:s3cret@h:port/db", "s3cret"),
            ("app:s3cret@h/db", "s3cret"),
            ("host=h password x=s3cret", "s3cret"),
            ("postgres://app:s3/cret@h/db", "s3/cret"),
            ("postgres://h/db?password=s3cret@x&y", "s3cret"),
        ] {
            let msg = ConnInfo::parse(text).unwrap_err().to_string();
            assert!(!msg.contains(secret), "{text:?}: {msg}");
            assert!(msg.contains("nothing was changed"), "{msg}");
        }
    }

    #[test]
    fn libpq_only_forms_are_normalised_or_refused() {
        let info = ConnInfo::parse("host=h sslmode=allow fallback_application_name=x").unwrap();
        assert_eq!(get(&info.pg_env(), "PGSSLMODE"), Some("prefer"));
        let info = ConnInfo::parse("postgres://h/db?sslmode=allow").unwrap();
        assert_eq!(get(&info.pg_env(), "PGSSLMODE"), Some("prefer"));
        for text in [
            "host=h sslmode=verify-full",
            "postgres://h/db?sslmode=verify-ca",
        ] {
            let msg = ConnInfo::parse(text).unwrap_err().to_string();
            assert!(
                msg.contains("cannot honour") && msg.contains("sslmode=verify"),
                "{msg}"
            );
        }
    }

    #[test]
    fn connect_timeout_precedence_is_flag_then_string_then_default() {
        let default = ConnInfo::parse("postgres://h/db").unwrap();
        assert_eq!(default.connect_timeout(), DEFAULT_CONNECT_TIMEOUT);
        let from_url = ConnInfo::parse("postgres://h/db?connect_timeout=3").unwrap();
        assert_eq!(from_url.connect_timeout(), Duration::from_secs(3));
        assert_eq!(get(&from_url.pg_env(), "PGCONNECT_TIMEOUT"), Some("3"));
        let kv = ConnInfo::parse("host=h connect_timeout = 4").unwrap();
        assert_eq!(kv.connect_timeout(), Duration::from_secs(4));
        let flag = from_url.with_connect_timeout(Some(Duration::from_millis(1500)));
        assert_eq!(flag.connect_timeout(), Duration::from_millis(1500));
        assert_eq!(get(&flag.pg_env(), "PGCONNECT_TIMEOUT"), Some("2"));
        let kept = kv.with_connect_timeout(None);
        assert_eq!(kept.connect_timeout(), Duration::from_secs(4));
    }

    #[test]
    fn dead_servers_are_noticed_without_waiting_for_the_kernel() {
        let info = ConnInfo::parse("postgres://h/db").unwrap();
        let c = info.config();
        assert!(c.get_keepalives());
        assert_eq!(c.get_keepalives_idle(), KEEPALIVES_IDLE);
        assert_eq!(c.get_tcp_user_timeout(), Some(&TCP_USER_TIMEOUT));
        let off = ConnInfo::parse("postgres://h/db?keepalives=0&tcp_user_timeout=5").unwrap();
        assert!(!off.config().get_keepalives());
        assert_eq!(
            off.config().get_tcp_user_timeout(),
            Some(&Duration::from_secs(5))
        );
    }
}
