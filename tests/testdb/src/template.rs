//! Template databases: built once per set of inputs, across every test process that runs at
//! the same time, then cloned by each test that wants the same starting point.
//!
//! A template is built under a temporary name and renamed only when the build succeeded, all
//! while holding a server-side advisory lock derived from its name: parallel test processes
//! (cargo runs one per test binary, nextest one per test) wait for the one builder instead of
//! building it again, and a builder that crashed leaves nothing under the real name.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::process::workspace_root;
use crate::server::{admin, server_url, url_for_db};

/// Prefix of template databases; the suffix is a hash of what built them.
pub(crate) const TEMPLATE_PREFIX: &str = "gw_tpl_";
/// Suffix of a template still being built (dropped by the next builder if its builder died).
const BUILDING_SUFFIX: &str = "_building";
/// High half of the advisory-lock keys of template builds (ASCII "gwtp"); the low half comes
/// from the template's name, so builds of different templates do not wait for each other.
const LOCK_CLASS: i32 = 0x6777_7470;

/// What to clone when building a template, and how to fill it.
pub(crate) struct Recipe<'a> {
    /// Full name of the template database.
    pub name: String,
    /// Template to start from (`None`: an empty database).
    pub base: Option<&'a str>,
}

/// Builds the template of `recipe` unless it exists (waiting for a concurrent builder in
/// another process) and returns its name. `build` fills the database at the URL it gets.
pub(crate) fn template(recipe: Recipe<'_>, build: impl FnOnce(&str)) -> String {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let name = recipe.name;
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if built.contains(&name) {
        return name;
    }
    let mut lock_conn = admin();
    let lock_key = lock_key(&name);
    lock_conn
        .execute("SELECT pg_advisory_lock($1, $2)", &[&LOCK_CLASS, &lock_key])
        .expect("template lock");
    if !database_exists(&mut lock_conn, &name) {
        let building = format!("{name}{BUILDING_SUFFIX}");
        // Separate round trips: a multi-statement string runs as one implicit transaction,
        // which DROP/CREATE DATABASE refuse.
        lock_conn
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"
            ))
            .expect("drop the leftover of a crashed template build");
        let create = match recipe.base {
            Some(base) => format!("CREATE DATABASE \"{building}\" TEMPLATE \"{base}\""),
            None => format!("CREATE DATABASE \"{building}\""),
        };
        lock_conn
            .batch_execute(&create)
            .unwrap_or_else(|e| panic!("{create}: {e}"));
        build(&url_for_db(server_url(), &building));
        finish(&mut lock_conn, &building, &name);
    }
    let _ = lock_conn.execute(
        "SELECT pg_advisory_unlock($1, $2)",
        &[&LOCK_CLASS, &lock_key],
    );
    built.push(name.clone());
    name
}

/// Renames the built database to its real name and closes it to connections, so clones never
/// wait for a session on it.
fn finish(conn: &mut postgres::Client, building: &str, name: &str) {
    // The builder's sessions may take a moment to end on the server after it closed them,
    // and RENAME needs the database unused.
    let started = Instant::now();
    loop {
        let _ = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&building],
        );
        match conn.batch_execute(&format!(
            "ALTER DATABASE \"{building}\" RENAME TO \"{name}\""
        )) {
            Ok(()) => break,
            Err(e) => {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "rename template database {building} to {name}: {e}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    conn.batch_execute(&format!(
        "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false IS_TEMPLATE true"
    ))
    .unwrap_or_else(|e| panic!("close template database {name}: {e}"));
}

pub(crate) fn database_exists(conn: &mut postgres::Client, name: &str) -> bool {
    conn.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .expect("look up a database")
        .is_some()
}

fn lock_key(name: &str) -> i32 {
    let h = Sha256::digest(name.as_bytes());
    i32::from_be_bytes([h[0], h[1], h[2], h[3]])
}

/// Twelve hex digits of a hash of `parts`, for template names.
pub(crate) fn short_hash<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(&h.finalize()[..6])
}

/// Hash of every file under the given workspace folders (sorted by path), or of nothing when
/// a folder is missing. It puts the code that writes a template (the migration engine, the
/// seed stages and their data) into the template's key, so editing a stage gives a new
/// template instead of a stale one.
pub(crate) fn sources_hash(folders: &[&str]) -> String {
    let mut files = Vec::new();
    for f in folders {
        collect_files(&workspace_root().join(f), &mut files);
    }
    files.sort();
    let mut parts = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(workspace_root())
            .unwrap_or(&f)
            .to_string_lossy()
            .into_owned();
        parts.push(rel.into_bytes());
        parts.push(fs::read(&f).unwrap_or_default());
    }
    short_hash(parts.iter().map(Vec::as_slice))
}

/// Hash of everything a custom template ([`crate::TestDb::from_template`]) may depend on:
/// the migrations and the binaries its build closure may run.
pub(crate) fn inputs_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let mut parts = vec![sources_hash(&["migrations"]).into_bytes()];
        for bin in ["migrate", "seed"] {
            let exe = std::env::current_exe().expect("current exe");
            let path = exe
                .parent()
                .and_then(Path::parent)
                .map(|p| p.join(bin))
                .unwrap_or_default();
            if let Ok(meta) = fs::metadata(&path) {
                parts.push(format!("{bin}:{}:{:?}", meta.len(), meta.modified().ok()).into_bytes());
            }
        }
        short_hash(parts.iter().map(Vec::as_slice))
    })
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(&p, out);
        } else {
            out.push(p);
        }
    }
}
