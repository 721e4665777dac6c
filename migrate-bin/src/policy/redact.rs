//! The one redactor of both binaries: whatever a connection string looks like, what reaches a
//! message, a log line or `status --json` is built from the parsed [`ConnInfo`] (host, port,
//! user, database; never the password), or, for a string that does not parse, from the
//! parts of it that cannot be secret.

use super::target::{ConnInfo, SECRET_KEYS, decode, key_value_pairs, url_scheme_len};

/// Returns a connection string (URL or libpq key=value) fit to print or log: parsed, it is
/// shown as `postgres://user:***@host:port/db`; unparsable, it loses its user info, the
/// values of secret parameters and everything that could not be read.
pub fn redact(text: &str) -> String {
    match ConnInfo::parse(text) {
        Ok(info) => info.redacted(),
        Err(_) => redact_unparsable(text),
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
pub(super) fn redact_unparsable(text: &str) -> String {
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
    use super::redact;

    /// Every form a password can take in a connection string, and the secret it carries.
    const FORMS: &[(&str, &str)] = &[
        ("postgres://app:s3cret@db.example:5432/app", "s3cret"),
        ("postgresql://app:s3cret@db.example/app", "s3cret"),
        (
            "postgres://app@host/db?sslmode=disable&password=hunter2",
            "hunter2",
        ),
        ("postgres://app:p%40ss%2Fw%23rd@host/db", "p%40ss"),
        ("postgres://app:pa/ss#x@host/db", "pa/ss#x"),
        ("postgres://app:p@ss:w0rd@host:notaport/db", "ss:w0rd"),
        ("postgres://app:p@ss@host/db", "ss@host"),
        ("postgres://h/db?password=a@b&x", "password=a"),
        ("postgres://app:sec?ret@host/db", "sec?ret"),
        ("host=localhost password=topsecret dbname=app", "topsecret"),
        (
            "host=localhost password = topsecret dbname=app",
            "topsecret",
        ),
        (
            "host=localhost password='top secret' dbname=app",
            "top secret",
        ),
        ("host=localhost password='it\\'s' dbname=app", "it"),
        ("host=h sslrootcert=/x password=topsecret", "topsecret"),
        ("host=h password='unterminated secret", "unterminated"),
        ("host=h password=", "host=h password="),
        ("app:s3cret@host/db", "s3cret"),
        ("not a url :secret@host", "secret"),
        ("host=h sslmode=verify-full password=topsecret", "topsecret"),
    ];

    #[test]
    fn no_form_leaks_its_password() {
        for (text, secret) in FORMS {
            let out = redact(text);
            assert!(!out.contains(secret), "{text:?} gave {out:?}");
        }
    }

    #[test]
    fn parsed_strings_show_where_they_point() {
        assert_eq!(
            redact("postgres://app:s3cret@db.example:5433/app"),
            "postgres://app:***@db.example:5433/app"
        );
        assert_eq!(
            redact("host=db.example user=app password='a b' dbname=shop"),
            "postgres://app:***@db.example:5432/shop"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1:5432/groundwork"),
            "postgres://postgres@127.0.0.1:5432/groundwork"
        );
    }

    #[test]
    fn unparsable_strings_keep_their_harmless_parts() {
        let out = redact("postgres://app:p@ss@host:5432/db?sslmode=disable&password=x");
        assert_eq!(
            out,
            "postgres://***@host:5432/db?sslmode=disable&password=***"
        );
        let out = redact("host=h sslrootcert=/x password=topsecret");
        assert_eq!(out, "host=h sslrootcert=/x password=***");
    }
}
