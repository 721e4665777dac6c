//! The two standard templates: migrated (the embedded migrations applied by the migration
//! engine) and seeded (the demo dataset at a scale, written by the seed library on a clone of
//! the migrated one). Both engines run in-process, so an application's tests need neither
//! binary; each template's name carries a key of everything that decides its content.

use std::ffi::OsString;
use std::process::ExitCode;

use groundwork_migrate::MigrationSource;

use crate::template::{Recipe, TEMPLATE_PREFIX, short_hash, sources_hash, template};

/// The `--rng-seed` and `--as-of` of `seed`'s defaults: a seeded template holds the dataset
/// `seed --stage all --scale N` writes.
const RNG_SEED: &str = "42";
const AS_OF: &str = "2026-01-15";
/// Variables the seed library reads that change the rows it writes (flags cover the rest).
const SEED_CONTENT_VARS: [&str; 2] = ["SEED_DATA_DIR", groundwork_seed::DEMO_PASSWORD_VAR];

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

/// Name of the template seeded at `scale`, built on first use from the migrated one.
pub(crate) fn seeded_template(scale: u32) -> String {
    let base = migrated_template();
    let scale_s = scale.to_string();
    let vars: Vec<Vec<u8>> = SEED_CONTENT_VARS
        .iter()
        .map(|v| std::env::var(v).unwrap_or_default().into_bytes())
        .collect();
    let mut parts: Vec<&[u8]> = vec![
        base.as_bytes(),
        scale_s.as_bytes(),
        RNG_SEED.as_bytes(),
        AS_OF.as_bytes(),
    ];
    let seed_sources = sources_hash(&["seed-bin/src", "seed-bin/data"]);
    parts.push(seed_sources.as_bytes());
    parts.extend(vars.iter().map(Vec::as_slice));
    let name = format!("{TEMPLATE_PREFIX}seeded_s{scale}_{}", short_hash(parts));
    template(
        Recipe {
            name,
            base: Some(&base),
        },
        |url| {
            // Stage 03 writes sample import files; they belong to no test.
            let artifacts = tempfile::tempdir().expect("temp dir for seed artifacts");
            let artifacts = artifacts.path().to_string_lossy().into_owned();
            run_tool(
                "seed",
                groundwork_seed::run::<Vec<OsString>, OsString>,
                &[
                    "seed",
                    "--env",
                    "test",
                    "--database-url",
                    url,
                    "--stage",
                    "all",
                    "--scale",
                    &scale_s,
                    "--rng-seed",
                    RNG_SEED,
                    "--as-of",
                    AS_OF,
                    "--artifacts-dir",
                    &artifacts,
                    "--quiet",
                ],
            );
        },
    )
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
