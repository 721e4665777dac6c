//! The two standard templates: migrated (the embedded migrations applied by the migration
//! engine, as `migrate --env test up` does) and seeded (seed's snapshot of the demo dataset at
//! a scale). Both engines run in-process, so an application's tests need neither binary; each
//! template's name carries a key of everything that decides its content.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Mutex;

use groundwork_migrate::MigrationSource;
use groundwork_seed::snapshot;

use crate::server::server_url;

use crate::template::{Recipe, TEMPLATE_PREFIX, short_hash, sources_hash, template};

/// Name of the migrated template, built on first use.
pub(crate) fn migrated_template() -> String {
    let name = format!("{TEMPLATE_PREFIX}migrated_{}", migrated_key());
    template(Recipe { name, base: None }, |url| {
        run_tool(
            "migrate",
            groundwork_migrate::run::<Vec<OsString>, OsString>,
            &["migrate", "--env", "test", "--database-url", url, "up"],
        );
    })
}

/// Seeded templates this process has looked up, by scale.
static SEEDED: Mutex<BTreeMap<u32, String>> = Mutex::new(BTreeMap::new());

/// Forgets the seeded template of `scale`, so the next call looks it up (and builds it) again.
pub(crate) fn forget_seeded(scale: u32) {
    SEEDED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&scale);
}

/// Name of seed's snapshot of the demo dataset at `scale` (what `seed --stage all --scale
/// <scale>` writes with the default `--rng-seed` and `--as-of`), built on first use by the
/// seed library, which keys it by every input of its rows and builds it once across
/// processes. `seed snapshot list` shows these templates too.
pub(crate) fn seeded_template(scale: u32) -> String {
    let mut built = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(name) = built.get(&scale) {
        return name.clone();
    }
    // seed's stages spread over worker threads, as in the `seed` binary.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("start an async runtime for the seed library");
    let inputs = snapshot::Inputs::seeded(scale);
    let name = runtime
        .block_on(snapshot::ensure(server_url(), &inputs))
        .unwrap_or_else(|e| panic!("build the seeded snapshot at scale {scale}: {e}"));
    built.insert(scale, name.clone());
    name
}

/// Key of the migrated template: every embedded migration's version and checksum, and the
/// engine's own code (it writes the bookkeeping tables).
fn migrated_key() -> String {
    let migrations = MigrationSource::Embedded
        .load_migrations()
        .unwrap_or_else(|e| panic!("load the embedded migrations: {e}"));
    let engine = sources_hash(&["migrate-bin/src"]);
    let mut parts: Vec<&[u8]> = vec![engine.as_bytes()];
    for m in &migrations {
        parts.push(m.version.as_bytes());
        parts.push(m.checksum.as_bytes());
    }
    short_hash(parts)
}

/// Runs a binary's library entry point on its own thread (it starts its own async runtime,
/// which must not happen inside a caller's `#[tokio::test]` runtime) and panics unless it
/// exits 0; the tool has printed its error to stderr.
fn run_tool(tool: &str, run: fn(Vec<OsString>) -> ExitCode, args: &[&str]) {
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    let code = std::thread::scope(|s| {
        s.spawn(|| run(args))
            .join()
            .unwrap_or_else(|_| panic!("{tool} panicked while building a template"))
    });
    assert!(
        code == ExitCode::SUCCESS,
        "{tool} failed while building a template database ({code:?}); its error is above"
    );
}
