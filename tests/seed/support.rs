//! Helpers shared by the seed end-to-end modules.

use groundwork_testdb::{TestDb, output_text, seed_cmd};
use std::process::{Command, Output};

/// Ids of every stage, in run order, from the seed library's stage registry.
pub fn stage_ids() -> Vec<&'static str> {
    groundwork_seed::stage_tables().map(|(id, _)| id).collect()
}

/// Every table the seed stages write, in stage order, from the stage registry.
pub fn seeded_tables() -> Vec<&'static str> {
    let mut tables: Vec<&'static str> = Vec::new();
    for t in groundwork_seed::stage_tables().flat_map(|(_, tables)| tables) {
        if !tables.contains(&t) {
            tables.push(t);
        }
    }
    tables
}

/// Every seeded row as JSON text, table by table, sorted; the API key's random hash and
/// prefix (and the updated_at a rotation bumps) left out.
pub fn dataset(db: &TestDb) -> Vec<String> {
    let mut client = db.client();
    let mut out = Vec::new();
    for t in seeded_tables() {
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
    groundwork_testdb::pg_dump(db.url(), &["--data-only", "--schema=public"])
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
