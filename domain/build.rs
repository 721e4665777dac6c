//! Generates `$OUT_DIR/embedded_migration_files.rs`: a static, version-sorted
//! list of the raw files of every migration in `../migrations`, for the
//! `migrate` engine (checksums, plans, diesel_cli-compatible bookkeeping).
//!
//! `embed_migrations!` cannot tell cargo about new files, so this script also
//! declares every folder and every existing file as a rerun trigger for both
//! (never a missing file: cargo would rerun the script on every build).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

struct Found {
    dir_name: String,
    version: String,
    name: String,
    up: PathBuf,
    down: Option<PathBuf>,
    metadata: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("domain/build.rs: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")
        .map_err(|e| format!("CARGO_MANIFEST_DIR is not set ({e}); build with cargo"))?;
    let out_dir = std::env::var("OUT_DIR")
        .map_err(|e| format!("OUT_DIR is not set ({e}); build with cargo"))?;
    let migrations_dir = Path::new(&manifest_dir).join("..").join("migrations");
    let migrations_dir = migrations_dir.canonicalize().map_err(|e| {
        format!(
            "cannot open the migrations folder {}: {e}",
            migrations_dir.display()
        )
    })?;
    println!("cargo:rerun-if-changed={}", migrations_dir.display());

    let mut found = Vec::new();
    let entries = fs::read_dir(&migrations_dir)
        .map_err(|e| format!("cannot list {}: {e}", migrations_dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", migrations_dir.display()))?;
        let path = entry.path();
        // Top-level files (a README, .keep) are not migrations.
        if !path.is_dir() {
            continue;
        }
        println!("cargo:rerun-if-changed={}", path.display());
        let dir_name = entry
            .file_name()
            .into_string()
            .map_err(|n| format!("migration folder name {n:?} is not UTF-8; rename it"))?;
        let (raw_version, name) = dir_name.split_once('_').ok_or_else(|| {
            format!("migration folder {dir_name:?} has no `_` between version and name; rename it like 2026-01-10-090000_create_tenancy")
        })?;
        let version: String = raw_version.chars().filter(|c| *c != '-').collect();
        if version.is_empty() || !version.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "migration folder {dir_name:?} does not start with a numeric version; rename it like 2026-01-10-090000_create_tenancy"
            ));
        }
        // Only files that exist become triggers: cargo treats a missing
        // trigger as changed on every build, which rebuilt domain and both
        // binaries each time. A file added later changes the folder's
        // contents, and the folder trigger above catches that.
        let file = |file_name: &str| {
            let p = path.join(file_name);
            let exists = p.is_file();
            if exists {
                println!("cargo:rerun-if-changed={}", p.display());
            }
            exists.then_some(p)
        };
        let up = file("up.sql")
            .ok_or_else(|| format!("migration folder {dir_name:?} has no up.sql; add one"))?;
        found.push(Found {
            version,
            name: name.to_owned(),
            up,
            down: file("down.sql"),
            metadata: file("metadata.toml"),
            dir_name,
        });
    }
    found.sort_by(|a, b| {
        a.version
            .cmp(&b.version)
            .then_with(|| a.dir_name.cmp(&b.dir_name))
    });
    if let Some(pair) = found.windows(2).find(|w| w[0].version == w[1].version) {
        return Err(format!(
            "migration folders {:?} and {:?} have the same version; rename one",
            pair[0].dir_name, pair[1].dir_name
        ));
    }

    let include = |p: &Option<PathBuf>| match p {
        Some(p) => format!("Some(include_str!({:?}))", p.display().to_string()),
        None => "None".to_owned(),
    };
    let mut code = String::from("static EMBEDDED_MIGRATION_FILES: &[EmbeddedMigrationFile] = &[\n");
    for m in &found {
        // writing to a String cannot fail
        let _ = writeln!(
            code,
            "    EmbeddedMigrationFile {{ dir_name: {:?}, version: {:?}, name: {:?}, up_sql: include_str!({:?}), down_sql: {}, metadata_toml: {} }},",
            m.dir_name,
            m.version,
            m.name,
            m.up.display().to_string(),
            include(&m.down),
            include(&m.metadata),
        );
    }
    code.push_str("];\n");
    let target = Path::new(&out_dir).join("embedded_migration_files.rs");
    fs::write(&target, code).map_err(|e| format!("cannot write {}: {e}", target.display()))
}
