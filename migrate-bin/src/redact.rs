//! Hiding passwords in database URLs before they reach a message or a log line.

/// Returns `url` with any password replaced by `***`, so it can be printed or logged.
///
/// Handles `postgres://user:secret@host/db` URLs and libpq key/value strings
/// (`host=... password=secret`). Anything unparsable is returned with everything between
/// `://` and the last `@` hidden, because a malformed URL may still carry a password.
pub fn redact(url: &str) -> String {
    if !url.contains("://") {
        return redact_key_value(url);
    }
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let mut changed = false;
            if parsed.password().is_some() {
                // set_password only fails for URLs that cannot have credentials.
                changed = parsed.set_password(Some("***")).is_ok();
            }
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            if pairs
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("password"))
            {
                let mut query = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in &pairs {
                    if k.eq_ignore_ascii_case("password") {
                        query.append_pair(k, "***");
                    } else {
                        query.append_pair(k, v);
                    }
                }
                parsed.set_query(Some(&query.finish()));
                changed = true;
            }
            if changed {
                parsed.to_string()
            } else {
                url.to_string()
            }
        }
        Err(_) => redact_unparsable(url),
    }
}

fn redact_unparsable(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    match rest.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            let hidden = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!("{}{}{}", &url[..scheme_end + 3], hidden, &rest[at..])
        }
        None => url.to_string(),
    }
}

fn redact_key_value(conninfo: &str) -> String {
    conninfo
        .split_whitespace()
        .map(|part| match part.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            // A URL typed without its scheme (`user:secret@host/db`) still carries credentials.
            None if part.contains('@') => {
                format!("***{}", &part[part.rfind('@').unwrap_or_default()..])
            }
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn hides_password_in_url() {
        assert_eq!(
            redact("postgres://app:s3cret@db.example:5432/app"),
            "postgres://app:***@db.example:5432/app"
        );
    }

    #[test]
    fn keeps_url_without_password() {
        let url = "postgres://postgres@127.0.0.1:5432/groundwork";
        assert_eq!(redact(url), url);
    }

    #[test]
    fn hides_password_in_query() {
        let out = redact("postgres://app@host/db?sslmode=disable&password=hunter2");
        assert!(!out.contains("hunter2"), "{out}");
        assert!(out.contains("sslmode=disable"), "{out}");
    }

    #[test]
    fn hides_password_in_malformed_url() {
        let out = redact("postgres://app:p@ss:w0rd@host:notaport/db");
        assert!(!out.contains("w0rd"), "{out}");
        assert!(out.starts_with("postgres://app:***@"), "{out}");
    }

    #[test]
    fn hides_password_in_key_value_string() {
        assert_eq!(
            redact("host=localhost password=topsecret dbname=app"),
            "host=localhost password=*** dbname=app"
        );
    }

    #[test]
    fn hides_credentials_of_a_url_without_scheme() {
        assert!(!redact("not a url :secret@host").contains("secret"));
        assert_eq!(redact("app:s3cret@host/db"), "***@host/db");
    }

    #[test]
    fn percent_encoded_password_is_hidden() {
        let out = redact("postgres://app:p%40ss@host/db");
        assert!(!out.contains("p%40ss"), "{out}");
    }
}
