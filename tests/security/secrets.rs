//! No secret ever leaves, and nothing hangs: every connection-string form keeps its password
//! out of both binaries' output (errors, `status --json`, trace logs), and a server that
//! accepts TCP connections but never speaks makes every command exit 3 within the connect
//! timeout, naming host and port.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use groundwork_migrate::ConnInfo;
use groundwork_testdb::{TestDb, migrate_cmd, output_text, run_expect, seed_cmd};

/// A password no output may contain, in any of its spellings.
const SECRET: &str = "S3cretPw";

/// How the driver's debug output spells a string bound as a parameter.
fn byte_list(s: &str) -> String {
    s.bytes()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn all_output(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_no_secret(out: &Output, secrets: &[&str]) {
    let text = all_output(out);
    for s in secrets {
        assert!(!text.contains(s), "`{s}` leaked:\n{}", output_text(out));
    }
}

/// A TCP server that accepts every connection and never sends a byte (a hung PostgreSQL, a
/// black-holing proxy). Connections stay open until the test ends.
struct SilentServer {
    port: u16,
    _held: Arc<Mutex<Vec<TcpStream>>>,
}

impl SilentServer {
    fn start() -> SilentServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let port = listener.local_addr().expect("local address").port();
        let held = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&held);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                // Read what the client sends (so its writes never block) and answer nothing.
                if let Ok(mut reader) = stream.try_clone() {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 1024];
                        while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
                    });
                }
                keep.lock().expect("held connections").push(stream);
            }
        });
        SilentServer { port, _held: held }
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres:{SECRET}@127.0.0.1:{}/groundwork",
            self.port
        )
    }
}

/// Runs `cmd`, asserting exit 3 within `limit`, a message naming host and port, no secret.
fn expect_gives_up(cmd: &mut std::process::Command, port: u16, limit: Duration) {
    let started = Instant::now();
    let out = run_expect(cmd, 3);
    let took = started.elapsed();
    assert!(
        took < limit,
        "took {took:?} (limit {limit:?}):\n{}",
        output_text(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("127.0.0.1:{port}")),
        "{}",
        output_text(&out)
    );
    assert!(err.contains("--connect-timeout"), "{}", output_text(&out));
    assert!(!err.contains("panicked"), "{}", output_text(&out));
    assert_no_secret(&out, &[SECRET]);
}

#[test]
fn silent_server_migrate_status_and_up_exit_3_within_the_flag_timeout() {
    let server = SilentServer::start();
    let db = TestDb::empty();
    for command in [&["status"][..], &["up"], &["--json", "status"], &["verify"]] {
        expect_gives_up(
            migrate_cmd(&db)
                .env("DATABASE_URL", server.url())
                .args(["--connect-timeout", "2s"])
                .args(command),
            server.port,
            Duration::from_secs(8),
        );
    }
}

#[test]
fn silent_server_seed_exits_3_within_the_flag_timeout() {
    let server = SilentServer::start();
    let db = TestDb::empty();
    for command in [&["--stage", "all"][..], &["verify"], &["--list"]] {
        expect_gives_up(
            seed_cmd(&db)
                .env("DATABASE_URL", server.url())
                .args(["--connect-timeout", "2s"])
                .args(command),
            server.port,
            Duration::from_secs(8),
        );
    }
}

#[test]
fn silent_server_timeout_comes_from_the_variable_or_the_url() {
    let server = SilentServer::start();
    let db = TestDb::empty();
    expect_gives_up(
        migrate_cmd(&db)
            .env("DATABASE_URL", server.url())
            .env("DATABASE_CONNECT_TIMEOUT", "2s")
            .arg("status"),
        server.port,
        Duration::from_secs(8),
    );
    expect_gives_up(
        seed_cmd(&db)
            .env(
                "DATABASE_URL",
                format!("{}?connect_timeout=2", server.url()),
            )
            .args(["--stage", "all"]),
        server.port,
        Duration::from_secs(8),
    );
    // The flag wins over the URL: a 600 s URL timeout does not keep the run waiting.
    expect_gives_up(
        migrate_cmd(&db)
            .env(
                "DATABASE_URL",
                format!("{}?connect_timeout=600", server.url()),
            )
            .args(["--connect-timeout", "2s", "status"]),
        server.port,
        Duration::from_secs(8),
    );
}

#[test]
fn connect_timeout_values_are_range_checked() {
    let db = TestDb::empty();
    for bad in ["0", "-1", "11min", "soon", "99999999999999999999h"] {
        for (mut cmd, command) in [(migrate_cmd(&db), "status"), (seed_cmd(&db), "--list")] {
            let out = run_expect(cmd.args(["--connect-timeout", bad, command]), 2);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(bad) && err.contains("1s..=10m"),
                "{}",
                output_text(&out)
            );
            assert!(!err.contains("panicked"), "{}", output_text(&out));
        }
    }
    let out = run_expect(
        migrate_cmd(&db).args(["--statement-timeout", "-5s", "status"]),
        2,
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("negative"),
        "{}",
        output_text(&out)
    );
}

/// Connection strings aimed at a port where nothing listens, each carrying the password in
/// another form, with the spellings that must never appear.
fn unreachable_forms() -> Vec<(String, Vec<&'static str>)> {
    vec![
        (
            format!("postgres://postgres:{SECRET}@127.0.0.1:1/db"),
            vec![SECRET],
        ),
        (
            format!("postgresql://postgres:{SECRET}@127.0.0.1:1/db?sslmode=disable"),
            vec![SECRET],
        ),
        (
            format!("postgres://postgres@127.0.0.1:1/db?password={SECRET}"),
            vec![SECRET],
        ),
        (
            "postgres://postgres:S3cret%40P%2Fw@127.0.0.1:1/db".into(),
            vec!["S3cret", "P%2Fw", "P/w"],
        ),
        (
            "postgres://postgres:S3cret#P?w@127.0.0.1:1/db".into(),
            vec!["S3cret", "P?w"],
        ),
        (
            "host=127.0.0.1 port=1 user=postgres password='S3cret Pw' dbname=db".into(),
            vec!["S3cret"],
        ),
        (
            format!("host=127.0.0.1 port=1 user=postgres password = {SECRET} dbname=db"),
            vec![SECRET],
        ),
        (
            "host=127.0.0.1 port=1 password='it\\'s S3cret' dbname=db".into(),
            vec!["S3cret"],
        ),
    ]
}

#[test]
fn connection_errors_never_show_the_password_in_any_form() {
    let db = TestDb::empty();
    for (url, secrets) in unreachable_forms() {
        for args in [&["status"][..], &["--json", "status"], &["up"]] {
            let out = run_expect(
                migrate_cmd(&db)
                    .env("DATABASE_URL", &url)
                    .env("RUST_LOG", "debug")
                    .args(args),
                3,
            );
            assert_no_secret(&out, &secrets);
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("127.0.0.1:1"),
                "{}",
                output_text(&out)
            );
        }
        for args in [&["--stage", "all"][..], &["verify"]] {
            let out = run_expect(
                seed_cmd(&db)
                    .env("DATABASE_URL", &url)
                    .env("RUST_LOG", "debug")
                    .args(args),
                3,
            );
            assert_no_secret(&out, &secrets);
            let err = String::from_utf8_lossy(&out.stderr);
            // The refused connection keeps its cause (seed used to drop it).
            assert!(
                err.contains("127.0.0.1:1") && err.to_lowercase().contains("refused"),
                "{}",
                output_text(&out)
            );
        }
    }
}

#[test]
fn malformed_strings_exit_2_in_both_binaries_without_their_secret() {
    let db = TestDb::empty();
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "postgres://postgres:S3cret@Pw@127.0.0.1/db",
            &["S3cret", "Pw@127"],
            "%40",
        ),
        ("host=127.0.0.1 password='S3cretPw", &[SECRET], "key=value"),
        (
            "host=127.0.0.1 sslrootcert=/ca password=S3cretPw",
            &[SECRET],
            "sslrootcert",
        ),
        (
            "postgres://postgres:S3cretPw@127.0.0.1/db?sslmode=verify-full",
            &[SECRET],
            "verify-full",
        ),
        (
            "postgres://postgres:S3cretPw@127.0.0.1:notaport/db",
            &[SECRET],
            "port",
        ),
        (
            "postgres://postgres:S3cret/Pw@127.0.0.1/db",
            &["S3cret", "/Pw"],
            "%2F",
        ),
    ];
    for (url, secrets, named) in cases {
        let outs = [
            run_expect(migrate_cmd(&db).env("DATABASE_URL", url).arg("status"), 2),
            run_expect(
                seed_cmd(&db)
                    .env("DATABASE_URL", url)
                    .args(["--stage", "all"]),
                2,
            ),
            run_expect(seed_cmd(&db).env("DATABASE_URL", url).arg("--list"), 2),
        ];
        for out in &outs {
            assert_no_secret(out, secrets);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(named),
                "{url}: expected `{named}`:\n{}",
                output_text(out)
            );
            assert!(err.contains("nothing was changed"), "{}", output_text(out));
        }
    }
}

#[test]
fn status_json_shows_the_database_redacted() {
    let db = TestDb::migrated();
    let info = ConnInfo::parse(db.url()).expect("test URL parses");
    let (host_port, name) = (info.host_port(), info.database());
    let (host, port) = host_port.rsplit_once(':').expect("host:port");
    // The test server trusts local connections, so any password connects.
    for url in [
        format!("postgres://postgres:{SECRET}@{host_port}/{name}"),
        format!("postgres://postgres@{host_port}/{name}?password={SECRET}"),
        format!("host={host} port={port} user=postgres password = '{SECRET} x' dbname={name}"),
    ] {
        let out = run_expect(
            migrate_cmd(&db)
                .env("DATABASE_URL", &url)
                .env("RUST_LOG", "debug")
                .args(["--env", "test", "--json", "status"]),
            0,
        );
        assert_no_secret(&out, &[SECRET]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", output_text(&out)));
        assert_eq!(
            json["database"],
            format!("postgres://postgres:***@{host_port}/{name}"),
            "{}",
            output_text(&out)
        );
    }
}

#[test]
fn seed_trace_logs_show_no_hash_key_or_password() {
    let db = TestDb::empty();
    let info = ConnInfo::parse(db.url()).expect("test URL parses");
    let url = format!(
        "postgres://postgres:{SECRET}@{}/{}",
        info.host_port(),
        info.database()
    );
    let out = run_expect(
        seed_cmd(&db)
            .env("DATABASE_URL", &url)
            .env("RUST_LOG", "trace")
            .env("SEED_DEMO_PASSWORD", "DemoPassw0rd!")
            .args(["--stage", "0,1"]),
        0,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let key = stdout
        .lines()
        .find_map(|l| l.strip_prefix("TEST_AGENT_KEY="))
        .unwrap_or_else(|| panic!("no key printed:\n{}", output_text(&out)));
    // The log really is at trace level (the driver's statements are there), so the checks
    // below are not vacuous.
    assert!(
        stderr.contains("preparing query"),
        "no driver trace:\n{stderr:.2000}"
    );
    // The driver prints bound values as byte lists (`Some([36, 97, …])`), so each secret is
    // looked for as text and as bytes; the migrations' own `'$argon2id$%'` CHECKs are SQL
    // text, not values, hence the `v=` of a real hash.
    for secret in ["$argon2id$v=", "$argon2id$", key, SECRET, "DemoPassw0rd!"] {
        let bytes = byte_list(secret);
        assert!(
            !stderr.contains(&bytes),
            "`{secret}` in the trace log as bytes"
        );
        if secret != "$argon2id$" {
            assert!(!stderr.contains(secret), "`{secret}` in the trace log");
        }
    }
    assert!(!stderr.contains("with parameters"), "bound values logged");
    // The hashes really were written (the statements that bind them ran).
    let hashes = db.count("SELECT count(*) FROM users WHERE password_hash LIKE '$argon2id$%'");
    assert!(hashes > 0);
}

/// A migration that records the session's `statement_timeout` in a table.
fn timeout_probe() -> groundwork_testdb::Fixture {
    let f = groundwork_testdb::Fixture::empty();
    f.add(
        "2026-01-10-090000_probe",
        "CREATE TABLE probe AS SELECT current_setting('statement_timeout') AS v;\n",
        Some("DROP TABLE probe;\n"),
    );
    f
}

#[test]
fn statement_timeout_is_an_hour_in_staging_off_in_test_and_0_disables_it() {
    let f = timeout_probe();
    for (args, expected) in [
        (&["--env", "staging"][..], "1h"),
        (&["--env", "staging", "--statement-timeout", "0"], "0"),
        (&["--env", "test"], "0"),
        (&["--env", "test", "--statement-timeout", "90s"], "90s"),
    ] {
        let db = TestDb::empty();
        run_expect(
            migrate_cmd(&db)
                .args(args)
                .args(["--migrations-dir", &f.arg(), "up"]),
            0,
        );
        let rows = db.rows_as_text("SELECT v FROM probe");
        assert_eq!(rows, vec![format!("({expected})")], "{args:?}");
    }
}

#[test]
fn statement_timeout_stops_a_slow_migration_and_rolls_it_back() {
    let db = TestDb::empty();
    let f = groundwork_testdb::Fixture::empty();
    f.add(
        "2026-01-10-090000_slow",
        "CREATE TABLE slow_t (id int);\nSELECT pg_sleep(20);\n",
        Some("DROP TABLE slow_t;\n"),
    );
    let started = Instant::now();
    let out = run_expect(
        migrate_cmd(&db).args([
            "--env",
            "test",
            "--migrations-dir",
            &f.arg(),
            "--statement-timeout",
            "1s",
            "up",
        ]),
        8,
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{}",
        output_text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("statement timeout"),
        "{}",
        output_text(&out)
    );
    assert_eq!(
        db.count("SELECT count(*) FROM pg_class WHERE relname = 'slow_t'"),
        0
    );
}

#[test]
fn sslmode_require_is_explained_not_just_failed() {
    let db = TestDb::empty();
    let info = ConnInfo::parse(db.url()).expect("test URL parses");
    let url = format!(
        "postgres://postgres:{SECRET}@{}/{}?sslmode=require",
        info.host_port(),
        info.database()
    );
    for mut cmd in [migrate_cmd(&db), seed_cmd(&db)] {
        let out = run_expect(cmd.env("DATABASE_URL", &url).arg("verify"), 3);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("sslmode=require cannot be met"),
            "{}",
            output_text(&out)
        );
        assert_no_secret(&out, &[SECRET]);
    }
}
