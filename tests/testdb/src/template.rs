//! Template databases: built once per set of inputs (across test processes), cloned by
//! every test that wants the same starting point.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::process::workspace_root;
use crate::server::{admin, server_url, url_for_db};

/// Prefix of template databases; the suffix is a hash of what built them.
const TEMPLATE_PREFIX: &str = "gw_tpl_";
/// Advisory-lock key that serialises template builds across test processes
/// (ASCII "gwtpl").
const TEMPLATE_LOCK_KEY: i64 = 0x67_7774_706c;

/// Builds (once, across processes) a template database and returns its name.
pub(crate) fn template(key: &str, build: impl FnOnce(&str)) -> String {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let name = format!("{TEMPLATE_PREFIX}{key}_{}", inputs_hash());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if built.contains(&name) {
        return name;
    }
    let mut lock_conn = admin();
    lock_conn
        .execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK_KEY])
        .expect("template lock");
    let exists = lock_conn
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .expect("look up template")
        .is_some();
    if !exists {
        let building = format!("{name}_building");
        // Two round trips: a multi-statement string runs as one implicit
        // transaction, which DROP/CREATE DATABASE refuse.
        lock_conn
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"
            ))
            .expect("drop leftover template database");
        lock_conn
            .batch_execute(&format!("CREATE DATABASE \"{building}\""))
            .expect("create template database");
        build(&url_for_db(server_url(), &building));
        // Renaming only after a successful build means a crashed build never
        // leaves a half-made template behind under the real name.
        // The builder's sessions may take a moment to end after its
        // process exits; RENAME needs the database to be unused.
        let finish = format!(
            "ALTER DATABASE \"{building}\" RENAME TO \"{name}\"; \
             ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false"
        );
        let started = Instant::now();
        while let Err(e) = lock_conn.batch_execute(&finish) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "finish template database: {e}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = lock_conn.execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK_KEY]);
    built.push(name.clone());
    name
}

/// Hash of everything a template depends on: the migrations and the
/// binaries that build it.
fn inputs_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let mut h = Sha256::new();
        let mut files = Vec::new();
        collect_files(&workspace_root().join("migrations"), &mut files);
        files.sort();
        for f in files {
            h.update(f.to_string_lossy().as_bytes());
            h.update(fs::read(&f).unwrap_or_default());
        }
        for bin in ["migrate", "seed"] {
            let exe = std::env::current_exe().expect("current exe");
            let path = exe
                .parent()
                .and_then(Path::parent)
                .map(|p| p.join(bin))
                .unwrap_or_default();
            if let Ok(meta) = fs::metadata(&path) {
                h.update(format!("{bin}:{}:{:?}", meta.len(), meta.modified().ok()).as_bytes());
            }
        }
        hex::encode(&h.finalize()[..6])
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
