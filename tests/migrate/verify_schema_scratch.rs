//! The scratch database behind `verify --schema`: created on the target's server and dropped
//! after the run (also when building it fails), `--scratch-url` for roles without CREATEDB
//! (refused unless empty, emptied again after use), and the message for such a role.

use std::process::Output;

use groundwork_testdb::{
    Fixture, TestDb, migrate_cmd, normalise, output_text, run_expect, server_url, stderr,
    url_for_db,
};

/// The scratch database a run used, from its debug log.
fn scratch_name(out: &Output) -> String {
    let err = stderr(out);
    let at = err
        .find("groundwork_scratch_")
        .unwrap_or_else(|| panic!("no scratch database in the log:\n{err}"));
    err[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Whether the server has a database `name` (asked through `via`, any database of it).
fn database_exists(via: &TestDb, name: &str) -> bool {
    via.count(&format!(
        "SELECT count(*) FROM pg_database WHERE datname = '{name}'"
    )) == 1
}

#[test]
fn the_scratch_database_is_dropped_after_the_run() {
    let db = TestDb::migrated();
    let out = run_expect(
        migrate_cmd(&db)
            .env("RUST_LOG", "groundwork_migrate=debug")
            .args(["verify", "--schema"]),
        0,
    );
    let name = scratch_name(&out);
    assert!(name.len() > "groundwork_scratch_".len(), "{name}");
    assert!(!database_exists(&db, &name), "{name} was left behind");
}

#[test]
fn the_scratch_database_is_dropped_when_building_the_expected_schema_fails() {
    let f = Fixture::standard();
    let db = TestDb::empty();
    run_expect(
        migrate_cmd(&db).args(["--migrations-dir", &f.arg(), "--env", "test", "up"]),
        0,
    );
    // An applied migration edited afterwards so that it no longer runs.
    f.add(
        "2026-01-11-090000_create_engagements",
        "SELECT 1/0;\n",
        None,
    );
    let out = run_expect(
        migrate_cmd(&db)
            .env("RUST_LOG", "groundwork_migrate=debug")
            .args(["--migrations-dir", &f.arg(), "verify", "--schema"]),
        1,
    );
    let err = stderr(&out);
    assert!(
        err.contains("migration 20260111090000 create_engagements failed there: division by zero")
            && err.contains("`migrate verify` compares checksums"),
        "{err}"
    );
    let name = scratch_name(&out);
    assert!(!database_exists(&db, &name), "{name} was left behind");
}

#[test]
fn a_leftover_of_a_killed_run_is_swept_by_the_next_run() {
    let db = TestDb::migrated();
    // Named as a run an hour ago would have named it; nobody is connected to it.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3600;
    let leftover = format!("groundwork_scratch_{secs}_999999_1");
    db.client()
        .batch_execute(&format!("CREATE DATABASE {leftover}"))
        .unwrap();
    run_expect(migrate_cmd(&db).args(["verify", "--schema"]), 0);
    assert!(!database_exists(&db, &leftover), "{leftover} was not swept");
}

/// A login role without CREATEDB that may read the test database, dropped at the end
/// (before the database: its grants live there).
struct Role {
    name: String,
    granted_in: String,
}

impl Role {
    fn without_createdb(db: &TestDb) -> Role {
        let name = format!("gw_drift_nocreatedb_{}", std::process::id());
        let mut c = db.client();
        c.batch_execute(&format!(
            "DROP ROLE IF EXISTS {name}; CREATE ROLE {name} LOGIN NOCREATEDB;
             GRANT USAGE ON SCHEMA groundwork TO {name};
             GRANT SELECT ON ALL TABLES IN SCHEMA groundwork, public TO {name};"
        ))
        .unwrap();
        Role {
            name,
            granted_in: db.url().to_string(),
        }
    }

    fn url(&self, db: &str) -> String {
        url_for_db(server_url(), db).replacen("postgres@", &format!("{}@", self.name), 1)
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.granted_in, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP OWNED BY {0}; DROP ROLE IF EXISTS {0}",
                self.name
            ));
        }
    }
}

#[test]
fn a_role_without_createdb_is_told_about_scratch_url_and_scratch_url_works() {
    let db = TestDb::migrated();
    let role = Role::without_createdb(&db);
    let as_role = |cmd: &mut std::process::Command| {
        cmd.env("DATABASE_URL", role.url(db.name()));
    };

    let mut cmd = migrate_cmd(&db);
    as_role(&mut cmd);
    let out = run_expect(cmd.args(["verify", "--schema"]), 4);
    let err = stderr(&out);
    assert!(
        err.contains("--scratch-url") && err.contains("CREATEDB"),
        "{err}"
    );
    insta::assert_snapshot!("no_createdb", normalise(&err).replace(&role.name, "<role>"));

    // An empty database the role owns serves as the scratch database, and is empty again after.
    let scratch = TestDb::empty();
    scratch
        .client()
        .batch_execute(&format!(
            "ALTER DATABASE {} OWNER TO {}",
            scratch.name(),
            role.name
        ))
        .unwrap();
    let mut cmd = migrate_cmd(&db);
    as_role(&mut cmd);
    let out = run_expect(
        cmd.args([
            "verify",
            "--schema",
            "--scratch-url",
            &role.url(scratch.name()),
        ]),
        0,
    );
    assert!(stderr(&out).is_empty(), "{}", output_text(&out));
    assert_eq!(
        scratch.count(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'"
        ),
        0,
        "the scratch database is emptied after use"
    );
    assert_eq!(
        scratch.count("SELECT count(*) FROM pg_namespace WHERE nspname = 'groundwork'"),
        0
    );

    // So a second run can use it again.
    let mut cmd = migrate_cmd(&db);
    as_role(&mut cmd);
    run_expect(
        cmd.args([
            "verify",
            "--schema",
            "--scratch-url",
            &role.url(scratch.name()),
        ]),
        0,
    );
}

#[test]
fn a_scratch_url_that_is_not_empty_or_is_the_target_is_refused() {
    let db = TestDb::migrated();
    let busy = TestDb::migrated();
    let before = busy.full_dump();
    let out = run_expect(
        migrate_cmd(&db).args(["verify", "--schema", "--scratch-url", busy.url()]),
        2,
    );
    let err = stderr(&out);
    assert!(err.contains("is not empty: it holds"), "{err}");
    insta::assert_snapshot!("scratch_not_empty", normalise(&err));
    assert_eq!(
        before,
        busy.full_dump(),
        "a refused scratch database is left alone"
    );

    let out = run_expect(
        migrate_cmd(&db).args(["verify", "--schema", "--scratch-url", db.url()]),
        2,
    );
    assert!(
        stderr(&out).contains("is the database being checked itself"),
        "{}",
        output_text(&out)
    );
}

#[test]
fn the_scratch_url_password_is_never_printed() {
    let db = TestDb::migrated();
    let busy = TestDb::migrated();
    let secret = "s3cr3t-Pa55";
    let url = url_for_db(server_url(), busy.name()).replacen(
        "postgres@",
        &format!("postgres:{secret}@"),
        1,
    );
    let out = run_expect(
        migrate_cmd(&db).args(["verify", "--schema", "--scratch-url", &url]),
        2,
    );
    let text = output_text(&out);
    assert!(!text.contains(secret), "{text}");
    assert!(text.contains("postgres:***@"), "{text}");
}
