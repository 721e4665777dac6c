//! Helpers shared by the environment and recovery modules.

use groundwork_testdb::{Fixture, TestDb, migrate_cmd, output_text, run_expect, stderr};

/// `migrate ARGS` with the migrations folder `f`, asserting the exit code and that nothing
/// panicked; stdout and stderr together.
pub fn migrate(db: &TestDb, f: &Fixture, args: &[&str], code: i32) -> String {
    let out = run_expect(
        migrate_cmd(db)
            .args(["--migrations-dir", &f.arg()])
            .args(args),
        code,
    );
    assert!(!stderr(&out).contains("panicked"), "{}", output_text(&out));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
