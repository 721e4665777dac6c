//! The parser's and the redaction's promises, form by form.

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
    let kv =
        env_of("host=db.example port=5433 user=app password='p@ss' dbname=shop sslmode=require");
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
