//! Helpers shared by the seed end-to-end modules.

use groundwork_e2e::{TestDb, output_text, seed_cmd};
use std::process::{Command, Output};

/// Every table the seed stages write, in stage order.
pub const SEEDED_TABLES: &[&str] = &[
    "sixr_strategies",
    "technology_catalog",
    "client_accounts",
    "engagements",
    "users",
    "user_account_roles",
    "tags",
    "api_keys",
    "discovery_flows",
    "data_imports",
    "raw_import_records",
    "import_field_mappings",
    "assets",
    "asset_tags",
    "asset_dependencies",
    "assessments",
    "migration_waves",
    "wave_assets",
];

/// Every seeded row as JSON text, table by table, sorted; the API key's random hash and
/// prefix (and the updated_at a rotation bumps) left out.
pub fn dataset(db: &TestDb) -> Vec<String> {
    let mut client = db.client();
    let mut out = Vec::new();
    for t in SEEDED_TABLES {
        let sql = format!(
            "SELECT '{t}: ' || (to_jsonb(x) - ARRAY['key_hash', 'key_prefix']::text[])::text FROM public.{t} x ORDER BY 1"
        );
        for row in client
            .query(&sql, &[])
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
        {
            out.push(row.get::<_, String>(0));
        }
    }
    out
}

/// Data of the public schema only (the seed ledger in `groundwork` records every run).
pub fn public_data(db: &TestDb) -> String {
    groundwork_e2e::pg_dump(db.url(), &["--data-only", "--schema=public"])
}

/// `seed ARGS` on `db`, asserting the exit code.
pub fn seed(db: &TestDb, args: &[&str], code: i32) -> Output {
    let mut cmd: Command = seed_cmd(db);
    cmd.args(args);
    let out = cmd.output().expect("spawn seed");
    assert_eq!(
        out.status.code(),
        Some(code),
        "seed {args:?}\n{}",
        output_text(&out)
    );
    out
}

/// Stdout and stderr together, for message assertions.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A fresh database seeded with `--stage all` (migrations applied by seed itself).
pub fn seeded() -> TestDb {
    let db = TestDb::empty();
    seed(&db, &["--stage", "all", "--quiet"], 0);
    db
}
