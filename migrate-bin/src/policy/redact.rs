//! The one redactor of both binaries: whatever a connection string looks like, what reaches a
//! message, a log line or `status --json` is built from the parsed [`ConnInfo`] (host, port,
//! user, database; never the password), or, for a string that does not parse, from the
//! parts of it that cannot be secret.

use super::target::{ConnInfo, redact_unparsable};

/// Returns a connection string (URL or libpq key=value) fit to print or log: parsed, it is
/// shown as `postgres://user:***@host:port/db`; unparsable, it loses its user info, the
/// values of secret parameters and everything that could not be read.
pub fn redact(text: &str) -> String {
    match ConnInfo::parse(text) {
        Ok(info) => info.redacted(),
        Err(_) => redact_unparsable(text),
    }
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
