//! The PostgreSQL server the tests use: `TEST_DATABASE_URL`, the local default, or a
//! throwaway cluster started in the temp folder when nothing answers.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::process::output_text;

/// Port of the throwaway cluster started when no server answers.
const FALLBACK_PORT: u16 = 55_432;

/// Admin URL of the test server (a maintenance database), starting a
/// throwaway cluster when needed. Computed once per process.
pub fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let explicit = std::env::var("TEST_DATABASE_URL").ok();
        let url = explicit
            .clone()
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        if connect(&url).is_ok() {
            return url;
        }
        if let Some(explicit) = explicit {
            panic!(
                "TEST_DATABASE_URL={} does not answer; start that server or unset the \
                 variable to use a local one",
                crate::redact(&explicit)
            );
        }
        start_throwaway_cluster()
    })
}

/// `url` with its database name replaced.
pub fn url_for_db(base: &str, db: &str) -> String {
    let (head, tail) = match base.find('?') {
        Some(i) => base.split_at(i),
        None => (base, ""),
    };
    let slash = head.rfind('/').expect("a URL with a path");
    format!("{}/{db}{tail}", &head[..slash])
}

pub(crate) fn connect(url: &str) -> Result<postgres::Client, postgres::Error> {
    let mut config: postgres::Config = url.parse()?;
    config.connect_timeout(Duration::from_secs(3));
    config.connect(postgres::NoTls)
}

pub(crate) fn admin() -> postgres::Client {
    connect(server_url()).expect("connect to the test server")
}

/// Starts (or reuses) a throwaway cluster under the temp folder and
/// returns its admin URL. Runs `initdb`/`pg_ctl` as `postgres` when the
/// tests run as root, because PostgreSQL refuses to run as root.
fn start_throwaway_cluster() -> String {
    let url = format!("postgres://postgres@127.0.0.1:{FALLBACK_PORT}/postgres");
    if connect(&url).is_ok() {
        return url;
    }
    let bin_dir = find_pg_bin_dir().unwrap_or_else(|| {
        panic!(
            "no PostgreSQL answers at 127.0.0.1:5432 and no PostgreSQL server binaries \
             were found under /usr/lib/postgresql; start a server or set TEST_DATABASE_URL"
        )
    });
    let base = std::env::temp_dir().join("groundwork-test-cluster");
    fs::create_dir_all(&base).expect("create cluster folder");
    // One process initialises; others wait for the lock file to go away.
    let lock = base.join("init.lock");
    let started = Instant::now();
    loop {
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(mut f) => {
                let _ = writeln!(f, "{}", std::process::id());
                break;
            }
            Err(_) if started.elapsed() < Duration::from_secs(120) => {
                std::thread::sleep(Duration::from_millis(200));
                if connect(&url).is_ok() {
                    return url;
                }
            }
            Err(_) => {
                let _ = fs::remove_file(&lock);
            }
        }
    }
    let data = base.join("data");
    let as_root = std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0"))
            .unwrap_or(false);
    let run = |program: &Path, args: &[&str]| {
        let mut cmd = if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        let out = cmd.args(args).output().expect("run PostgreSQL tool");
        assert!(
            out.status.success(),
            "{} failed:\n{}",
            program.display(),
            output_text(&out)
        );
    };
    if as_root {
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&base)
            .status();
    }
    let data_s = data.to_string_lossy().into_owned();
    if !data.join("PG_VERSION").exists() {
        run(
            &bin_dir.join("initdb"),
            &["-D", &data_s, "-U", "postgres", "--auth=trust", "--no-sync"],
        );
    }
    let opts = format!(
        "-p {FALLBACK_PORT} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
        base.to_string_lossy()
    );
    let log = base.join("server.log").to_string_lossy().into_owned();
    run(
        &bin_dir.join("pg_ctl"),
        &["-D", &data_s, "-o", &opts, "-l", &log, "-w", "start"],
    );
    let _ = fs::remove_file(&lock);
    url
}

fn find_pg_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_for_db_replaces_only_the_database() {
        assert_eq!(
            url_for_db("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
    }
}
